// batch: one workflow over a table of rows, as one run (batch/expand.h) of RunSession; and
// the end of a batch's run or resume: the results files and the rows summary.
#include <fmt/format.h>

#include <algorithm>

#include "comfyrun/batch/expand.h"
#include "comfyrun/batch/results.h"
#include "comfyrun/batch/rows.h"
#include "comfyrun/cli/cli.h"
#include "comfyrun/cli/commands.h"
#include "comfyrun/core/plan_report.h"
#include "comfyrun/core/util.h"
#include "comfyrun/core/validate.h"
#include "comfyrun/run/session.h"
#include "command_registry.h"
#include "run_support.h"

namespace comfyrun {

// cli_execute.cc: the options every executing command takes, and the --pushgateway check.
void AddExecutionOptions(CLI::App* cmd, ExecutionOptions& exec);
bool ExportOk(const char* command, ExecutionOptions* exec);

namespace {

struct BatchOptionsCli {
  std::string file, rows;
  std::vector<std::string> sweeps, params;
  std::string slice, key, journal;
  int limit = 0;
  bool plan = false;
  ExecutionOptions exec;
};

/// The declared params' names, in the workflow's order (the results' columns).
std::vector<std::string> ParamNames(const Json& header) {
  std::vector<std::string> names;
  const Json& workflow = header.contains("workflow") ? header["workflow"] : Json();
  if (workflow.is_object() && workflow.contains("params") && workflow["params"].is_object())
    for (auto it = workflow["params"].begin(); it != workflow["params"].end(); ++it) names.push_back(it.key());
  return names;
}

/// The plan of a batch: rows, nodes, cost in total and per row.
int PrintBatchPlan(const Workflow& wf, const std::vector<BatchRow>& rows, bool offline) {
  PlanReport plan = BuildPlanReport(wf, offline);
  const size_t n = wf.nodes.size() / rows.size();
  std::string text = fmt::format("batch {}: {} rows x {} nodes = {} nodes; estimated cost ${:.2f}\n", wf.workflow_id,
                                 rows.size(), n, wf.nodes.size(), plan.total_cost);
  size_t shown = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    double cost = 0;
    for (size_t k = 0; k < n; ++k) cost += plan.estimates[r * n + k].cost;
    if (++shown > 100) {
      text += fmt::format("  ... and {} more rows\n", rows.size() - 100);
      break;
    }
    text += fmt::format("  row {} ({}): ${:.2f}  {}\n", rows[r].number, rows[r].key, cost,
                        Abbreviate(rows[r].params.dump(-1, ' ', false, Json::error_handler_t::replace), 100));
  }
  text += fmt::format("nodes of each row: ");
  for (size_t k = 0; k < n; ++k)
    text += (k ? ", " : "") + wf.nodes[k].id.substr(rows[0].key.size() + 1) + " (" + wf.nodes[k].type + ")";
  text += "\nnothing was run; without --plan the batch runs\n";
  WriteConsole(stdout, text);
  return kExitOk;
}

int BatchCommand(const BatchOptionsCli& cli) {
  std::vector<Diagnostic> diags;
  auto fail = [&](const std::string& message) {
    PrintDiagnostics(diags);
    if (!message.empty()) fmt::print(stderr, "comfyrun batch: {}\n", message);
    fmt::print(stderr, "nothing was run\n");
    return static_cast<int>(kExitInvalid);
  };
  if (cli.rows.empty() && cli.sweeps.empty()) return fail("give ROWS (a CSV or JSON lines file), --sweep, or both");
  std::vector<ParamOverride> overrides = ParseParamArguments(cli.params, &diags);
  Json doc;
  if (CountErrors(diags) > 0 || !LoadJsonFile(cli.file, &doc, &diags)) return fail("");
  const Json declared =
      doc.is_object() && doc.contains("params") && doc["params"].is_object() ? doc["params"] : Json::object();
  RowSelection selection;
  selection.key_column = cli.key;
  selection.limit = cli.limit;
  std::string err;
  for (const auto& arg : cli.sweeps) {
    SweepAxis axis;
    if (!ParseSweep(arg, declared, &axis, &err)) return fail(err);
    selection.sweeps.push_back(std::move(axis));
  }
  if (!cli.slice.empty() && !ParseRowRange(cli.slice, &selection.first, &selection.last, &err)) return fail(err);
  Json given = Json::object();
  for (const auto& o : overrides) given[o.name] = o.value;
  RowTable table;
  if (!cli.rows.empty() && !ReadRowsFile(cli.rows, &table, &diags)) return fail("");
  std::vector<BatchRow> rows;
  if (!BuildBatchRows(cli.rows.empty() ? nullptr : &table, declared, given, selection, &rows, &diags)) return fail("");
  // The params every row starts from: defaults and --param, and for a required param (null
  // default) the first row's value (every row has its own).
  std::vector<ParamOverride> base_overrides = overrides;
  for (auto it = declared.begin(); it != declared.end(); ++it)
    if (it.value().is_null() && !given.contains(it.key()) && rows[0].params.contains(it.key()))
      base_overrides.push_back({it.key(), TemplateText(rows[0].params[it.key()])});
  Workflow base;
  if (!BuildWorkflow(std::move(doc), cli.file, base_overrides, &base, &diags) || !ValidateWorkflow(&base, &diags))
    return fail(fmt::format("{}: invalid", cli.file));
  Workflow wf;
  ExpandBatch(base, rows, &wf);
  if (!ValidateWorkflow(&wf, &diags))
    return fail(fmt::format("{}: invalid for some rows (node ids: ROWKEY/NODE)", cli.file));
  PrintDiagnostics(diags);
  if (cli.plan) return PrintBatchPlan(wf, rows, cli.exec.offline);

  BatchSource source;
  source.rows_file = cli.rows.empty() ? "" : AbsolutePath(cli.rows);
  source.rows_sha256 = table.sha256;
  source.sweeps = cli.sweeps;
  source.key_column = cli.key;
  source.slice = cli.slice + (cli.limit > 0 ? fmt::format(" limit {}", cli.limit) : "");
  StartOptions start;
  start.journal = cli.journal;
  start.batch = EncodeBatchManifest(rows, source);
  start.header_params = base.params;
  start.executor = cli.exec.executor;  // --executor slurm: every row's process nodes, as for `run`
  wf.document = std::move(base.document);
  std::unique_ptr<RunSession> session = RunSession::Start(std::move(wf), ToRunOptions(cli.exec), start, &err);
  if (!session) {
    fmt::print(stderr, "comfyrun batch: {}\n", err);
    return kExitInvalid;
  }
  RunSummary summary = session->Execute();
  ExportRunMetrics(summary.metrics_path, cli.exec);
  int code = FinishBatch(session->header(), session->workflow(), session->state(), summary, cli.exec);
  ExitSkippingTeardown(code, std::move(session));  // never destroyed: the teardown is skipped on purpose
}

}  // namespace

int FinishBatch(const Json& header, const Workflow& wf, const JournalReplay& state, const RunSummary& summary,
                const ExecutionOptions& exec) {
  std::vector<BatchRow> rows;
  std::string err;
  if (!DecodeBatchRows(header, &rows, &err)) {  // decoded before the run: cannot fail here
    fmt::print(stderr, "comfyrun batch: {}\n", err);
    return Finish(summary, exec);
  }
  std::vector<RowResult> results = CollectRowResults(rows, wf, state);
  size_t ok = 0;
  for (const auto& r : results) ok += r.status == "succeeded";
  std::string json_path, csv_path;
  if (!WriteBatchResults(exec.out_dir, summary.run_id, summary.journal_path, results, header.value("params", Json()),
                         ParamNames(header), &json_path, &csv_path, &err))
    fmt::print(stderr, "warning: cannot write the batch results: {}\n", err);
  int code = Finish(summary, exec);
  std::string text =
      fmt::format("batch {}: {} rows, {} succeeded, {} failed\n", summary.run_id, rows.size(), ok, rows.size() - ok);
  for (const auto& r : results)
    if (r.status == "failed") text += fmt::format("  row {} ({}): {}\n", r.row->number, r.row->key, r.error);
  if (!json_path.empty()) text += fmt::format("  results: {}\n           {}\n", json_path, csv_path);
  WriteConsole(stderr, text);
  if (code == kExitInterrupted) return code;
  return ok == rows.size() ? kExitOk : kExitFailed;
}

void AddBatchCommand(CommandRegistry& registry) {
  auto batch = registry.Options<BatchOptionsCli>();
  CLI::App* cmd =
      registry.Add("batch", "run one workflow over a table of rows (CSV, JSON lines) or a --sweep", nullptr);
  cmd->add_option("file", batch->file, "workflow file")->required();
  cmd->add_option("rows", batch->rows, "rows: CSV with a header, or JSON lines (optional with --sweep)")
      ->check(NonEmptyPath());
  cmd->add_option("--sweep", batch->sweeps, "NAME=v1,v2,...: every value, crossed with the rows and other sweeps")
      ->type_name("NAME=V,...");
  cmd->add_option("--rows", batch->slice, "A-B: run rows A to B only (1-based, of the rows x sweeps)")
      ->type_name("A-B");
  cmd->add_option("--limit", batch->limit, "run at most N rows")->check(CLI::Range(1, 100000000));
  cmd->add_option("--key", batch->key, "name each row's folder after this param (default: the row number)")
      ->type_name("COLUMN");
  cmd->add_option("-p,--param", batch->params, "NAME=VALUE for every row (repeatable)");
  cmd->add_option("--journal", batch->journal, "journal path (default <out>/journals/<runId>.jsonl)")
      ->check(NonEmptyPath());
  cmd->add_flag("--plan", batch->plan, "show rows, nodes and the estimated cost (total, per row); run nothing");
  AddExecutionOptions(cmd, batch->exec);
  registry.OnChosen(cmd, [batch] { return ExportOk("batch", &batch->exec) ? BatchCommand(*batch) : kExitInvalid; });
  registry.Manual(
      cmd, {"Runs the workflow once per row, all rows in one run: one process, one journal, one scheduler (-j, pools "
            "and provider limits shared by every row) and one --max-cost budget. Each row's fields are params "
            "(<<params.NAME>>), typed by the workflow's param defaults; a column the workflow does not declare, a "
            "missing required param or a value of the wrong type is an error naming the file, line and column, and "
            "nothing runs. --sweep takes the cartesian product, alone or crossed with ROWS.\n\n"
            "Each row's files go to <out>/runs/<runId>/<rowKey>/<node>/ (rowKey: the --key param made safe for a file "
            "name and unique, else the row number). A failed row does not stop the others unless --fail-fast. The "
            "results, one line per row (params, status, cost, duration, error, main outputs), go to "
            "<out>/batches/<runId>.json and .csv. `comfyrun resume JOURNAL` finishes the rows that did not finish.",
            {{"0", "every row succeeded"},
             {"1", "the batch finished but a row failed"},
             CommandRegistry::ExitBadInput(),
             CommandRegistry::ExitInterrupted()},
            {{"comfyrun batch wf.json characters.csv --key name -j 8", "one run per row, folders named after the rows"},
             {"comfyrun batch wf.json --sweep style=noir,pastel --sweep seed=1,2,3",
              "six rows: every style with every seed"},
             {"comfyrun batch wf.json rows.jsonl --plan", "rows, nodes and cost before anything runs"}},
            "comfyrun resume, comfyrun status, docs/batch.md"});
}

}  // namespace comfyrun
