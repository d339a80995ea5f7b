#pragma once
// One function per command, called by the CLI (cli.cc) with parsed options. Each returns an
// exit code (cli.h) and writes machine output to stdout, messages to stderr.
#include <string>
#include <vector>

#include "comfyrun/core/workflow.h"

namespace comfyrun {

struct ValidateOptions {
  std::vector<std::string> files;
  std::vector<std::string> params;
  bool json = false;
};
int ValidateCommand(const ValidateOptions& options);

struct PlanOptions {
  std::string file;
  std::vector<std::string> params;
  bool json = false;
  bool dot = false;
  bool offline = false;
};
int PlanCommand(const PlanOptions& options);

struct NodesOptions {
  std::string type;  ///< "" = all
  bool json = false;
};
int NodesCommand(const NodesOptions& options);

/// Options shared by run, resume and abtest.
struct ExecutionOptions {
  std::string out_dir = "generated";
  int jobs = 0;            ///< 0 = default (16, or the journal's on resume)
  std::string durability;  ///< "" = default (batch, or the journal's on resume)
  bool fail_fast = false;
  bool cancel_remote = false;     ///< --cancel-remote: Ctrl-C cancels remote jobs (docs/guarantees.md)
  bool resubmit_expired = false;  ///< --resubmit-expired: pay again for fal/replicate results that expired
  std::string executor;           ///< --executor: "" (local), "local" or "slurm" (docs/slurm.md)
  bool offline = false;
  double max_cost = -1;
  bool quiet = false;
  bool json = false;                  ///< summary as JSON on stdout
  std::vector<std::string> comfyui;   ///< --comfyui URL (repeatable)
  bool cache = false;                 ///< --cache: every node may reuse cached outputs (docs/cache.md)
  bool no_cache = false;              ///< --no-cache: no cache lookup or store in this run
  std::string prom;                   ///< --prom FILE: the run's metrics as Prometheus text
  std::string pushgateway;            ///< --pushgateway URL (or COMFYRUN_PUSHGATEWAY_URL)
  std::string push_job = "comfyrun";  ///< --push-job NAME: the Pushgateway job label
};

/// Fills exec->pushgateway from COMFYRUN_PUSHGATEWAY_URL when not given and checks it, before
/// anything runs (cmd_export.cc). False with *err (never holding a password): exit 2.
bool ResolveMetricsExport(ExecutionOptions* exec, std::string* err);

struct RunOptionsCli {
  std::string file;
  std::vector<std::string> params;
  std::string journal;  ///< "" = <out>/journals/<runId>.jsonl
  ExecutionOptions exec;
};
int RunCommand(const RunOptionsCli& options);

struct ResumeOptions {
  std::string journal;
  ExecutionOptions exec;
  bool force = false;  ///< --force: resume a header whose hash does not match
  bool offline_given = false, fail_fast_given = false, out_given = false;
};
int ResumeCommand(const ResumeOptions& options);

/// `abtest TEST.json` runs an A/B test; `abtest --resume JOURNAL` continues one (the same as
/// `resume JOURNAL`, which recognises an A/B test's journal). abtest/runner.h has the format.
struct AbTestOptions {
  std::string file;    ///< the test definition; "" with --resume
  std::string resume;  ///< --resume JOURNAL
  int repeats = 0;     ///< --repeats N: runs per variant (0 = as the file says)
  ExecutionOptions exec;
  bool offline_given = false, fail_fast_given = false, out_given = false;  ///< for --resume
};
int AbTestCommand(const AbTestOptions& options);

struct StatusOptions {
  std::string journal;
  bool json = false;
};
int StatusCommand(const StatusOptions& options);

/// `trace JOURNAL [-o FILE]`: the run as a Chrome trace (export/chrome_trace.h).
struct TraceOptions {
  std::string journal;
  std::string output;  ///< "" or "-" = stdout
};
int TraceCommand(const TraceOptions& options);

/// `gc --older-than AGE`: removes old runs under --out (maintenance/gc.h).
struct GcCommandOptions {
  std::string out_dir = "generated";
  std::string older_than;  ///< a duration: "7d", "12h"
  bool dry_run = false;
  bool force = false;
  bool json = false;
};
int GcCommand(const GcCommandOptions& options);

/// `completion bash|zsh`: the shell completion script for this binary's command line.
struct CliSpec;  // export/completion.h
struct CompletionOptions {
  std::string shell;
};
int CompletionCommand(const CompletionOptions& options, const CliSpec& spec);

/// `cache ls` and `cache prune --older-than AGE`: the output cache under --out (cmd_cache.cc).
struct CacheCommandOptions {
  std::string out_dir = "generated";
  bool json = false;       ///< ls: entries as JSON; prune: the report as JSON
  std::string older_than;  ///< prune: a duration since last use ("30d", "12h", "0")
  bool dry_run = false;    ///< prune: only say what would go
};
int CacheLsCommand(const CacheCommandOptions& options);
int CachePruneCommand(const CacheCommandOptions& options);

/// Prints diagnostics to stderr, errors last so they stay visible.
void PrintDiagnostics(const std::vector<Diagnostic>& diags);

/// Parses --param arguments; adds errors to diags.
std::vector<ParamOverride> ParseParamArguments(const std::vector<std::string>& args, std::vector<Diagnostic>* diags);

}  // namespace comfyrun
