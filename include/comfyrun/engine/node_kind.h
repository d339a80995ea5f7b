#pragma once
// How a node type runs. The executor (engine/) owns the graph and the journal; a NodeKind
// only turns resolved inputs into a NodeResult.
//
// Three modes:
//  - kBlocking: Run() is called on a worker thread (media, value). It may block, and
//    should check ctx.cancelled() now and then.
//  - kAsync: Start() is called on the executor thread and must return at once; the work goes
//    on as requests and timers on the HttpLoop that the event-loop backend lends it
//    (LoopServices), and `done` is called exactly once, from any thread. Remote generations
//    are async: they hold no thread while they wait.
//  - kProcess: the attempt is one program run (shell). DescribeProcess() says what to start;
//    a backend runs it and FinishProcess() turns how it ended into the NodeResult. Locally
//    the executor thread runs it (backends/process_runner.h: pipes, stdin, timeouts, killing
//    the process group) and calls both there; no thread waits for the program: with
//    thousands of ~1 ms commands the hand-offs between threads would leave cores idle. A
//    cluster backend (Slurm) calls FinishProcess on its own poller thread. So neither may
//    block, and FinishProcess touches nothing but its context and outcome.
//
// Remote jobs and the journal (DESIGN.md §5): as soon as a provider accepts a submission, the
// node calls ctx.RecordSubmission({...provider id...}); it returns once the record is on disk.
// On resume, or on a retry after a transient failure, ctx.submission holds that record and
// the node must re-attach to the job (poll it) instead of submitting again.
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "comfyrun/core/config.h"
#include "comfyrun/core/json.h"
#include "comfyrun/engine/node_result.h"
#include "comfyrun/engine/process_spec.h"

namespace comfyrun {

class HttpLoop;
class SharedResources;

struct NodeContext {
  std::string run_id;
  std::string node_id;
  std::string type;            ///< canonical type name (aliases resolved)
  int attempt = 1;             ///< 1-based
  Json inputs;                 ///< templates resolved, defaults filled in
  std::string node_dir;        ///< absolute; created before the attempt; outputs go here
  std::string run_dir;         ///< absolute: generated/runs/<runId>
  double attempt_timeout = 0;  ///< seconds; 0 = none (the executor enforces it too)
  /// The node's pool ("" = none): a 429 to a poll of a running remote job lowers its rate
  /// (ProcessRateLimiter), as a 429 to a submission does through the scheduler.
  std::string pool;
  const Config* config = nullptr;

  /// The last submission recorded for this node that did not finish (resume / retry), or null.
  Json submission;
  /// Journals a submission durably (fsync per --durability) before returning. Thread-safe.
  std::function<void(const Json& submission)> record_submission;
  /// Reports progress for the status line ("sampling 12/30"). Thread-safe, may be empty.
  std::function<void(const std::string&)> report_progress;

  /// For the node kind's own use: what Cancel needs to find (a request id, a child pid).
  /// Set in Start/Run, read in Cancel; both on threads the kind controls.
  std::shared_ptr<void> kind_state;

  std::atomic<bool> cancel_requested{false};
  /// Set before Cancel when the whole run stops (Ctrl-C, SIGTERM, --fail-fast) without
  /// --cancel-remote: remote work that was submitted is left running for resume to re-attach
  /// to, instead of being cancelled on the provider (docs/guarantees.md).
  std::atomic<bool> detach_remote{false};
  /// Set with detach_remote when the run stops because a node failed under --fail-fast (not
  /// an interrupt): a backend whose work is only compute (a cluster job) cancels it then,
  /// while paid remote generations are still left for resume to collect.
  std::atomic<bool> stopping_after_failure{false};
  bool cancelled() const { return cancel_requested.load(std::memory_order_relaxed); }

  void RecordSubmission(const Json& s) {
    if (record_submission) record_submission(s);
    submission = s;
  }
  void Progress(const std::string& text) const {
    if (report_progress) report_progress(text);
  }
};

/// What the event-loop backend lends an async attempt.
struct LoopServices {
  HttpLoop* http = nullptr;           ///< where its requests and timers run (null: run inline, tests)
  SharedResources* shared = nullptr;  ///< the run's shared resources (a ComfyUI server pool)
};

class NodeKind {
 public:
  enum class Mode { kBlocking, kAsync, kProcess };
  virtual ~NodeKind() = default;
  virtual Mode mode() const = 0;
  /// kBlocking kinds whose Run is trivial (microseconds, no I/O, no folder) run on the
  /// executor thread itself: a hop through the worker pool would cost more than the work.
  virtual bool runs_inline() const { return false; }

  /// kBlocking: runs the attempt on a worker thread. Never throws (wrap bodies in try/catch).
  virtual NodeResult Run(NodeContext& /*ctx*/) {
    return NodeResult::Failure(ErrorType::kInternal, "Run not implemented");
  }
  /// kAsync: starts the attempt and returns at once; `done` is called exactly once.
  // By value in these signatures: implementations keep the context and the callback alive
  // past the call (the defaults here do not, hence the NOLINTs).
  // NOLINTNEXTLINE(performance-unnecessary-value-param)
  virtual void Start(std::shared_ptr<NodeContext> ctx, LoopServices loop, std::function<void(NodeResult)> done) {
    (void)ctx;
    (void)loop;
    done(NodeResult::Failure(ErrorType::kInternal, "Start not implemented"));
  }
  /// kProcess: fills `spec` with the program to run (the node folder exists by now), or
  /// returns false with `failure` set (bad input). Executor thread; never throws.
  virtual bool DescribeProcess(const NodeContext& /*ctx*/, ProcessSpec* /*spec*/, NodeResult* failure) {
    *failure = NodeResult::Failure(ErrorType::kInternal, "DescribeProcess not implemented");
    return false;
  }
  /// kProcess: the attempt's result from how the program ended (also when it could not be
  /// started: outcome.spawn_error, or was stopped: outcome.cancelled). The backend's thread; never
  /// throws.
  // NOLINTNEXTLINE(performance-unnecessary-value-param): implementations move parts of the outcome
  virtual NodeResult FinishProcess(const NodeContext& /*ctx*/, ProcessOutcome /*outcome*/) {
    return NodeResult::Failure(ErrorType::kInternal, "FinishProcess not implemented");
  }
  /// kAsync: asks a started attempt to stop (timeout, Ctrl-C, --fail-fast): cancel remote
  /// work where the provider allows it (or leave it running when ctx->detach_remote), then
  /// call `done` with kCancelled (or kTimeout when ctx says so). Called on the executor
  /// thread; must return at once.
  // NOLINTNEXTLINE(performance-unnecessary-value-param)
  virtual void Cancel(std::shared_ptr<NodeContext> ctx) { ctx->cancel_requested = true; }
};

/// The implementation of a node type (canonical name), or nullptr when it has none yet.
/// Defined in src/nodes/node_kinds.cc, the one table of implementations.
NodeKind* FindNodeKind(const std::string& type);

}  // namespace comfyrun
