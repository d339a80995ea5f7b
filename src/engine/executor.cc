#include "comfyrun/engine/executor.h"

#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <map>
#include <random>

#include "comfyrun/core/dag.h"
#include "comfyrun/core/json_fast.h"
#include "comfyrun/core/node_registry.h"
#include "comfyrun/core/plan_report.h"
#include "comfyrun/core/template.h"
#include "comfyrun/core/util.h"
#include "comfyrun/engine/backend.h"
#include "comfyrun/engine/rate_limit.h"
#include "comfyrun/engine/retry.h"
#include "comfyrun/engine/scheduler.h"
#include "executor_inbox.h"
#include "interrupts.h"
#include "node_run.h"
#include "resume_seed.h"
#include "same_inputs_gate.h"

namespace comfyrun {

struct Executor::Impl {
  const Workflow& wf;
  RunOptions options;
  std::string run_id;
  JournalWriter* journal;
  NodeKindLookup kinds;
  std::string out_root, run_dir;
  Json run_value;
  std::vector<NodeRun> runs;
  std::unique_ptr<Scheduler> scheduler;
  std::shared_ptr<CompletionQueue> queue = std::make_shared<CompletionQueue>();
  std::multimap<double, Timer> timers;
  std::unique_ptr<StatusPrinter> status;
  std::shared_ptr<BackendSet> backends;  // options.backends: where attempts run
  std::unique_ptr<SyncThread> syncer;
  std::unique_ptr<RunCache> cache;
  SameInputsGate same_inputs;  // parks a node whose cache key a running node has
  uint64_t next_ticket = 1;
  double oldest_unsynced = 0;  // steady time of the oldest proof record not yet asked to sync
  static constexpr double kBatchSyncSeconds = 0.5;
  std::deque<std::pair<uint64_t, size_t>> awaiting_durable;  // (ticket, node), tickets ascending
  std::mt19937_64 rng{std::random_device{}()};
  double spent = 0;               // USD, all runs of this journal
  double committed_estimate = 0;  // expected cost of paid nodes now running
  size_t already_done = 0;
  bool stopping = false;
  bool journal_broken = false;
  std::vector<std::pair<std::string, std::string>> failed;

  Impl(const Workflow& w, RunOptions o, std::string id, JournalWriter* j, NodeKindLookup k)
      : wf(w), options(std::move(o)), run_id(std::move(id)), journal(j), kinds(std::move(k)) {
    backends = options.backends;
    out_root = AbsolutePath(options.out_dir);
    run_dir = options.run_dir;
    run_value = {{"id", run_id}, {"dir", run_dir}};
    runs.resize(wf.nodes.size());
    std::vector<double> weights;
    std::vector<std::string> pools;
    weights.reserve(wf.nodes.size());
    pools.reserve(wf.nodes.size());
    for (size_t i = 0; i < wf.nodes.size(); ++i) {
      NodeEstimate e = EstimateNode(wf, i, options.config.offline);
      weights.push_back(e.seconds);
      runs[i].estimate = e.cost;
      pools.push_back(wf.nodes[i].pool);
    }
    DepLists dependents = Dependents(wf.deps);  // once, for the priorities and the scheduler
    std::vector<double> priority = RemainingCriticalPath(wf.deps, dependents, weights);
    scheduler = std::make_unique<Scheduler>(wf.deps, std::move(dependents), std::move(priority), std::move(pools),
                                            PoolDepths(wf.pools), options.jobs);
    ConfigurePoolRates(wf.pool_rates, &ProcessRateLimiter());  // rate_limit.h: token buckets, AIMD on 429
    scheduler->SetRateLimiter(&ProcessRateLimiter());
    status = std::make_unique<StatusPrinter>(wf.nodes.size(), options.status_mode);
    cache = std::make_unique<RunCache>(out_root + "/cache", options.cache, options.config.offline, run_dir,
                                       [this](const std::string& w) { status->Warning(w); });
  }

  // --- journal -------------------------------------------------------------------------
  /// Appends a record; a failure (disk full) stops the run, since work that cannot be
  /// recorded could be paid for twice.
  void Record(Json record, bool proof) {
    if (journal_broken) return;
    std::string err;
    if (!journal->Append(std::move(record), proof && options.durability == Durability::kFull, &err)) JournalFailed(err);
  }
  /// Record for a record written as text (JsonObjectText), "t" included.
  void Record(JsonObjectText& record, bool proof) {
    if (journal_broken) return;
    std::string err;
    if (!journal->AppendText(record, proof && options.durability == Durability::kFull, &err)) JournalFailed(err);
  }
  void JournalFailed(const std::string& err) {
    journal_broken = true;
    status->Error(fmt::format("cannot write the journal {}: {}; stopping (resume continues from what was written)",
                              journal->path(), err));
    Stop("journal write failed");
  }

  // --- starting attempts -----------------------------------------------------------------
  const Json* Lookup(const std::string& root) {
    if (root == "params") return &wf.params;
    if (root == "run") return &run_value;
    auto it = wf.index.find(root);
    if (it == wf.index.end() || scheduler->state(it->second) != Scheduler::State::kSucceeded) return nullptr;
    const NodeRun& run = runs[it->second];
    return run.seeded_outputs ? run.seeded_outputs : &run.outputs;
  }

  bool ResolveInputs(size_t i, Json* inputs, std::string* err) {
    const WorkflowNode& node = wf.nodes[i];
    if (!ResolveTemplates(
            node.inputs, [this](const std::string& r) { return Lookup(r); }, inputs, err))
      return false;
    if (node.spec)
      for (const auto& in : node.spec->inputs)
        if (!inputs->contains(in.name) && !in.default_value.is_null()) (*inputs)[in.name] = in.default_value;
    return true;
  }

  /// Ends the current attempt of node i with a failure, through the queue like any result.
  void FailAttempt(size_t i, ErrorType type, const std::string& message) {
    queue->Post(Event{i, runs[i].attempt, false, NodeResult::Failure(type, message), ""});
  }

  void StartNode(size_t i) {
    const WorkflowNode& node = wf.nodes[i];
    NodeRun& run = runs[i];
    double now = SteadyNow();
    if (run.attempts_this_run == 0) run.first_start = now;
    ++run.attempt;
    ++run.attempts_this_run;
    run.started_ms = NowUnixMs();
    run.cache_key.clear();
    run.cached = false;
    run.backend = nullptr;
    int64_t queue_wait_ms = run.ready_since > 0 ? static_cast<int64_t>((now - run.ready_since) * 1000) : 0;
    run.queue_wait_ms = queue_wait_ms;
    NodeKind* kind = node.spec ? kinds(node.spec->name) : nullptr;
    // An inline kind ends its attempt before anything else can happen, so a node_started
    // record would say nothing the completed record (with startedAt) does not: 100,000
    // value nodes write half the records.
    if (!kind || !kind->runs_inline())
      Record({{"type", "node_started"}, {"node", node.id}, {"attempt", run.attempt}, {"queueWaitMs", queue_wait_ms}},
             false);
    status->NodeStarted(node.id, run.attempt);
    run.running = true;  // from here on, exactly one result event ends this attempt
    if (node.spec && node.spec->paid) committed_estimate += run.estimate;

    if (!kind)
      return FailAttempt(i, ErrorType::kInternal,
                         fmt::format("node type '{}' cannot run yet in this build", node.type));
    auto ctx = std::make_shared<NodeContext>();
    ctx->run_id = run_id;
    ctx->node_id = node.id;
    ctx->type = node.spec->name;
    ctx->attempt = run.attempt;
    ctx->run_dir = run_dir;
    ctx->node_dir = run_dir + "/" + node.id;
    ctx->attempt_timeout = node.timeout.attempt;
    ctx->pool = node.pool;
    ctx->config = &options.config;
    ctx->submission = run.submission;
    std::string err;
    if (!ResolveInputs(i, &ctx->inputs, &err)) return FailAttempt(i, ErrorType::kInvalidInput, err);
    CacheThenLaunch(i, kind, std::move(ctx));
  }

  /// The rest of a start: the output cache, the same-inputs gate, then the backend. Also for a
  /// parked attempt that is due.
  void CacheThenLaunch(size_t i, NodeKind* kind, std::shared_ptr<NodeContext> ctx) {
    const WorkflowNode& node = wf.nodes[i];
    NodeRun& run = runs[i];
    std::string err;
    if (cache->Enabled(node, *kind)) {
      // A valid cache entry for the same type, model and inputs ends the attempt here, at cost 0
      // (not when re-attaching to a submitted job: that one is paid for, its result is coming).
      auto use = ctx->submission.is_null() ? RunCache::Use::kFetch : RunCache::Use::kKeyOnly;
      auto hit = cache->Lookup(
          node, [this](const std::string& r) { return Lookup(r); }, ctx->node_dir, use, &run.cache_key);
      if (hit) {
        run.cached = true;
        queue->Post(Event{i, run.attempt, false, std::move(*hit), ""});
        return;
      }
      if (use == RunCache::Use::kFetch && !run.cache_key.empty() && !same_inputs.Admit(run.cache_key, i, run.attempt)) {
        run.parked = true;
        run.backend = nullptr;
        run.ctx = std::move(ctx);
        status->NodeProgress(node.id, "waiting for a running node with the same inputs");
        return;
      }
    }
    Backend* backend = backends ? backends->For(node, *kind, &err) : nullptr;
    if (!backend) return FailAttempt(i, ErrorType::kInvalidInput, err.empty() ? "no backend can run this node" : err);
    int attempt = run.attempt;
    std::string node_id = node.id;
    ctx->record_submission = [this, node_id, attempt](const Json& submission) {
      // Called from a worker or the HTTP loop thread; the journal is thread-safe. Proof:
      // durable before the provider is polled, so a crash never submits again.
      std::string e;
      Json record = {{"type", "submitted"}, {"node", node_id}, {"attempt", attempt}, {"submission", submission}};
      if (!journal->Append(std::move(record), options.durability != Durability::kNone, &e))
        fmt::print(stderr, "error: cannot journal the submission of {}: {}\n", node_id, e);
    };
    auto q = queue;
    ctx->report_progress = [q, i, attempt](const std::string& text) { q->Post(Event{i, attempt, true, {}, text}); };
    run.ctx = ctx;
    if (node.timeout.attempt > 0)
      timers.emplace(SteadyNow() + node.timeout.attempt, Timer{i, attempt, TimerKind::kAttemptTimeout});
    if (node.timeout.total > 0 && run.attempts_this_run == 1)
      timers.emplace(run.first_start + node.timeout.total, Timer{i, attempt, TimerKind::kTotalTimeout});

    run.backend = backend;
    backend->Start(*kind, ctx, [q, i, attempt](NodeResult r) { q->Post(Event{i, attempt, false, std::move(r), ""}); });
  }

  /// Whether starting node i could take the run past --max-cost.
  bool OverBudget(size_t i) const {
    if (options.max_cost < 0 || !wf.nodes[i].spec || !wf.nodes[i].spec->paid) return false;
    return spent + committed_estimate + runs[i].estimate > options.max_cost + 1e-9;
  }

  void StartReadyNodes() {
    while (!stopping) {
      auto next = scheduler->FindWork();
      if (!next) return;
      if (OverBudget(*next)) {
        FailNode(*next, ErrorType::kCancelled,
                 fmt::format("not started: its estimated ${:.2f} could take the run past --max-cost ${:.2f} "
                             "(spent ${:.2f})",
                             runs[*next].estimate, options.max_cost, spent));
        continue;
      }
      StartNode(*next);
    }
  }

  // --- outcomes --------------------------------------------------------------------------
  void EndAttempt(size_t i) {
    NodeRun& run = runs[i];
    if (!run.parked && !run.cache_key.empty()) same_inputs.Ended(run.cache_key, i);
    run.parked = false;
    run.running = false;
    run.ctx.reset();
    if (wf.nodes[i].spec && wf.nodes[i].spec->paid) committed_estimate -= run.estimate;
  }

  void SkipDependents(const std::vector<size_t>& skipped, const std::string& because) {
    for (size_t d : skipped) {
      Record({{"type", "node_skipped"}, {"node", wf.nodes[d].id}, {"because", because}}, false);
      status->NodeSkipped(wf.nodes[d].id, because);
    }
  }

  void FailNode(size_t i, ErrorType type, const std::string& message) {
    const std::string& id = wf.nodes[i].id;
    Record({{"type", "node_failed"},
            {"node", id},
            {"attempts", runs[i].attempt},
            {"error", ErrorTypeName(type)},
            {"message", message}},
           false);
    status->NodeFailed(id, std::string(ErrorTypeName(type)), message);
    failed.emplace_back(id, fmt::format("{}: {}", ErrorTypeName(type), message));
    SkipDependents(scheduler->NodeFailed(i), fmt::format("{} failed", id));
    if (options.fail_fast && !stopping) Stop("--fail-fast: " + id + " failed");
  }

  /// Handles a finished attempt. Successes are journaled here and applied by the caller
  /// after the batch's fsync (see Drain).
  void OnResult(size_t i, NodeResult result, std::vector<size_t>* succeeded) {
    const WorkflowNode& node = wf.nodes[i];
    NodeRun& run = runs[i];
    // The job this attempt submitted (ctx.RecordSubmission, written before the result was
    // posted) or re-attached to: a retry must re-attach to it unless the result says it is over.
    Json submitted = run.ctx ? run.ctx->submission : Json();
    Json where = AttemptWhere(run, result, node.spec ? kinds(node.spec->name) : nullptr);
    EndAttempt(i);
    spent += result.cost;
    int64_t now_ms = NowUnixMs();
    if (result.ok()) {
      if (!run.cache_key.empty() && !run.cached) cache->Store(run.cache_key, node, result, run_dir + "/" + node.id);
      run.outputs = std::move(result.outputs);
      run.submission = nullptr;
      // Written as text: one completed record per node, and building it as a nlohmann object
      // cost more than the rest of the node's handling (100,000 value nodes).
      JsonObjectText record;
      record.Str("type", "completed").Str("node", node.id).Int("attempt", run.attempt).Value("outputs", run.outputs);
      record.Double("cost", result.cost).Str("provider", result.provider).Str("model", result.model);
      record.Int("startedAt", run.started_ms).Int("durationMs", now_ms - run.started_ms);
      record.Int("queueWaitMs", run.queue_wait_ms);
      if (run.cached) record.Bool("cached", true);
      if (!where.is_null()) record.Value("where", where);
      record.Int("t", now_ms);
      Record(record, true);
      status->NodeCompleted(node.id, (now_ms - run.started_ms) / 1000.0, result.cost, run.cached);
      if (options.durability == Durability::kBatch && !node.spec->side_effect_free && scheduler->has_dependents(i)) {
        // Free the slot now; dependents start once the record is on disk.
        scheduler->NodeFinishing(i);
        RequestSync();
        awaiting_durable.emplace_back(next_ticket - 1, i);
      } else {
        // Nothing waits for this record (or nothing could be redone wrongly without it): a
        // crash that loses it runs the node again, which batch allows (docs/guarantees.md).
        // It is synced with the next group, at the latest kBatchSyncSeconds from now, so
        // 10,000 independent nodes do not cost 10,000 fdatasyncs.
        if (options.durability == Durability::kBatch && oldest_unsynced == 0) oldest_unsynced = SteadyNow();
        succeeded->push_back(i);
      }
      return;
    }
    if (result.error == ErrorType::kRateLimited) scheduler->RateLimited(i, result.retry_after);  // the pool slows
    if (result.submission_finished)
      run.submission = nullptr;
    else if (!submitted.is_null())
      run.submission = submitted;
    else if (run.submission.is_null() && !result.details.is_null() && result.details.contains("submission"))
      run.submission = result.details["submission"];
    std::string message = Redactor::Redact(result.message);
    RetryDecision decision;
    if (stopping) {
      decision.why_not = "the run is stopping";
    } else {
      std::uniform_real_distribution<double> unit(0, 1);
      decision = DecideRetry(node.retry, result.error, run.attempts_this_run, result.retry_after,
                             SteadyNow() - run.first_start, node.timeout.total, unit(rng));
      if (result.error == ErrorType::kOutputInvalid) ++run.output_invalid;
      LimitOutputInvalidRetry(result, run.output_invalid, &decision);  // deterministic checks: engine/retry.h
    }
    Json record = {{"type", "attempt_failed"},
                   {"node", node.id},
                   {"attempt", run.attempt},
                   {"error", ErrorTypeName(result.error)},
                   {"message", message},
                   {"cost", result.cost},
                   {"submissionFinished", run.submission.is_null()},
                   {"startedAt", run.started_ms}};
    if (decision.retry) record["retryIn"] = decision.delay;
    if (!result.details.empty()) record["details"] = result.details;
    if (!where.is_null()) record["where"] = std::move(where);
    Record(record, result.cost > 0 || !run.submission.is_null());
    if (stopping) {
      // Interrupted: the node is neither failed nor done; resume runs it again.
      scheduler->NodeRetryWait(i);
      return;
    }
    if (decision.retry) {
      scheduler->NodeRetryWait(i);
      status->NodeRetrying(node.id, run.attempt, std::string(ErrorTypeName(result.error)), message, decision.delay);
      timers.emplace(SteadyNow() + decision.delay, Timer{i, run.attempt, TimerKind::kRetry});
      return;
    }
    FailNode(i, result.error,
             decision.why_not.empty() || result.error == ErrorType::kCancelled
                 ? message
                 : fmt::format("{} ({})", message, decision.why_not));
  }

  /// Asks the sync thread for a group commit of everything appended so far.
  void RequestSync() {
    if (!syncer) syncer = std::make_unique<SyncThread>(journal, queue);
    syncer->Request(next_ticket++);
    oldest_unsynced = 0;
  }

  void MarkSucceeded(const std::vector<size_t>& nodes) {
    std::vector<size_t> now_ready;
    for (size_t i : nodes) scheduler->NodeSucceeded(i, &now_ready);
    double now = SteadyNow();
    for (size_t r : now_ready) runs[r].ready_since = now;
  }

  void OnDurable(const Event& e) {
    if (!e.sync_error.empty() && !journal_broken) {
      journal_broken = true;
      status->Error(fmt::format("cannot sync the journal {}: {}; stopping", journal->path(), e.sync_error));
      Stop("journal sync failed");
    }
    std::vector<size_t> durable;
    while (!awaiting_durable.empty() && awaiting_durable.front().first <= e.ticket) {
      durable.push_back(awaiting_durable.front().second);
      awaiting_durable.pop_front();
    }
    if (journal_broken) return;  // not provably recorded: resume decides
    MarkSucceeded(durable);
  }

  void Drain(std::deque<Event> events) {
    std::vector<size_t> succeeded;
    for (auto& e : events) {
      if (e.is_durable) {
        OnDurable(e);
        continue;
      }
      NodeRun& run = runs[e.node];
      if (!run.running || e.attempt != run.attempt) continue;  // abandoned attempt
      if (e.is_progress) {
        status->NodeProgress(wf.nodes[e.node].id, e.progress);
        continue;
      }
      OnResult(e.node, std::move(e.result), &succeeded);
    }
    MarkSucceeded(succeeded);
  }

  void FireTimers() {
    double now = SteadyNow();
    while (!timers.empty() && timers.begin()->first <= now) {
      Timer t = timers.begin()->second;
      timers.erase(timers.begin());
      NodeRun& run = runs[t.node];
      if (t.kind == TimerKind::kRetry) {
        if (!stopping && scheduler->state(t.node) == Scheduler::State::kRetryWait) {
          scheduler->Requeue(t.node);
          run.ready_since = now;
        }
        continue;
      }
      if (!run.running || (t.kind == TimerKind::kAttemptTimeout && run.attempt != t.attempt)) continue;
      // Timeout: ask the attempt to stop (ComfyUI interrupt, kill the process) and move on at
      // once without waiting for it to land; its late result is dropped.
      const WorkflowNode& node = wf.nodes[t.node];
      double limit = t.kind == TimerKind::kAttemptTimeout ? node.timeout.attempt : node.timeout.total;
      CancelAttempt(t.node);
      NodeResult r = NodeResult::Failure(
          ErrorType::kTimeout,
          fmt::format("{} timeout of {} reached", t.kind == TimerKind::kAttemptTimeout ? "attempt" : "total",
                      FormatDuration(limit)));
      r.submission_finished = false;  // the remote job may still finish: re-attach next time
      std::vector<size_t> succeeded;
      if (t.kind == TimerKind::kTotalTimeout) {
        EndAttempt(t.node);
        Record({{"type", "attempt_failed"},
                {"node", node.id},
                {"attempt", run.attempt},
                {"error", "Timeout"},
                {"message", r.message},
                {"cost", 0},
                {"submissionFinished", run.submission.is_null()}},
               false);
        FailNode(t.node, ErrorType::kTimeout, r.message);
      } else {
        OnResult(t.node, std::move(r), &succeeded);
      }
    }
  }

  void CancelAttempt(size_t i) {
    NodeRun& run = runs[i];
    if (!run.ctx) return;
    run.ctx->cancel_requested = true;
    NodeKind* kind = wf.nodes[i].spec ? kinds(wf.nodes[i].spec->name) : nullptr;
    if (kind && run.backend) run.backend->Cancel(*kind, run.ctx);
  }

  void Stop(const std::string& reason) {
    if (stopping) return;
    stopping = true;
    std::vector<size_t> skipped = scheduler->SkipNotStarted();
    const bool fail_fast_stop = reason.rfind("--fail-fast", 0) == 0;
    if (fail_fast_stop) SkipDependents(skipped, reason);
    for (auto [node, attempt] : same_inputs.TakeAllParked())  // no backend has them: end them here
      if (runs[node].parked && runs[node].attempt == attempt)
        queue->Post(Event{node, attempt, false, NodeResult::Failure(ErrorType::kCancelled, reason), ""});
    for (size_t i = 0; i < runs.size(); ++i) {
      if (!runs[i].running || runs[i].parked) continue;
      // Remote jobs stay on their provider for resume to re-attach, unless --cancel-remote.
      if (runs[i].ctx) {
        runs[i].ctx->detach_remote = !options.cancel_remote;
        runs[i].ctx->stopping_after_failure = fail_fast_stop;
      }
      CancelAttempt(i);
    }
  }

  /// Parked attempts whose leader ended, now that its result is in the cache (or not).
  void LaunchDueParked() {
    for (auto [node, attempt] : same_inputs.TakeDue())
      if (runs[node].parked && runs[node].attempt == attempt && !stopping) {
        runs[node].parked = false;
        CacheThenLaunch(node, kinds(wf.nodes[node].spec->name), std::move(runs[node].ctx));
      }
  }

  void WaitForWork(double seconds) {
    if (backends) return backends->Wait(seconds, queue->fd());
    pollfd p{queue->fd(), POLLIN, 0};  // no backends (a misused executor): wait for the queue alone
    poll(&p, 1, static_cast<int>(seconds * 1000));
  }

  RunSummary Execute() {
    double start = SteadyNow();
    Record({{"type", "run_started"}, {"pid", static_cast<int>(getpid())}, {"resume", already_done > 0 ? 1 : 0}}, false);
    scheduler->Start();
    double now = SteadyNow();
    for (size_t i = 0; i < runs.size(); ++i)
      if (scheduler->state(i) == Scheduler::State::kReady) runs[i].ready_since = now;
    bool interrupted = false;
    double stop_deadline = 0;
    for (;;) {
      if (InterruptCount() > 0 && !interrupted) {
        interrupted = true;
        status->Warning(
            "interrupted: stopping; `comfyrun resume` continues from the journal (Ctrl-C again to quit now)");
        Stop("interrupted");
      }
      if (stopping && stop_deadline == 0) stop_deadline = SteadyNow() + 5;
      StartReadyNodes();
      if (scheduler->running() == 0 && awaiting_durable.empty()) {
        if (stopping || scheduler->Finished()) break;
        // Nothing running or finishing: only retry timers can move the run on.
        if (timers.empty() && scheduler->count(Scheduler::State::kReady) == 0) break;
      }
      if (stopping && SteadyNow() > stop_deadline) break;  // abandon attempts that do not stop
      double wait = 0.1;
      if (!timers.empty()) wait = std::min(wait, std::max(0.0, timers.begin()->first - SteadyNow()));
      if (double token = scheduler->NextTokenIn(); token >= 0) wait = std::min(wait, token);  // rate-limited pools
      if (oldest_unsynced > 0) wait = std::min(wait, std::max(0.0, oldest_unsynced + kBatchSyncSeconds - SteadyNow()));
      // One wait for everything: running programs' output and exits (read and reaped right
      // here), kill deadlines, and events posted by other threads (the queue's eventfd).
      WaitForWork(wait);
      Drain(queue->Take());
      FireTimers();
      LaunchDueParked();
      if (oldest_unsynced > 0 && SteadyNow() >= oldest_unsynced + kBatchSyncSeconds) RequestSync();
      status->Tick();
    }
    // Anything still running was abandoned (interrupt): resume runs it again.
    std::string final_status = interrupted || journal_broken                                         ? "interrupted"
                               : failed.empty() && scheduler->count(Scheduler::State::kSkipped) == 0 ? "succeeded"
                                                                                                     : "failed";
    int64_t duration_ms = static_cast<int64_t>((SteadyNow() - start) * 1000);
    Record({{"type", "run_finished"}, {"status", final_status}, {"durationMs", duration_ms}, {"totalCost", spent}},
           true);
    std::string err;
    if (!journal_broken) journal->Sync(&err);
    status->Finish();
    RunSummary summary;
    summary.run_id = run_id;
    summary.status = final_status;
    summary.total_cost = spent;
    summary.duration_ms = duration_ms;
    summary.journal_path = journal->path();
    summary.failed = failed;
    summary.exit_code = journal_broken ? 1 : final_status == "succeeded" ? 0 : final_status == "interrupted" ? 130 : 1;
    return summary;
  }
};

Executor::Executor(const Workflow& workflow, RunOptions options, std::string run_id, JournalWriter* journal,
                   NodeKindLookup kinds)
    : impl_(std::make_unique<Impl>(workflow, std::move(options), std::move(run_id), journal, std::move(kinds))) {}

Executor::~Executor() { StopBackgroundWork(); }

void Executor::StopBackgroundWork() {
  if (!impl_) return;
  // The backends' callbacks post to the queue, which outlives them; the sync thread goes last.
  if (impl_->backends) impl_->backends->Shutdown();
  impl_->syncer.reset();
}

void Executor::SeedFromReplay(const JournalReplay& replay, const std::vector<const JournalNode*>* found) {
  Impl& im = *impl_;
  im.spent = replay.total_cost;
  std::vector<const JournalNode*> looked_up;
  if (!found) {
    FindJournalNodes(replay, NodeIdViews(im.wf), &looked_up);
    found = &looked_up;
  }
  size_t done = SeedRunsFromJournal(im.wf, *found, im.out_root, &im.runs, im.scheduler.get(), im.status.get());
  im.already_done = done;
  im.status->SetAlreadyDone(done, replay.total_cost);
}

RunSummary Executor::Run() { return impl_->Execute(); }

}  // namespace comfyrun
