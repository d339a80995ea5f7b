// The backend seam (engine/backend.h): LocalBackends routes by execution mode, and a backend
// of another kind (here a fake "cluster" that runs process kinds' programs its own way) plugs
// into the executor through a BackendSet alone, the way a Slurm backend does.
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "comfyrun/backends/local_backends.h"
#include "comfyrun/core/util.h"
#include "comfyrun/core/validate.h"
#include "comfyrun/core/workflow.h"
#include "comfyrun/engine/executor.h"
#include "comfyrun/engine/journal.h"
#include "comfyrun/run/layout.h"

using namespace comfyrun;

namespace {

/// Runs process kinds without a local process: it asks the kind what to run
/// (DescribeProcess), "runs" it on a thread of its own by echoing the argv as the program's
/// JSON stdout, and hands the outcome back through FinishProcess, as a cluster backend that
/// ran the program elsewhere would. Nodes whose argv is ["hang"] run until cancelled.
class FakeClusterBackend : public Backend {
 public:
  ~FakeClusterBackend() override { Shutdown(); }
  const char* name() const override { return "fake-cluster"; }

  void Start(NodeKind& kind, std::shared_ptr<NodeContext> ctx, AttemptDone done) override {
    std::string err;
    if (!MakeDirs(ctx->node_dir, &err)) return done(NodeResult::Failure(ErrorType::kInternal, err));
    ProcessSpec spec;
    NodeResult failure;
    if (!kind.DescribeProcess(*ctx, &spec, &failure)) return done(std::move(failure));
    {
      std::lock_guard<std::mutex> lock(mu_);
      started_.insert(ctx->node_id);
    }
    NodeKind* body = &kind;
    threads_.emplace_back([body, ctx, done, spec] {
      ProcessOutcome outcome;
      if (spec.argv == std::vector<std::string>{"hang"}) {
        for (int i = 0; i < 2000 && !ctx->cancelled(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        outcome.cancelled = ctx->cancelled();
      } else {
        outcome.exit_code = 0;
        outcome.stdout_text = Json{{"ranOn", "fake-cluster"}, {"argv", spec.argv}}.dump();
      }
      done(body->FinishProcess(*ctx, std::move(outcome)));
    });
  }
  void Cancel(NodeKind& /*kind*/, const std::shared_ptr<NodeContext>& ctx) override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_.insert(ctx->node_id);
  }
  void Shutdown() override {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

  std::set<std::string> started() {
    std::lock_guard<std::mutex> lock(mu_);
    return started_;
  }
  std::set<std::string> cancelled() {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_;
  }

 private:
  std::vector<std::thread> threads_;  // executor thread
  std::mutex mu_;                     // guards started_, cancelled_
  std::set<std::string> started_, cancelled_;
};

/// Nodes in the pool "cluster" go to the fake cluster; everything else runs locally.
class ClusterRouting : public BackendSet {
 public:
  explicit ClusterRouting(int jobs) : local_(jobs) {}
  Backend* For(const WorkflowNode& node, const NodeKind& kind, std::string* err) override {
    if (node.pool != "cluster") return local_.For(node, kind, err);
    if (kind.mode() != NodeKind::Mode::kProcess) {
      *err = "only process nodes run on the cluster";
      return nullptr;
    }
    return &cluster_;
  }
  void Wait(double seconds, int wake_fd) override { local_.Wait(seconds, wake_fd); }
  void Shutdown() override {
    cluster_.Shutdown();
    local_.Shutdown();
  }
  FakeClusterBackend cluster_;

 private:
  LocalBackends local_;
};

Workflow Build(const std::string& text) {
  Workflow wf;
  std::vector<Diagnostic> diags;
  REQUIRE(BuildWorkflow(Json::parse(text), "backend.json", {}, &wf, &diags));
  REQUIRE(ValidateWorkflow(&wf, &diags));
  return wf;
}

RunSummary RunWith(const Workflow& wf, const std::shared_ptr<BackendSet>& backends, const std::string& out) {
  RunOptions options;
  options.out_dir = out;
  options.jobs = 4;
  options.status_mode = StatusPrinter::Mode::kQuiet;
  options.backends = backends;
  options.run_dir = RunDirectory(out, "r1");
  std::filesystem::create_directories(out);
  std::string err;
  auto journal = JournalWriter::Open(out + "/journal.jsonl", options.durability, &err);
  REQUIRE_MESSAGE(journal, err);
  journal->Append({{"type", "header"}, {"format", 1}, {"runId", "r1"}, {"workflow", wf.document}}, true, &err);
  Executor executor(wf, options, "r1", journal.get());
  return executor.Run();
}

JournalReplay Replay(const std::string& out) {
  JournalReplay r;
  std::string err;
  REQUIRE(ReadJournal(out + "/journal.jsonl", &r, &err));
  return r;
}

}  // namespace

TEST_SUITE("Backends") {
  TEST_CASE("LocalBackends routes each execution mode to its own backend") {
    LocalBackends local(2);
    Workflow wf = Build(R"({"workflowId": "b", "nodes": [
      {"id": "v", "type": "value", "inputs": {"x": 1}},
      {"id": "s", "type": "shell", "inputs": {"argv": ["true"]}},
      {"id": "h", "type": "http", "inputs": {"url": "http://127.0.0.1:9/"}}]})");
    std::string err;
    std::set<std::string> names;
    for (const auto& node : wf.nodes) {
      NodeKind* kind = FindNodeKind(node.spec->name);
      REQUIRE(kind);
      Backend* backend = local.For(node, *kind, &err);
      REQUIRE(backend);
      names.insert(backend->name());
    }
    CHECK(names == std::set<std::string>{"local", "process", "event-loop"});
    local.Shutdown();
  }

  TEST_CASE("a backend plugged in through a BackendSet runs process nodes; the executor is unchanged" *
            doctest::timeout(30)) {
    Workflow wf = Build(R"({"workflowId": "b", "nodes": [
      {"id": "remote", "type": "shell", "pool": "cluster", "inputs": {"argv": ["render", "frame-1"]}},
      {"id": "local", "type": "shell", "inputs": {"argv": ["sh", "-c", "echo '{\"here\": true}'"]}},
      {"id": "after", "type": "value", "inputs": {"where": "<<remote.ranOn>>", "here": "<<local.here>>"}}]})");
    auto routing = std::make_shared<ClusterRouting>(4);
    RunSummary s = RunWith(wf, routing, "backend-out-1");
    CHECK(s.status == "succeeded");
    CHECK(routing->cluster_.started() == std::set<std::string>{"remote"});
    JournalReplay r = Replay("backend-out-1");
    CHECK(r.nodes["after"].outputs["where"] == "fake-cluster");
    CHECK(r.nodes["after"].outputs["here"] == true);
    CHECK(r.nodes["remote"].outputs["argv"] == Json{"render", "frame-1"});
  }

  TEST_CASE("a timeout reaches the plugged-in backend as a Cancel, and a node it cannot take fails clearly" *
            doctest::timeout(30)) {
    Workflow wf = Build(R"({"workflowId": "b", "nodes": [
      {"id": "stuck", "type": "shell", "pool": "cluster", "timeout": "300ms", "retry": 1,
       "inputs": {"argv": ["hang"]}},
      {"id": "wrong", "type": "value", "pool": "cluster", "inputs": {"x": 1}}]})");
    auto routing = std::make_shared<ClusterRouting>(4);
    RunSummary s = RunWith(wf, routing, "backend-out-2");
    CHECK(s.status == "failed");
    CHECK(routing->cluster_.cancelled() == std::set<std::string>{"stuck"});
    JournalReplay r = Replay("backend-out-2");
    CHECK(r.nodes["stuck"].last_error == ErrorType::kTimeout);
    CHECK(r.nodes["wrong"].last_error == ErrorType::kInvalidInput);
    CHECK(r.nodes["wrong"].last_message.find("only process nodes run on the cluster") != std::string::npos);
  }
}
