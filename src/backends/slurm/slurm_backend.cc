// SlurmBackend: the poller thread, submissions, adoption after a crash, cancelling
// (slurm_backend.h explains the journal discipline).
#include "comfyrun/backends/slurm/slurm_backend.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "comfyrun/core/util.h"
#include "slurm_job_files.h"

namespace comfyrun {
namespace {

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// What a state means for people, after "ended ".
std::string Explain(const std::string& state) {
  std::string s = state.substr(0, state.find(' '));
  if (s == "TIMEOUT") return "TIMEOUT (it ran past its time limit, sbatch --time)";
  if (s == "OUT_OF_MEMORY") return "OUT_OF_MEMORY (it used more memory than it asked for, sbatch --mem)";
  if (s == "PREEMPTED") return "PREEMPTED (the cluster gave its node to other work; retryable)";
  if (s == "NODE_FAIL") return "NODE_FAIL (its node failed; retryable)";
  if (s == "BOOT_FAIL") return "BOOT_FAIL (its node did not boot; retryable)";
  return state;
}

}  // namespace

struct SlurmBackend::Job {
  NodeKind* kind = nullptr;
  std::shared_ptr<NodeContext> ctx;
  AttemptDone done;
  SlurmPoolSettings pool;
  bool exec_node = false;  // a blocking kind, run by `comfyrun exec-node`
  ProcessSpec spec;
  std::string name;
  std::string id;
  std::string state;
  std::string node;
  slurm::JobFiles files;
  std::string spec_path;    // exec-node: the spec file
  std::string result_path;  // exec-node: the result JSON it writes
  double submitted_at = 0;
  bool delivered = false;
};

class SlurmBackend::PoolBackend : public Backend {
 public:
  PoolBackend(SlurmBackend* owner, SlurmPoolSettings pool) : owner_(owner), pool_(std::move(pool)) {}
  const char* name() const override { return "slurm"; }
  const char* executor() const override { return "slurm"; }
  void Start(NodeKind& kind, std::shared_ptr<NodeContext> ctx, AttemptDone done) override {
    owner_->StartIn(pool_, kind, std::move(ctx), std::move(done));
  }
  void Cancel(NodeKind& kind, const std::shared_ptr<NodeContext>& ctx) override { owner_->Cancel(kind, ctx); }
  const SlurmPoolSettings& pool() const { return pool_; }

 private:
  SlurmBackend* owner_;
  SlurmPoolSettings pool_;
};

SlurmBackend::SlurmBackend(SlurmBackendOptions options) : options_(std::move(options)), client_(options_.client) {
  // Started last: the thread uses every member.
  thread_ = std::thread([this] { Loop(); });
}

SlurmBackend::~SlurmBackend() { Shutdown(); }

Backend* SlurmBackend::Pool(const SlurmPoolSettings& pool) {
  for (auto& p : pools_)
    if (p->pool().name == pool.name) return p.get();
  pools_.push_back(std::make_unique<PoolBackend>(this, pool));
  return pools_.back().get();
}

int SlurmBackend::submissions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return submissions_;
}

int SlurmBackend::polls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return polls_;
}

void SlurmBackend::Start(NodeKind& kind, std::shared_ptr<NodeContext> ctx, AttemptDone done) {
  StartIn(default_pool_, kind, std::move(ctx), std::move(done));
}

void SlurmBackend::StartIn(const SlurmPoolSettings& pool, NodeKind& kind, std::shared_ptr<NodeContext> ctx,
                           AttemptDone done) {
  auto job = std::make_shared<Job>();
  job->kind = &kind;
  job->pool = pool;
  if (kind.mode() == NodeKind::Mode::kProcess) {
    // DescribeProcess wants the executor thread (this is it) and the node folder.
    std::string err;
    if (!MakeDirs(ctx->node_dir, &err)) {
      done(NodeResult::Failure(ErrorType::kInternal, err));
      return;
    }
    NodeResult failure;
    if (!kind.DescribeProcess(*ctx, &job->spec, &failure)) {
      done(std::move(failure));
      return;
    }
  } else if (kind.mode() == NodeKind::Mode::kBlocking && !kind.runs_inline()) {
    job->exec_node = true;
    if (options_.comfyrun_path.empty()) {
      done(NodeResult::Failure(ErrorType::kInternal, "the Slurm backend does not know where comfyrun is"));
      return;
    }
  } else {
    done(NodeResult::Failure(ErrorType::kInvalidInput,
                             fmt::format("node type {} cannot run on Slurm: only shell, media and other "
                                         "local work can (remote generations leave the machine already)",
                                         Quote(ctx->type))));
    return;
  }
  job->ctx = std::move(ctx);
  job->done = std::move(done);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) {
      job->done(NodeResult::Failure(ErrorType::kCancelled, "the run is stopping"));
      return;
    }
    by_ctx_[job->ctx.get()] = job;
    incoming_.push_back(job);
  }
  wake_.notify_one();
}

void SlurmBackend::Cancel(NodeKind& /*kind*/, const std::shared_ptr<NodeContext>& ctx) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_ctx_.find(ctx.get());
    if (it == by_ctx_.end()) return;
    cancels_.push_back(it->second);
  }
  wake_.notify_one();
}

void SlurmBackend::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void SlurmBackend::Loop() {
  double next_poll = 0;
  while (true) {
    std::vector<std::shared_ptr<Job>> incoming;
    std::vector<std::shared_ptr<Job>> cancels;
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto ready = [this] { return stop_ || !incoming_.empty() || !cancels_.empty(); };
      if (waiting_.empty()) {
        wake_.wait(lock, ready);
      } else {
        double left = next_poll - SteadySeconds();
        if (left > 0) wake_.wait_for(lock, std::chrono::duration<double>(left), ready);
      }
      // Jobs still running when the run ends are left to Slurm: resume re-attaches to them.
      if (stop_) return;
      incoming.swap(incoming_);
      cancels.swap(cancels_);
    }
    for (auto& job : incoming) Begin(job);
    for (auto& job : cancels) HandleCancel(job);
    if (!waiting_.empty() && SteadySeconds() >= next_poll) {
      Poll();
      next_poll = SteadySeconds() + options_.poll_interval;
    }
  }
}

void SlurmBackend::Begin(const std::shared_ptr<Job>& job) {
  NodeContext& ctx = *job->ctx;
  const Json& sub = ctx.submission;
  if (!sub.is_object() || sub.value("backend", "") != "slurm" || !sub.contains("jobName") ||
      !sub["jobName"].is_string())
    return Submit(job, /*new_name=*/true);
  job->name = sub["jobName"].get<std::string>();
  job->id = sub.contains("jobId") && sub["jobId"].is_string() ? sub["jobId"].get<std::string>() : "";
  job->files = slurm::FilesFor(ctx.node_dir, job->name);
  if (!job->id.empty() && cancelled_by_us_.count(job->id)) return Submit(job, /*new_name=*/true);
  if (job->id.empty()) {
    // The crash came between the name's record and the id's: ask Slurm by name.
    std::vector<SlurmJobInfo> found;
    std::string err;
    if (!client_.FindByName(job->name, &found, &err)) {
      NodeResult r = NodeResult::Failure(ErrorType::kUnavailable, "cannot look up Slurm job " + job->name + ": " + err);
      r.submission_finished = false;  // ask again next time
      return Deliver(job, std::move(r));
    }
    // Gone from squeue too (it ended more than MinJobAge ago): accounting may still know it.
    bool accounting = false;
    if (found.empty() && client_.HasAccounting(&accounting, &err) && accounting &&
        !client_.FindByNameInAccounting(job->name, &found, &err)) {
      NodeResult r = NodeResult::Failure(ErrorType::kUnavailable,
                                         "cannot look up Slurm job " + job->name + " in accounting: " + err);
      r.submission_finished = false;
      return Deliver(job, std::move(r));
    }
    if (found.empty()) return Submit(job, /*new_name=*/false);  // sbatch never ran (the claim guards the rest)
    job->id = found.front().id;
    Json rec = sub;
    rec["jobId"] = job->id;
    ctx.RecordSubmission(rec);
  }
  job->submitted_at = SteadySeconds();
  if (job->exec_node) job->result_path = job->files.dir + "/" + job->name + ".result.json";
  ctx.Progress(fmt::format("re-attached to Slurm job {}", job->id));
  waiting_.push_back(job);
}

void SlurmBackend::Submit(const std::shared_ptr<Job>& job, bool new_name) {
  NodeContext& ctx = *job->ctx;
  if (ctx.cancelled()) return Deliver(job, NodeResult::Failure(ErrorType::kCancelled, "stopped before submission"));
  if (new_name) {
    job->name = slurm::MakeJobName(ctx);
    job->files = slurm::FilesFor(ctx.node_dir, job->name);
  }
  Json rec = {{"backend", "slurm"}, {"jobName", job->name}, {"attempt", ctx.attempt}};
  if (!job->pool.name.empty()) rec["pool"] = job->pool.name;
  // Durable before sbatch runs: a crash from here on finds the job by this name.
  if (new_name) ctx.RecordSubmission(rec);
  std::string err;
  if (job->exec_node) {
    job->spec_path = job->files.dir + "/" + job->name + ".spec.json";
    job->result_path = job->files.dir + "/" + job->name + ".result.json";
    Json spec = {{"type", ctx.type},       {"runId", ctx.run_id},       {"nodeId", ctx.node_id},
                 {"attempt", ctx.attempt}, {"nodeDir", ctx.node_dir},   {"runDir", ctx.run_dir},
                 {"inputs", ctx.inputs},   {"result", job->result_path}};
    job->spec.argv = {options_.comfyrun_path, "exec-node", job->spec_path};
    job->spec.cwd = ctx.node_dir;
    if (!MakeDirs(job->files.dir, &err) || !WriteFileAtomic(job->spec_path, spec.dump(2) + "\n", &err))
      return Deliver(job, NodeResult::Failure(ErrorType::kInternal, "cannot write the Slurm job's spec: " + err));
  }
  if (!slurm::WriteJobFiles(job->spec, ctx, job->name, job->files, &err))
    return Deliver(job, NodeResult::Failure(ErrorType::kInternal, "cannot write the Slurm job script: " + err));
  std::vector<std::string> args = {
      "--job-name",   job->name,
      "--output",     job->files.log_pattern,
      "--chdir",      ctx.node_dir,
      "--no-requeue", "--ntasks=1",
      "--comment",    fmt::format("comfyrun run {} node {} attempt {}", ctx.run_id, ctx.node_id, ctx.attempt)};
  if (!job->pool.partition.empty()) args.insert(args.end(), {"--partition", job->pool.partition});
  args.insert(args.end(), job->pool.sbatch.begin(), job->pool.sbatch.end());
  std::string id;
  bool ok = client_.Submit(args, job->files.script, &id, &err);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++submissions_;
  }
  if (!ok) {
    // sbatch's own complaints about what it was given (a partition that does not exist, a
    // malformed option) cannot get better by trying again; anything else might.
    bool bad = err.find("nvalid") != std::string::npos || err.find("unrecognized") != std::string::npos ||
               err.find("unknown") != std::string::npos;
    NodeResult r = NodeResult::Failure(
        bad ? ErrorType::kInvalidInput : ErrorType::kUnavailable,
        fmt::format("sbatch failed{}: {}", job->pool.name.empty() ? "" : " (pool " + Quote(job->pool.name) + ")", err));
    return Deliver(job, std::move(r));
  }
  job->id = id;
  rec["jobId"] = id;
  ctx.RecordSubmission(rec);
  job->submitted_at = SteadySeconds();
  ctx.Progress(fmt::format("Slurm job {} submitted", id));
  waiting_.push_back(job);
}

void SlurmBackend::Poll() {
  std::map<std::string, SlurmJobInfo> all;
  std::string err;
  bool ok = client_.QueryAll(&all, &err);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++polls_;
  }
  if (!ok) {
    // The controller may be restarting: the jobs go on; try again next interval.
    for (auto& job : waiting_) job->ctx->Progress("cannot ask Slurm: " + Abbreviate(err, 120));
    return;
  }
  // Jobs squeue no longer lists (they ended more than MinJobAge ago: a resume after a long
  // pause) are asked of accounting, all in one sacct call, when the cluster keeps it.
  std::vector<std::string> gone;
  for (auto& job : waiting_)
    if (!job->delivered && !all.count(job->id)) gone.push_back(job->id);
  std::map<std::string, SlurmJobInfo> accounted;
  bool accounting = false;
  if (!gone.empty() && client_.HasAccounting(&accounting, &err) && accounting &&
      !client_.FromAccounting(gone, &accounted, &err))
    for (auto& job : waiting_) job->ctx->Progress("cannot ask Slurm's accounting: " + Abbreviate(err, 120));
  std::vector<std::shared_ptr<Job>> still;
  for (auto& job : waiting_) {
    if (job->delivered) continue;
    SlurmJobInfo info;
    auto it = all.find(job->id);
    auto acc = accounted.find(job->id);
    if (it != all.end()) {
      info = it->second;
    } else if (acc != accounted.end()) {
      info = acc->second;
    } else {
      // Gone from squeue and unknown to accounting (or there is none): what the job script
      // left says how it ended.
      info.id = job->id;
      auto code = slurm::ReadExitCode(job->files.exit_path);
      info.state = !code ? "LOST" : *code == 0 ? "COMPLETED" : "FAILED";
    }
    if (info.state != job->state || info.nodes != job->node) {
      job->state = info.state;
      if (!info.nodes.empty()) job->node = info.nodes;
      job->ctx->Progress(job->node.empty() ? fmt::format("Slurm job {} {}", job->id, job->state)
                                           : fmt::format("Slurm job {} {} on {}", job->id, job->state, job->node));
    }
    if (info.state == "LOST" || InterpretSlurmState(info.state).terminal)
      Finish(job, info);
    else
      still.push_back(job);
  }
  waiting_.swap(still);
}

void SlurmBackend::Finish(const std::shared_ptr<Job>& job, const SlurmJobInfo& info) {
  NodeContext& ctx = *job->ctx;
  SlurmStateMeaning m = InterpretSlurmState(info.state);
  std::string log = job->files.Log(job->id);
  std::string log_text = slurm::ReadTail(log, job->spec.stderr_tail);
  bool log_exists = access(log.c_str(), F_OK) == 0;
  std::string where =
      fmt::format("Slurm job {} ({}) on {}", job->id, job->name, job->node.empty() ? "no node" : job->node);
  auto with_log = [&](std::string message) {
    std::string lines = slurm::LastLines(log_text, 8);
    if (!lines.empty()) message += fmt::format("; last lines of its log {}:\n{}", log, lines);
    return message;
  };
  Json slurm_info = {
      {"jobId", job->id}, {"jobName", job->name}, {"node", job->node}, {"state", info.state}, {"log", log}};
  auto code = slurm::ReadExitCode(job->files.exit_path);
  NodeResult r;
  if (code == slurm::kFolderNotVisibleExit || (!log_exists && info.state != "LOST" && !m.succeeded && !code)) {
    r = NodeResult::Failure(
        ErrorType::kExecution,
        fmt::format("{} ended {} without writing into the node folder {}: the run folder must be on a "
                    "filesystem shared by this machine and the cluster's nodes{}",
                    where, info.state, ctx.node_dir, log_exists ? with_log("") : ""));
  } else if (info.state == "LOST") {
    r = NodeResult::Failure(ErrorType::kExecution,
                            with_log(fmt::format("{}: Slurm no longer lists it and it left no exit code (it ended "
                                                 "more than MinJobAge ago and the cluster keeps no accounting)",
                                                 where)));
  } else if ((m.succeeded || info.state.rfind("FAILED", 0) == 0) && code) {
    if (job->exec_node) {
      std::string text;
      std::string err;
      Json parsed = ReadFile(job->result_path, &text, &err) ? Json::parse(text, nullptr, false) : Json();
      if (!parsed.is_object()) {
        r = NodeResult::Failure(
            ErrorType::kExecution,
            with_log(fmt::format("{}: comfyrun exec-node exited with code {} and wrote no result", where, *code)));
      } else {
        auto type = ParseErrorType(parsed.value("error", "None"));
        r.error = type ? *type : ErrorType::kInternal;
        r.message = parsed.value("message", "");
        if (parsed.contains("outputs") && parsed["outputs"].is_object()) r.outputs = parsed["outputs"];
        if (parsed.contains("details") && parsed["details"].is_object()) r.details = parsed["details"];
        if (!r.ok()) r.message = with_log(r.message + " (" + where + ")");
      }
    } else {
      ProcessOutcome o;
      o.exit_code = *code;
      o.stdout_text = slurm::ReadHead(job->files.stdout_path, job->spec.max_stdout, &o.stdout_truncated);
      o.stderr_text = log_text;
      r = job->kind->FinishProcess(ctx, std::move(o));
      if (!r.ok()) r.message = with_log(r.message + " (" + where + ")");
    }
  } else if (m.succeeded) {
    r = NodeResult::Failure(ErrorType::kExecution,
                            with_log(fmt::format("{} completed but its script wrote no exit code", where)));
  } else {
    r = NodeResult::Failure(
        m.error == ErrorType::kNone ? ErrorType::kExecution : m.error,
        with_log(fmt::format("{} ended {}{}", where, Explain(info.state),
                             info.reason.empty() || info.reason == "None" ? "" : " (" + info.reason + ")")));
  }
  if (r.ok()) r.outputs["slurm"] = {{"jobId", job->id}, {"node", job->node}};
  if (r.details.is_null()) r.details = Json::object();
  r.details["slurm"] = slurm_info;
  r.submission_finished = true;
  Deliver(job, std::move(r));
}

void SlurmBackend::Deliver(const std::shared_ptr<Job>& job, NodeResult result) {
  if (job->delivered) return;
  job->delivered = true;
  // Where the attempt ran, for metrics, trace and report (NodeResult::where): the job, and
  // its cluster node once Slurm named one.
  if (result.where.is_null()) {
    result.where = {{"executor", "slurm"}};
    if (!job->id.empty()) result.where["jobId"] = job->id;
    if (!job->node.empty()) result.where["host"] = job->node;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    by_ctx_.erase(job->ctx.get());
  }
  job->done(std::move(result));
}

void SlurmBackend::HandleCancel(const std::shared_ptr<Job>& job) {
  if (job->delivered) return;
  NodeContext& ctx = *job->ctx;
  NodeResult r;
  if (ctx.detach_remote.load() && !ctx.stopping_after_failure.load()) {
    // The run stops (Ctrl-C) without --cancel-remote: the job goes on, resume re-attaches.
    // A --fail-fast stop cancels: the run has failed, and a cluster job costs slots.
    r = NodeResult::Failure(ErrorType::kCancelled,
                            fmt::format("left Slurm job {} running; resume re-attaches to it", job->id));
    r.submission_finished = job->id.empty() && job->name.empty();
  } else {
    std::string err;
    if (!job->id.empty() && !client_.Cancel(job->id, &err)) {
      r = NodeResult::Failure(ErrorType::kCancelled, fmt::format("cannot cancel Slurm job {}: {}", job->id, err));
      r.submission_finished = false;
    } else {
      if (!job->id.empty()) cancelled_by_us_.insert(job->id);
      r = NodeResult::Failure(ErrorType::kCancelled, fmt::format("cancelled Slurm job {} (scancel)", job->id));
    }
  }
  r.details["slurm"] = {{"jobId", job->id}, {"jobName", job->name}, {"node", job->node}};
  for (size_t k = 0; k < waiting_.size(); ++k)
    if (waiting_[k] == job) {
      waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(k));
      break;
    }
  Deliver(job, std::move(r));
}

}  // namespace comfyrun
