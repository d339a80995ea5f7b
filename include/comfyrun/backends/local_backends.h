#pragma once
// The backends that run work on this machine, one per execution mode of a node kind
// (engine/node_kind.h), and the set that routes each node to one of them by that mode:
//  - InProcessBackend: kBlocking kinds. Trivial ones (value) run inline on the executor
//    thread; the others (media) on a WorkerPool whose threads start on first use.
//  - ChildProcessBackend: kProcess kinds (shell). Programs run under a ProcessRunner that
//    the executor thread drives: the set's Wait is its poll() on their pipes.
//  - EventLoopBackend: kAsync kinds (remote generations, comfyui, http). Owns the HttpLoop
//    (started on first use), the run's SharedResources (a ComfyUI server pool) and, at the
//    end, waits for the short worker threads that post to the loop.
// Other sets (a cluster) wrap a LocalBackends and route some nodes elsewhere.
#include <memory>
#include <string>
#include <unordered_map>

#include "comfyrun/backends/process_runner.h"
#include "comfyrun/backends/worker_pool.h"
#include "comfyrun/engine/backend.h"
#include "comfyrun/engine/shared_resources.h"

namespace comfyrun {

class HttpLoop;

class InProcessBackend : public Backend {
 public:
  explicit InProcessBackend(size_t max_threads) : max_threads_(max_threads) {}
  const char* name() const override { return "local"; }
  void Start(NodeKind& kind, std::shared_ptr<NodeContext> ctx, AttemptDone done) override;
  /// A blocking body checks ctx->cancelled() itself; there is nothing to interrupt.
  void Cancel(NodeKind& /*kind*/, const std::shared_ptr<NodeContext>& /*ctx*/) override {}
  void Shutdown() override { workers_.reset(); }  // waits for bodies, which were asked to stop

 private:
  size_t max_threads_;
  std::unique_ptr<WorkerPool> workers_;  // executor thread
};

class ChildProcessBackend : public Backend {
 public:
  const char* name() const override { return "process"; }
  void Start(NodeKind& kind, std::shared_ptr<NodeContext> ctx, AttemptDone done) override;
  void Cancel(NodeKind& kind, const std::shared_ptr<NodeContext>& ctx) override;
  /// Kills what an interrupted run left (already asked to stop) and reaps it.
  void Shutdown() override {
    runner_.reset();
    running_.clear();
  }
  /// The executor thread's wait (see BackendSet::Wait).
  void Wait(double seconds, int wake_fd);

 private:
  std::unique_ptr<ProcessRunner> runner_ = std::make_unique<ProcessRunner>();
  std::unordered_map<const NodeContext*, ProcessRunner::Id> running_;  // executor thread
};

class EventLoopBackend : public Backend {
 public:
  EventLoopBackend();
  ~EventLoopBackend() override;
  const char* name() const override { return "event-loop"; }
  void Start(NodeKind& kind, std::shared_ptr<NodeContext> ctx, AttemptDone done) override;
  void Cancel(NodeKind& kind, const std::shared_ptr<NodeContext>& ctx) override;
  void Shutdown() override;

 private:
  std::unique_ptr<HttpLoop> http_;  // executor thread starts it; its own thread runs it
  SharedResources shared_;          // destroyed after the loop: resources live on its thread
};

class LocalBackends : public BackendSet {
 public:
  /// `jobs`: the most blocking bodies that run at once (the worker pool's size).
  explicit LocalBackends(int jobs);
  Backend* For(const WorkflowNode& node, const NodeKind& kind, std::string* err) override;
  void Wait(double seconds, int wake_fd) override { processes_.Wait(seconds, wake_fd); }
  /// Remote work first (its callbacks post to the executor's queue), then blocking bodies,
  /// then programs.
  void Shutdown() override;

 private:
  EventLoopBackend event_loop_;
  InProcessBackend in_process_;
  ChildProcessBackend processes_;
};

}  // namespace comfyrun
