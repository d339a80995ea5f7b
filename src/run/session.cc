#include "comfyrun/run/session.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <utility>

#include "comfyrun/backends/local_backends.h"
#include "comfyrun/backends/slurm/slurm_routing.h"
#include "comfyrun/core/json_fast.h"
#include "comfyrun/core/phase_timer.h"
#include "comfyrun/core/util.h"
#include "comfyrun/core/validate.h"
#include "comfyrun/metrics/run_metrics.h"
#include "comfyrun/providers/provider.h"
#include "comfyrun/run/layout.h"

// Implementation details: a resume reads the journal once. The header's workflow is converted
// and built on another thread while this one folds the records (for 100,000 nodes each takes
// about as long as the other), and the same thread checks the header's hash against the
// workflow's text. The header is decoded first, in the reader's callback, so a damaged one
// starts nothing. An A/B test's workflow depends on the replay (AbTestResumeDocument), so it
// is built afterwards (run/abtest_resume.cc).

namespace comfyrun {

// An A/B test's workflow to run again on resume (src/run/abtest_resume.cc).
Json AbTestResumeDocument(const Json& header, const JournalReplay& replay);
// A batch's workflow to run again on resume (src/batch/expand.cc).
bool BatchResumeWorkflow(const Json& header, const std::string& file, const std::vector<ParamOverride>& params,
                         Workflow* out, std::vector<Diagnostic>* diags, std::string* hash_error);

namespace {

/// A workflow built and validated from a journal header's document.
struct BuiltWorkflow {
  Workflow wf;
  std::vector<Diagnostic> diags;
  bool ok = false;
  std::string hash_error;  ///< the header's hash does not match the workflow
};

BuiltWorkflow BuildFromHeader(Json doc, const std::string& file, const std::vector<ParamOverride>& overrides) {
  BuiltWorkflow b;
  b.ok = BuildWorkflow(std::move(doc), file, overrides, &b.wf, &b.diags) && ValidateWorkflow(&b.wf, &b.diags);
  return b;
}

/// The same from the header's workflow as read: its nodes are converted by the threads that
/// read them (BuildWorkflow), so no document of every node is built.
BuiltWorkflow CheckConvertAndBuild(HeaderWorkflow workflow, const Json& header, const std::string& file,
                                   const std::vector<ParamOverride>& overrides) {
  std::string hash_error;
  CheckHeaderHash(header, workflow.Text(), &hash_error);
  Json rest;
  std::unique_ptr<NodeList> nodes = workflow.TakeApart(&rest);
  BuiltWorkflow b;
  if (!nodes) {
    b = BuildFromHeader(workflow.Take(), file, overrides);
  } else {
    b.ok =
        BuildWorkflow(std::move(rest), *nodes, file, overrides, &b.wf, &b.diags) && ValidateWorkflow(&b.wf, &b.diags);
  }
  b.hash_error = std::move(hash_error);
  return b;
}

/// Completed nodes whose outputs came from the output cache, as metrics count them.
int CachedNodes(const JournalReplay& replay) {
  int n = 0;
  for (const auto& [id, node] : replay.nodes) n += node.cached && node.status == JournalNode::Status::kCompleted;
  return n;
}

/// Writes the metrics of a run from its journal's state; returns the metrics path ("" on
/// failure, with a warning). `workflow`, when given, is the header's workflow already built.
std::string WriteMetrics(const JournalReplay& replay, const Workflow* workflow, const std::string& out_dir,
                         const std::string& run_id, std::vector<const JournalNode*> found) {
  PhaseTimer timer("write metrics");
  std::string err;
  std::string path = MetricsPath(out_dir, run_id);
  if (!WriteFileAtomic(path, workflow ? RunMetricsText(replay, *workflow, std::move(found)) : RunMetricsText(replay),
                       &err)) {
    WriteConsole(stderr, fmt::format("warning: cannot write metrics {}: {}\n", path, err));
    return "";
  }
  return path;
}

/// RunOptions for a resume: the header's options, unless given again now.
RunOptions MergeOptions(const HeaderOptions& saved, const ResumeOverrides& o) {
  RunOptions options;
  options.out_dir = o.out_dir.value_or(saved.out.value_or(options.out_dir));
  options.jobs = o.jobs.value_or(saved.jobs.value_or(16));
  options.durability = o.durability.value_or(saved.durability.value_or(Durability::kBatch));
  options.fail_fast = o.fail_fast.value_or(saved.fail_fast.value_or(false));
  options.max_cost = o.max_cost.value_or(saved.max_cost.value_or(-1));
  options.cache = o.cache.value_or(saved.cache.value_or(CacheMode::kWorkflow));
  options.status_mode = o.status_mode;
  options.cancel_remote = o.cancel_remote;
  options.config = Config::FromEnvironment(ProviderConfigVariables());
  options.config.offline = o.offline.value_or(saved.offline.value_or(false));
  options.config.resubmit_expired = o.resubmit_expired;
  const std::vector<std::string>& servers = o.comfyui.empty() && saved.comfyui ? *saved.comfyui : o.comfyui;
  for (const auto& url : servers) options.config.comfyui_servers.push_back(url);
  return options;
}

}  // namespace

RunSession::~RunSession() = default;

bool RunSession::OpenJournal(std::string* err) {
  journal_ = JournalWriter::Open(journal_path_, options_.durability, err);
  if (!journal_) return false;
  journal_->MirrorInto(&state_);  // from here on, state_ follows what this run appends
  return true;
}

std::unique_ptr<RunSession> RunSession::Start(Workflow wf, RunOptions options, const StartOptions& start,
                                              std::string* err) {
  std::unique_ptr<RunSession> s(new RunSession());
  s->wf_ = std::move(wf);
  s->options_ = std::move(options);
  if (!Preflight(s->wf_, s->options_, err) || !PrepareOutputDirectory(s->options_.out_dir, err)) return nullptr;
  s->run_id_ = NewRunId(start.id_base.empty() ? s->wf_.workflow_id : start.id_base);
  s->journal_path_ = start.journal.empty() ? DefaultJournalPath(s->options_.out_dir, s->run_id_) : start.journal;
  if (!start.journal.empty()) {
    std::error_code ec;
    if (std::filesystem::is_directory(start.journal, ec)) {
      *err = fmt::format("--journal {} is a directory; give the path of a new journal file (for example {}/{}.jsonl)",
                         start.journal, start.journal, s->run_id_);
      return nullptr;
    }
    if (std::filesystem::exists(start.journal, ec) && std::filesystem::file_size(start.journal, ec) > 0) {
      *err = fmt::format("journal {} already exists; resume it with `comfyrun resume {}`, or choose another path",
                         start.journal, start.journal);
      return nullptr;
    }
    auto parent = std::filesystem::path(start.journal).parent_path();
    if (!parent.empty() && !MakeDirs(parent.string(), err)) return nullptr;
  }
  if (!s->OpenJournal(err)) return nullptr;
  // A batch's header keeps the params every row starts from, not the rows' (which "batch" has).
  Json run_params;
  if (!start.header_params.is_null()) run_params = std::exchange(s->wf_.params, start.header_params);
  s->header_ = EncodeHeader(&s->wf_, s->run_id_, s->options_, start.abtest);
  if (!start.header_params.is_null()) s->wf_.params = std::move(run_params);
  if (!start.batch.is_null()) s->header_["batch"] = start.batch;
  s->executor_mode_ = start.executor;
  if (s->executor_mode_ == "slurm") s->header_["options"]["executor"] = "slurm";
  // The header as this run wrote it decodes by construction; kept for the client.
  std::string ignored;
  DecodeHeader(s->header_, false, &s->decoded_, &ignored);
  if (!s->journal_->Append(s->header_, /*proof=*/true, err)) {
    *err = fmt::format("cannot write the journal {}: {}", s->journal_path_, *err);
    return nullptr;
  }
  return s;
}

std::unique_ptr<RunSession> RunSession::Resume(const std::string& journal, const ResumeOverrides& overrides,
                                               std::vector<Diagnostic>* diags, std::string* err) {
  std::unique_ptr<RunSession> s(new RunSession());
  s->resumed_ = true;
  s->journal_path_ = journal;
  std::string header_error;
  std::future<BuiltWorkflow> building;
  JournalReadOptions read_options;
  read_options.on_header = [&](const Json& header, HeaderWorkflow& workflow) {
    if (!DecodeHeader(header, workflow.present(), &s->decoded_, &header_error) || s->decoded_.is_abtest ||
        s->decoded_.is_batch)
      return;
    if (!workflow.IsObject()) {
      header_error = workflow.present()
                         ? "$.workflow: expected the workflow (an object), found " + workflow.Text().substr(0, 60)
                         : "$.workflow: missing (the workflow (an object) expected)";
      return;
    }
    building = std::async(std::launch::async, CheckConvertAndBuild, std::move(workflow), header,
                          s->decoded_.file.empty() ? journal : s->decoded_.file, s->decoded_.params);
  };
  std::optional<PhaseTimer> replay_timer(std::in_place, "replay journal (+ build workflow alongside)");
  JournalReplay& replay = s->state_;
  if (!ReadJournal(journal, read_options, &replay, err)) {
    *err = fmt::format("{}: {}", journal, *err);
    return nullptr;  // (a build under way is waited for by the future's destructor)
  }
  replay_timer.reset();
  for (const auto& w : replay.warnings) WriteConsole(stderr, fmt::format("warning: {}: {}\n", journal, w));
  // A header that kept its workflow (an A/B test's, or none was handed on) is decoded whole.
  if (header_error.empty() && !building.valid()) DecodeHeader(replay.header, false, &s->decoded_, &header_error);
  if (!header_error.empty()) {
    *err = fmt::format("{}: damaged journal header: {}; nothing was run", journal, header_error);
    return nullptr;
  }
  s->header_ = replay.header;  // without "workflow" unless an A/B test's
  s->executor_mode_ = overrides.executor;
  if (s->executor_mode_.empty() && s->header_.contains("options") && s->header_["options"].is_object())
    s->executor_mode_ = s->header_["options"].value("executor", "");
  s->run_id_ = s->decoded_.run_id;
  if (replay.finished && replay.final_status == "succeeded") {
    s->already_succeeded_ = true;
    return s;
  }
  std::optional<PhaseTimer> load_timer(std::in_place, "load + validate workflow (what is left)");
  BuiltWorkflow built;
  if (building.valid()) {
    built = building.get();
  } else {
    std::string workflow_text;
    AppendJson(&workflow_text, replay.header["workflow"]);
    CheckHeaderHash(replay.header, workflow_text, &built.hash_error);
    std::string hash_error = std::move(built.hash_error);
    const std::string& file = s->decoded_.file.empty() ? journal : s->decoded_.file;
    if (s->decoded_.is_batch) {
      built = BuiltWorkflow();
      std::string rows_error;
      built.ok = BatchResumeWorkflow(replay.header, file, s->decoded_.params, &built.wf, &built.diags, &rows_error);
      if (hash_error.empty()) hash_error = std::move(rows_error);
    } else {
      built = BuildFromHeader(AbTestResumeDocument(replay.header, replay), file, s->decoded_.params);
    }
    built.hash_error = std::move(hash_error);
  }
  if (!built.hash_error.empty()) {
    if (!overrides.force) {
      *err = fmt::format("{}: {}; nothing was run (`comfyrun resume --force` runs it as it is)", journal,
                         built.hash_error);
      return nullptr;
    }
    WriteConsole(stderr, fmt::format("warning: {}: {}; going on (--force)\n", journal, built.hash_error));
  }
  if (!built.ok) {
    *diags = std::move(built.diags);
    *err = fmt::format("{}: the journal's workflow is not valid for this comfyrun; nothing was run", journal);
    return nullptr;
  }
  load_timer.reset();
  s->wf_ = std::move(built.wf);
  s->options_ = MergeOptions(s->decoded_.options, overrides);
  // The up-front budget check is for a whole run; on resume the executor's per-node check,
  // which counts what was already spent, is the one that applies.
  RunOptions preflight_options = s->options_;
  preflight_options.max_cost = -1;
  if (!Preflight(s->wf_, preflight_options, err) || !PrepareOutputDirectory(s->options_.out_dir, err) ||
      !s->OpenJournal(err))
    return nullptr;
  return s;
}

std::shared_ptr<BackendSet> RunSession::MakeBackends() const {
  auto local = std::make_unique<LocalBackends>(options_.jobs);
  SlurmRoutingOptions slurm;
  slurm.all_process_nodes = executor_mode_ == "slurm";
  if (resumed_)
    for (const auto& [id, node] : state_.nodes)
      if (IsSlurmSubmission(node.open_submission)) slurm.resumed_on_slurm.insert(id);
  if (!SlurmRouting::Needed(wf_, slurm)) return local;
  slurm.backend.comfyrun_path = ComfyrunExecutablePath();
  // For tests and impatient clusters; the default (2 s) keeps squeue load low.
  std::string poll = GetConfigValue("COMFYRUN_SLURM_POLL_SECONDS");
  if (!poll.empty()) slurm.backend.poll_interval = std::clamp(std::atof(poll.c_str()), 0.1, 600.0);
  return std::make_shared<SlurmRouting>(wf_, std::move(local), std::move(slurm));
}

RunSummary RunSession::Execute() {
  Executor::InstallSignalHandlers();
  RunSummary summary;
  std::vector<const JournalNode*> found;
  {
    std::optional<PhaseTimer> seed_timer(std::in_place, "executor setup + seed");
    std::future<void> finding;
    std::vector<std::string_view> ids;
    if (resumed_) {
      // Each node's state in the journal is looked up while the executor is set up (100,000
      // hash lookups: ~25 ms); the seed and the metrics both use them.
      ids = NodeIdViews(wf_);
      finding = std::async(std::launch::async, [&] { FindJournalNodes(state_, ids, &found); });
    }
    options_.run_dir = RunDirectory(options_.out_dir, run_id_);
    if (!options_.backends) options_.backends = MakeBackends();
    executor_ = std::make_unique<Executor>(wf_, options_, run_id_, journal_.get());
    if (resumed_) {
      finding.get();
      executor_->SeedFromReplay(state_, &found);
    }
  }
  {
    PhaseTimer run_timer("executor run");
    summary = executor_->Run();
    // Every path stops the run's threads and programs before the journal closes, so nothing
    // appends after it (an interrupted run's abandoned attempts).
    executor_->StopBackgroundWork();
  }
  journal_.reset();
  // An A/B test's resume runs a trimmed copy of the header's workflow (AbTestResumeDocument):
  // its metrics list every node of the header, so they are built from the header.
  summary.metrics_path = resumed_ && decoded_.is_abtest
                             ? WriteMetrics(state_, nullptr, options_.out_dir, run_id_, {})
                             : WriteMetrics(state_, &wf_, options_.out_dir, run_id_, std::move(found));
  summary.cached_nodes = CachedNodes(state_);
  return summary;
}

}  // namespace comfyrun
