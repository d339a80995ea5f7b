// Executor tests with fake node kinds: order, failures, retries, resume, budget, interrupts.
#include "comfyrun/engine/executor.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "comfyrun/backends/local_backends.h"
#include "comfyrun/core/util.h"
#include "comfyrun/core/validate.h"
#include "comfyrun/engine/journal.h"
#include "comfyrun/run/layout.h"

using namespace comfyrun;

namespace {

/// A blocking kind whose behaviour each test scripts by node id.
class FakeKind : public NodeKind {
 public:
  Mode mode() const override { return Mode::kBlocking; }
  NodeResult Run(NodeContext& ctx) override {
    if (on_run) on_run(ctx.node_id);
    {
      std::lock_guard<std::mutex> lock(mutex);
      order.push_back(ctx.node_id);
      ++calls[ctx.node_id];
      current = running.fetch_add(1) + 1;
      peak = std::max(peak, current);
    }
    NodeResult r;
    if (sleep_ms.count(ctx.node_id)) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms[ctx.node_id]));
    {
      std::lock_guard<std::mutex> lock(mutex);
      int left = failures[ctx.node_id];
      if (left > 0) {
        failures[ctx.node_id] = left - 1;
        r = NodeResult::Failure(fail_type, "scripted failure");
      } else {
        r = NodeResult::Success(outputs_of.count(ctx.node_id) ? outputs_of[ctx.node_id] : ctx.inputs);
        r.cost = cost;
        if (where_of.count(ctx.node_id)) r.where = where_of[ctx.node_id];
      }
      running.fetch_sub(1);
    }
    while (wait_for_cancel.count(ctx.node_id) && !ctx.cancelled())
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (ctx.cancelled()) return NodeResult::Failure(ErrorType::kCancelled, "stopped");
    return r;
  }
  std::mutex mutex;
  std::vector<std::string> order;
  std::map<std::string, int> calls, failures, sleep_ms;
  std::set<std::string> wait_for_cancel;
  std::function<void(const std::string&)> on_run;  ///< called first, on the worker thread
  std::map<std::string, Json> outputs_of;          ///< instead of echoing the inputs
  std::map<std::string, Json> where_of;            ///< NodeResult::where of a success
  ErrorType fail_type = ErrorType::kUnavailable;
  std::atomic<int> running{0};
  int current = 0, peak = 0;
  double cost = 0;
};

Workflow Build(const std::string& text) {
  Workflow wf;
  std::vector<Diagnostic> diags;
  Json doc = Json::parse(text);
  REQUIRE(BuildWorkflow(doc, "test.json", {}, &wf, &diags));
  REQUIRE(ValidateWorkflow(&wf, &diags));
  return wf;
}

struct Harness {
  explicit Harness(const std::string& text, int jobs = 4) : wf(Build(text)) {
    options.out_dir = "out-" + std::to_string(counter++);
    options.jobs = jobs;
    options.status_mode = StatusPrinter::Mode::kQuiet;
    options.backends = std::make_shared<LocalBackends>(jobs);
    journal_path = options.out_dir + "/journal.jsonl";
    std::filesystem::create_directories(options.out_dir);
  }
  RunSummary Run(const JournalReplay* replay = nullptr) {
    std::string err;
    auto journal = JournalWriter::Open(journal_path, options.durability, &err);
    REQUIRE_MESSAGE(journal, err);
    if (!replay)
      journal->Append({{"type", "header"}, {"format", 1}, {"runId", "r1"}, {"workflow", wf.document}}, true, &err);
    options.run_dir = RunDirectory(options.out_dir, "r1");
    Executor executor(wf, options, "r1", journal.get(), [this](const std::string&) -> NodeKind* { return &kind; });
    if (replay) executor.SeedFromReplay(*replay);
    return executor.Run();
  }
  JournalReplay Replay() {
    JournalReplay r;
    std::string err;
    REQUIRE(ReadJournal(journal_path, &r, &err));
    return r;
  }
  static inline int counter = 0;
  Workflow wf;
  RunOptions options;
  std::string journal_path;
  FakeKind kind;
};

const char* kChain = R"({"workflowId": "t", "nodes": [
  {"id": "a", "type": "value", "inputs": {"x": 1}},
  {"id": "b", "type": "value", "inputs": {"y": "<<a.x>>"}},
  {"id": "c", "type": "value", "inputs": {"z": "<<b.y>>", "s": "got <<a.x>>"}}]})";

}  // namespace

TEST_SUITE("Executor") {
  TEST_CASE("dependencies run first and their outputs reach templates with their types" * doctest::timeout(20)) {
    Harness h(kChain);
    RunSummary s = h.Run();
    CHECK(s.status == "succeeded");
    CHECK(s.exit_code == 0);
    CHECK(h.kind.order == std::vector<std::string>{"a", "b", "c"});
    JournalReplay r = h.Replay();
    CHECK(r.nodes["c"].outputs["z"] == 1);
    CHECK(r.nodes["c"].outputs["s"] == "got 1");
    CHECK(r.finished);
    CHECK(r.final_status == "succeeded");
  }

  TEST_CASE("a failing node is retried, then fails; its dependents are skipped, others run" * doctest::timeout(20)) {
    Harness h(
        R"({"workflowId": "t", "defaults": {"retry": {"maximumAttempts": 2, "initialInterval": "10ms"}}, "nodes": [
    {"id": "a", "type": "value", "inputs": {"x": 1}},
    {"id": "b", "type": "value", "inputs": {"v": "<<a.x>>"}, "dependsOn": ["a"]},
    {"id": "c", "type": "value", "inputs": {"v": 2}}]})");
    h.kind.failures["a"] = 5;
    RunSummary s = h.Run();
    CHECK(s.status == "failed");
    CHECK(s.exit_code == 1);
    CHECK(h.kind.calls["a"] == 2);
    CHECK(h.kind.calls["b"] == 0);
    CHECK(h.kind.calls["c"] == 1);
    JournalReplay r = h.Replay();
    CHECK(r.nodes["a"].status == JournalNode::Status::kFailed);
    CHECK(r.nodes["b"].status == JournalNode::Status::kSkipped);
    CHECK(r.nodes["c"].status == JournalNode::Status::kCompleted);
  }

  TEST_CASE("each attempt's record says where it ran: the backend's placement, else its executor" *
            doctest::timeout(20)) {
    Harness h(
        R"({"workflowId": "t", "defaults": {"retry": {"maximumAttempts": 2, "initialInterval": "10ms"}}, "nodes": [
    {"id": "a", "type": "value", "inputs": {}},
    {"id": "b", "type": "value", "inputs": {}}]})");
    h.kind.failures["a"] = 1;
    h.kind.where_of["b"] = {{"executor", "cluster"}, {"jobId", "7"}, {"host", "n1"}};
    REQUIRE(h.Run().status == "succeeded");
    JournalReplay r = h.Replay();
    REQUIRE(r.nodes["a"].spans.size() == 2);
    CHECK(r.nodes["a"].spans[0].where == Json{{"executor", "local"}});  // the failed attempt too
    CHECK(r.nodes["a"].spans[1].where == Json{{"executor", "local"}});
    REQUIRE(r.nodes["b"].spans.size() == 1);
    CHECK(r.nodes["b"].spans[0].where == h.kind.where_of["b"]);
  }

  TEST_CASE("non-retryable errors fail at once" * doctest::timeout(20)) {
    Harness h(R"({"workflowId": "t", "nodes": [{"id": "a", "type": "value", "inputs": {}}]})");
    h.kind.failures["a"] = 5;
    h.kind.fail_type = ErrorType::kAuth;
    CHECK(h.Run().status == "failed");
    CHECK(h.kind.calls["a"] == 1);
  }

  TEST_CASE("--fail-fast stops everything after the first failure" * doctest::timeout(20)) {
    Harness h(R"({"workflowId": "t", "defaults": {"retry": 1}, "nodes": [
    {"id": "a", "type": "value", "inputs": {}},
    {"id": "b", "type": "value", "inputs": {}, "dependsOn": ["a"]},
    {"id": "c", "type": "value", "inputs": {}, "dependsOn": ["b"]}]})",
              1);
    h.options.fail_fast = true;
    h.kind.failures["a"] = 1;
    CHECK(h.Run().status == "failed");
    CHECK(h.kind.calls["b"] == 0);
    CHECK(h.Replay().nodes["c"].status == JournalNode::Status::kSkipped);
  }

  TEST_CASE("a pool of depth 1 never runs two of its nodes at once" * doctest::timeout(20)) {
    Harness h(R"({"workflowId": "t", "pools": {"one": 1}, "nodes": [
    {"id": "a", "type": "value", "inputs": {}, "pool": "one"},
    {"id": "b", "type": "value", "inputs": {}, "pool": "one"},
    {"id": "c", "type": "value", "inputs": {}, "pool": "one"}]})",
              8);
    for (auto id : {"a", "b", "c"}) h.kind.sleep_ms[id] = 30;
    CHECK(h.Run().status == "succeeded");
    CHECK(h.kind.peak == 1);
  }

  TEST_CASE("independent nodes run in parallel up to -j" * doctest::timeout(20)) {
    Harness h(R"({"workflowId": "t", "nodes": [
    {"id": "a", "type": "value", "inputs": {}}, {"id": "b", "type": "value", "inputs": {}},
    {"id": "c", "type": "value", "inputs": {}}, {"id": "d", "type": "value", "inputs": {}}]})",
              2);
    for (auto id : {"a", "b", "c", "d"}) h.kind.sleep_ms[id] = 60;
    CHECK(h.Run().status == "succeeded");
    CHECK(h.kind.peak == 2);
  }

  TEST_CASE("resume runs only what did not complete" * doctest::timeout(20)) {
    Harness h(kChain);
    h.kind.failures["b"] = 10;
    h.wf.nodes[1].retry.maximum_attempts = 1;
    CHECK(h.Run().status == "failed");
    CHECK(h.kind.calls["a"] == 1);
    h.kind.failures["b"] = 0;
    JournalReplay replay = h.Replay();
    RunSummary s = h.Run(&replay);
    CHECK(s.status == "succeeded");
    CHECK(h.kind.calls["a"] == 1);  // not again
    CHECK(h.kind.calls["b"] == 2);
    CHECK(h.kind.calls["c"] == 1);
  }

  TEST_CASE("an interrupt stops the run with status interrupted and exit 130" * doctest::timeout(20)) {
    Harness h(kChain);
    h.kind.wait_for_cancel.insert("a");
    std::thread interrupter([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      Executor::RequestInterrupt();
    });
    RunSummary s = h.Run();
    interrupter.join();
    Executor::ResetInterrupt();
    CHECK(s.status == "interrupted");
    CHECK(s.exit_code == 130);
    CHECK(h.kind.calls["b"] == 0);
    JournalReplay replay = h.Replay();
    CHECK(replay.nodes["a"].status != JournalNode::Status::kCompleted);
    h.kind.wait_for_cancel.clear();
    CHECK(h.Run(&replay).status == "succeeded");
    CHECK(h.kind.calls["a"] == 2);
  }

  TEST_CASE("an attempt timeout fails the attempt without waiting for it" * doctest::timeout(20)) {
    Harness h(
        R"({"workflowId": "t", "nodes": [{"id": "a", "type": "value", "inputs": {}, "timeout": "100ms", "retry": 1}]})");
    h.kind.wait_for_cancel.insert("a");
    auto start = std::chrono::steady_clock::now();
    RunSummary s = h.Run();
    CHECK(s.status == "failed");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
    CHECK(h.Replay().nodes["a"].last_error == ErrorType::kTimeout);
  }

  TEST_CASE("every durability level journals the same outcomes" * doctest::timeout(30)) {
    for (Durability d : {Durability::kFull, Durability::kBatch, Durability::kNone}) {
      Harness h(kChain);
      h.options.durability = d;
      CHECK(h.Run().status == "succeeded");
      CHECK(h.Replay().nodes["c"].status == JournalNode::Status::kCompleted);
    }
  }
}

TEST_SUITE("Executor") {
  TEST_CASE("batch durability: a dependent starts after its dependency's record is synced; leaves share syncs" *
            doctest::timeout(30)) {
    // 30 independent nodes, one at a time, 5 ms each, and a chain a -> b. Shell, not value:
    // value is free of side effects, so nothing ever waits for its records.
    std::string nodes = R"({"id": "a", "type": "shell", "inputs": {"argv": ["a"]}},
                         {"id": "b", "type": "shell", "inputs": {"argv": ["<<a.stdout>>"]}})";
    for (int i = 0; i < 30; ++i)
      nodes += fmt::format(R"(, {{"id": "i{}", "type": "shell", "inputs": {{"argv": ["i"]}}}})", i);
    Harness h(R"({"workflowId": "t", "nodes": [)" + nodes + "]}", 1);
    h.options.durability = Durability::kBatch;
    for (int i = 0; i < 30; ++i) h.kind.sleep_ms["i" + std::to_string(i)] = 5;
    h.kind.outputs_of["a"] = {{"stdout", "x"}};
    std::string err;
    auto journal = JournalWriter::Open(h.journal_path, Durability::kBatch, &err);
    REQUIRE(journal);
    REQUIRE(journal->Append({{"type", "header"}, {"format", 1}, {"runId", "r1"}, {"workflow", h.wf.document}}, false,
                            &err));
    JournalWriter* j = journal.get();
    std::atomic<uint64_t> syncs_when_a_ran{0}, syncs_when_b_ran{0};
    h.kind.on_run = [&](const std::string& id) {
      if (id == "a") syncs_when_a_ran = j->sync_count();
      if (id == "b") syncs_when_b_ran = j->sync_count();
    };
    uint64_t base = journal->sync_count();
    {
      h.options.run_dir = RunDirectory(h.options.out_dir, "r1");
      Executor executor(h.wf, h.options, "r1", j, [&h](const std::string&) -> NodeKind* { return &h.kind; });
      CHECK(executor.Run().status == "succeeded");
    }
    // b waited for an fsync made after a ran (one that covered a's completed record).
    CHECK(syncs_when_b_ran > syncs_when_a_ran);
    // The leaves need no fsync each (a crash may lose their records, and they would run again):
    // 31 proof records, a handful of fsyncs (a's group, the periodic one, the final one).
    uint64_t syncs = journal->sync_count() - base;
    MESSAGE(syncs << " fsyncs for 31 completed records");
    CHECK(syncs <= 6);
    journal.reset();
    JournalReplay r = h.Replay();
    CHECK(r.nodes.size() == 32);
    CHECK(r.nodes["i29"].status == JournalNode::Status::kCompleted);
  }

  TEST_CASE("a node that cannot start fails (no hang): missing implementation, unresolvable input" *
            doctest::timeout(20)) {
    Harness h(R"({"workflowId": "t", "nodes": [
    {"id": "a", "type": "shell", "inputs": {"argv": ["x"]}},
    {"id": "b", "type": "value", "inputs": {"v": "<<c.w.missing>>"}},
    {"id": "c", "type": "value", "inputs": {"w": 1}}]})");
    std::string err;
    auto journal = JournalWriter::Open(h.journal_path, h.options.durability, &err);
    REQUIRE(journal);
    journal->Append({{"type", "header"}, {"format", 1}, {"runId", "r1"}, {"workflow", h.wf.document}}, true, &err);
    h.options.run_dir = RunDirectory(h.options.out_dir, "r1");
    Executor executor(h.wf, h.options, "r1", journal.get(),
                      [&h](const std::string& type) -> NodeKind* { return type == "shell" ? nullptr : &h.kind; });
    RunSummary s = executor.Run();
    CHECK(s.status == "failed");
    JournalReplay r = h.Replay();
    CHECK(r.nodes["a"].last_error == ErrorType::kInternal);
    CHECK(r.nodes["b"].last_error == ErrorType::kInvalidInput);  // c.w is a number: no field
    CHECK(r.nodes["b"].last_message.find("missing") != std::string::npos);
  }
}

// Real shell nodes: their programs run on the executor thread (backends/process_runner.h).
namespace {

RunSummary RunWithRealKinds(Harness& h) {
  std::string err;
  auto journal = JournalWriter::Open(h.journal_path, h.options.durability, &err);
  REQUIRE_MESSAGE(journal, err);
  REQUIRE(
      journal->Append({{"type", "header"}, {"format", 1}, {"runId", "r1"}, {"workflow", h.wf.document}}, true, &err));
  h.options.run_dir = RunDirectory(h.options.out_dir, "r1");
  Executor executor(h.wf, h.options, "r1", journal.get());
  return executor.Run();
}

std::string NodeDir(const Harness& h, const std::string& node) {
  return AbsolutePath(h.options.out_dir) + "/runs/r1/" + node;
}

/// Reads the pid a program wrote to `path`, waiting (bounded) for the file.
pid_t ReadPid(const std::string& path) {
  for (int i = 0; i < 800; ++i) {
    std::ifstream in(path);
    pid_t pid = 0;
    if (in >> pid && pid > 0) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return 0;
}

/// True once `pid` has exited (gone, or a zombie waiting for init).
bool WaitGone(pid_t pid) {
  for (int i = 0; i < 400; ++i) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    size_t paren = line.rfind(')');
    if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z') return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

}  // namespace

TEST_SUITE("Executor") {
  TEST_CASE("shell nodes: outputs, stdin, exit codes, errors, default cwd" * doctest::timeout(60)) {
    Harness h(R"({"workflowId": "t", "nodes": [
    {"id": "json", "type": "shell", "inputs": {"argv": ["sh", "-c", "echo '{\"n\": 3}'; pwd >&2"]}},
    {"id": "in", "type": "shell", "inputs": {"argv": ["cat"], "stdin": "hello", "env": {"X": 1}}},
    {"id": "env", "type": "shell", "inputs": {"shell": true, "command": "printf %s \"$COMFYRUN_T\"", "env": {"COMFYRUN_T": "v"}}},
    {"id": "code", "type": "shell", "inputs": {"shell": true, "command": "exit 4", "okExitCodes": [0, 4]}},
    {"id": "bad", "type": "shell", "inputs": {"shell": true, "command": "echo oops >&2; exit 5"}, "retry": 1},
    {"id": "missing", "type": "shell", "inputs": {"argv": ["comfyrun-no-such-program-xyz"]}, "retry": 1},
    {"id": "signal", "type": "shell", "inputs": {"shell": true, "command": "kill -TERM $$"}, "retry": 1},
    {"id": "utf8", "type": "shell", "inputs": {"shell": true, "command": "printf 'a\\377b'"}}]})",
              2);
    RunSummary s = RunWithRealKinds(h);
    CHECK(s.status == "failed");
    JournalReplay r = h.Replay();
    CHECK(r.nodes["json"].outputs["n"] == 3);
    CHECK(r.nodes["json"].outputs["stderr"] == NodeDir(h, "json") + "\n");  // its folder is its cwd
    CHECK(r.nodes["in"].outputs["stdout"] == "hello");
    CHECK(r.nodes["env"].outputs["stdout"] == "v");
    CHECK(r.nodes["code"].outputs["exitCode"] == 4);
    CHECK(r.nodes["bad"].last_error == ErrorType::kExecution);
    CHECK(r.nodes["bad"].last_message.find("'/bin/sh' exited with code 5: oops") == 0);
    CHECK(r.nodes["missing"].last_error == ErrorType::kInvalidInput);
    CHECK(r.nodes["missing"].last_message.find("cannot run 'comfyrun-no-such-program-xyz'") == 0);
    CHECK(r.nodes["signal"].last_error == ErrorType::kExecution);
    CHECK(r.nodes["signal"].last_message.find("'/bin/sh' was killed by signal 15") == 0);
    CHECK(r.nodes["utf8"].status == JournalNode::Status::kCompleted);
    CHECK(r.nodes["utf8"].outputs["stdout"] ==
          "a\xEF\xBF\xBD"
          "b");  // U+FFFD for the bad byte
  }

  TEST_CASE("a shell node's timeout stops its program and what it started" * doctest::timeout(60)) {
    Harness h(R"({"workflowId": "t", "nodes": [
    {"id": "slow", "type": "shell", "inputs": {"shell": true, "command": "sleep 311 & echo $! > pid; wait"},
     "timeout": "500ms", "retry": 1}]})");
    pid_t grandchild = 0;
    std::thread watcher([&] { grandchild = ReadPid(NodeDir(h, "slow") + "/pid"); });
    RunSummary s = RunWithRealKinds(h);
    watcher.join();
    CHECK(s.status == "failed");
    CHECK(h.Replay().nodes["slow"].last_error == ErrorType::kTimeout);
    REQUIRE(grandchild > 0);
    CHECK(WaitGone(grandchild));
  }

  TEST_CASE("an interrupt stops running shell programs; the journal says Cancelled, not completed" *
            doctest::timeout(60)) {
    Harness h(R"({"workflowId": "t", "nodes": [
    {"id": "long", "type": "shell", "inputs": {"shell": true, "command": "sleep 312 & echo $! > pid; wait"}}]})");
    pid_t grandchild = 0;
    std::thread interrupter([&] {
      grandchild = ReadPid(NodeDir(h, "long") + "/pid");
      Executor::RequestInterrupt();
    });
    RunSummary s = RunWithRealKinds(h);
    interrupter.join();
    Executor::ResetInterrupt();
    CHECK(s.status == "interrupted");
    CHECK(s.exit_code == 130);
    REQUIRE(grandchild > 0);
    CHECK(WaitGone(grandchild));
    JournalReplay r = h.Replay();
    CHECK(r.nodes["long"].status != JournalNode::Status::kCompleted);
    CHECK(r.nodes["long"].last_error == ErrorType::kCancelled);
  }

  TEST_CASE("--fail-fast stops the other running shell programs" * doctest::timeout(60)) {
    // `fails` waits until `other` has started its grandchild, then fails.
    Harness h(R"({"workflowId": "t", "nodes": [
    {"id": "other", "type": "shell", "inputs": {"shell": true, "command": "sleep 313 & echo $! > pid; wait"}},
    {"id": "fails", "type": "shell", "inputs": {"shell": true,
     "command": "i=0; while [ ! -s ../other/pid ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done; exit 1"},
     "retry": 1}]})",
              2);
    h.options.fail_fast = true;
    RunSummary s = RunWithRealKinds(h);
    CHECK(s.status == "failed");
    JournalReplay r = h.Replay();
    CHECK(r.nodes["fails"].last_error == ErrorType::kExecution);
    CHECK(r.nodes["other"].last_error == ErrorType::kCancelled);
    pid_t grandchild = ReadPid(NodeDir(h, "other") + "/pid");
    REQUIRE(grandchild > 0);
    CHECK(WaitGone(grandchild));
  }
}
