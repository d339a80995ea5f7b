// The Slurm backend against a real single-node Slurm (tests/support/slurm_cluster.h): state
// mapping, submitting shell attempts, a failing job's log in its error, the journal records
// (name before sbatch, id after), adopting a job by id and by name instead of submitting
// again, one squeue per poll interval for all jobs, detaching and cancelling.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "comfyrun/backends/slurm/slurm_backend.h"
#include "comfyrun/backends/slurm/slurm_client.h"
#include "comfyrun/backends/slurm/slurm_routing.h"
#include "comfyrun/cli/doctor.h"
#include "comfyrun/core/workflow.h"
#include "comfyrun/nodes/builtin_nodes.h"
#include "support/slurm_cluster.h"

using namespace comfyrun;
namespace fs = std::filesystem;

namespace {

/// A fresh folder for one test's run, removed at the end.
struct TempRun {
  fs::path dir;
  TempRun() {
    char tmpl[] = "/tmp/comfyrun-slurm-run.XXXXXX";
    dir = mkdtemp(tmpl);
  }
  ~TempRun() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

/// Records what the backend journals, in order.
struct Records {
  std::mutex mu;
  std::vector<Json> list;
  std::vector<Json> Get() {
    std::lock_guard<std::mutex> lock(mu);
    return list;
  }
};

std::shared_ptr<NodeContext> ShellContext(const TempRun& run, const std::string& node, const std::string& command,
                                          Records* records) {
  auto ctx = std::make_shared<NodeContext>();
  ctx->run_id = "t" + std::to_string(getpid());
  ctx->node_id = node;
  ctx->type = "shell";
  ctx->run_dir = run.dir.string();
  ctx->node_dir = (run.dir / node).string();
  fs::create_directories(ctx->node_dir);
  ctx->inputs = {{"shell", true}, {"command", command}};
  if (records)
    ctx->record_submission = [records](const Json& s) {
      std::lock_guard<std::mutex> lock(records->mu);
      records->list.push_back(s);
    };
  return ctx;
}

SlurmBackendOptions FastOptions() {
  SlurmBackendOptions o;
  o.poll_interval = 0.3;
  return o;
}

/// Starts one attempt and returns its future result.
std::future<NodeResult> StartAttempt(Backend& backend, const std::shared_ptr<NodeContext>& ctx) {
  auto promise = std::make_shared<std::promise<NodeResult>>();
  auto future = promise->get_future();
  backend.Start(*ShellNodeKind(), ctx, [promise](NodeResult r) { promise->set_value(std::move(r)); });
  return future;
}

NodeResult Await(std::future<NodeResult>& f, double seconds = 90) {
  REQUIRE(f.wait_for(std::chrono::duration<double>(seconds)) == std::future_status::ready);
  return f.get();
}

int CountLines(const fs::path& p) {
  std::ifstream in(p);
  int n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

void RequireCluster() {
  const auto& c = testing::SharedSlurmCluster();
  INFO(c.error);
  REQUIRE(c.ok);  // a test that cannot start Slurm fails; it does not skip
}

}  // namespace

namespace {

/// Stands in for LocalBackends: one backend, named "local".
class FakeLocal : public BackendSet {
 public:
  class B : public Backend {
   public:
    const char* name() const override { return "local"; }
    void Start(NodeKind&, std::shared_ptr<NodeContext>, AttemptDone) override {}
    void Cancel(NodeKind&, const std::shared_ptr<NodeContext>&) override {}
  };
  Backend* For(const WorkflowNode&, const NodeKind&, std::string*) override { return &b; }
  void Wait(double, int) override {}
  void Shutdown() override {}
  B b;
};

}  // namespace

TEST_SUITE("slurm") {
  TEST_CASE("routing: Slurm pools, --executor slurm and re-attached jobs go to Slurm; the rest stays local") {
    Workflow wf;
    std::vector<Diagnostic> diags;
    REQUIRE(LoadWorkflowText(
        R"({"pools": {"heavy": {"executor": "slurm", "slots": 4}},
            "nodes": [{"id": "a", "type": "shell", "pool": "heavy", "inputs": {"argv": ["true"]}},
                      {"id": "b", "type": "shell", "inputs": {"argv": ["true"]}},
                      {"id": "v", "type": "value", "pool": "heavy", "inputs": {"value": 1}},
                      {"id": "c", "type": "shell", "inputs": {"argv": ["true"]}}]})",
        "w.json", {}, &wf, &diags));
    NodeKind* shell = ShellNodeKind();
    NodeKind* value = ValueNodeKind();
    std::string err;
    {
      SlurmRoutingOptions o;
      o.resumed_on_slurm = {"c"};
      SlurmRouting routing(wf, std::make_unique<FakeLocal>(), o);
      CHECK(std::string(routing.For(wf.nodes[0], *shell, &err)->name()) == "slurm");
      CHECK(std::string(routing.For(wf.nodes[1], *shell, &err)->name()) == "local");
      CHECK(std::string(routing.For(wf.nodes[3], *shell, &err)->name()) == "slurm");  // a job to re-attach to
      CHECK(routing.For(wf.nodes[2], *value, &err) == nullptr);
      CHECK(err.find("cannot run in Slurm pool") != std::string::npos);
    }
    SlurmRoutingOptions all;
    all.all_process_nodes = true;
    CHECK(SlurmRouting::Needed(wf, all));
    SlurmRouting routing(wf, std::make_unique<FakeLocal>(), all);
    CHECK(std::string(routing.For(wf.nodes[1], *shell, &err)->name()) == "slurm");
    Workflow plain;
    REQUIRE(LoadWorkflowText(R"({"nodes": [{"id": "a", "type": "value"}]})", "w.json", {}, &plain, &diags));
    CHECK_FALSE(SlurmRouting::Needed(plain, SlurmRoutingOptions{}));
    CHECK(IsSlurmSubmission(Json{{"backend", "slurm"}, {"jobName", "x"}}));
    CHECK_FALSE(IsSlurmSubmission(Json{{"promptId", "x"}}));
  }

  TEST_CASE("Slurm states map to typed errors; PREEMPTED and NODE_FAIL are retryable") {
    CHECK(InterpretSlurmState("COMPLETED").succeeded);
    CHECK_FALSE(InterpretSlurmState("RUNNING").terminal);
    CHECK_FALSE(InterpretSlurmState("PENDING").terminal);
    CHECK_FALSE(InterpretSlurmState("COMPLETING").terminal);
    CHECK(InterpretSlurmState("FAILED").error == ErrorType::kExecution);
    CHECK(InterpretSlurmState("TIMEOUT").error == ErrorType::kTimeout);
    CHECK(InterpretSlurmState("OUT_OF_MEMORY").error == ErrorType::kExecution);
    CHECK(InterpretSlurmState("CANCELLED by 0").error == ErrorType::kCancelled);
    for (const char* s : {"PREEMPTED", "NODE_FAIL"}) {
      CAPTURE(s);
      CHECK(InterpretSlurmState(s).terminal);
      CHECK(InterpretSlurmState(s).retryable);
      CHECK(InterpretSlurmState(s).error == ErrorType::kUnavailable);
    }
    CHECK_FALSE(InterpretSlurmState("FAILED").retryable);
    CHECK_FALSE(InterpretSlurmState("TIMEOUT").retryable);
  }

  TEST_CASE("squeue lines parse") {
    auto jobs = ParseSqueueLines("12|cr-a|RUNNING|None|node1\n13|cr-b|PENDING|Resources|\n\n");
    REQUIRE(jobs.size() == 2);
    CHECK(jobs[0].id == "12");
    CHECK(jobs[0].nodes == "node1");
    CHECK(jobs[1].state == "PENDING");
    CHECK(jobs[1].reason == "Resources");
  }

  TEST_CASE("sacct lines parse: exit code, node, a job listed twice counts by its last line") {
    // As `sacct -X --parsable2 --noheader --format=JobIDRaw,JobName,State,ExitCode,NodeList`
    // prints them (Slurm 22.05): "None assigned" for a job that never got a node.
    auto jobs = ParseSacctLines(
        "41|cr-r-a-a1-0a1b2c|COMPLETED|0:0|localhost\n"
        "42|cr-r-b-a1-3d4e5f|FAILED|3:0|localhost\n"
        "43|cr-r-c-a1-6a7b8c|CANCELLED by 0|0:15|None assigned\n"
        "\n"
        "42|cr-r-b-a1-3d4e5f|TIMEOUT|0:0|gpu07\n");
    REQUIRE(jobs.size() == 3);
    CHECK(jobs[0].id == "41");
    CHECK(jobs[0].name == "cr-r-a-a1-0a1b2c");
    CHECK(jobs[0].state == "COMPLETED");
    CHECK(jobs[0].exit_code == "0:0");
    CHECK(jobs[0].nodes == "localhost");
    CHECK(jobs[1].state == "TIMEOUT");  // the later line of job 42
    CHECK(jobs[1].nodes == "gpu07");
    CHECK(jobs[2].nodes.empty());
    CHECK(InterpretSlurmState(jobs[2].state).error == ErrorType::kCancelled);
  }

  TEST_CASE("accounting is known from scontrol show config; the test cluster keeps none") {
    CHECK_FALSE(
        AccountingConfigured("AccountingStorageHost   = (null)\nAccountingStorageType   = accounting_storage/none\n"));
    CHECK(
        AccountingConfigured("AccountingStorageHost   = db1\nAccountingStorageType   = accounting_storage/slurmdbd\n"));
    CHECK_FALSE(AccountingConfigured("ClusterName             = cluster\n"));
    RequireCluster();
    SlurmClient client;
    bool yes = true;
    std::string err;
    REQUIRE(client.HasAccounting(&yes, &err));
    CHECK_FALSE(yes);
  }

  TEST_CASE("a pool's object form: slots, executor slurm, partition, sbatch; bad ones name their JSON path") {
    Workflow wf;
    std::vector<Diagnostic> diags;
    REQUIRE(LoadWorkflowText(
        R"({"pools": {"heavy": {"executor": "slurm", "partition": "gpu", "slots": 50, "sbatch": ["--gres=gpu:1"]},
                      "light": {"slots": 3}, "veo": 2},
            "nodes": [{"id": "a", "type": "shell", "pool": "heavy", "inputs": {"argv": ["true"]}}]})",
        "w.json", {}, &wf, &diags));
    CHECK(wf.pools.at("heavy") == 50);
    CHECK(wf.pools.at("light") == 3);
    CHECK(wf.pools.at("veo") == 2);
    REQUIRE(wf.pool_executors.count("heavy") == 1);
    CHECK(wf.pool_executors.count("light") == 0);
    CHECK(wf.pool_executors.at("heavy").partition == "gpu");
    CHECK(wf.pool_executors.at("heavy").sbatch == std::vector<std::string>{"--gres=gpu:1"});
    struct Bad {
      const char* pools;
      const char* path;
      const char* message;
    };
    for (const Bad& b : std::vector<Bad>{
             {R"({"h": {"executor": "kubernetes"}})", "$.pools.h.executor", "executor is \"local\" or \"slurm\""},
             {R"({"h": {"executor": "slurm", "slots": 0}})", "$.pools.h.slots", "slots is a whole number"},
             {R"({"h": {"executor": "slurm", "sbatch": ["gres=1"]}})", "$.pools.h.sbatch[0]", "starting with '-'"},
             {R"({"h": {"executor": "slurm", "qos": "x"}})", "$.pools.h.qos", "unknown field"},
             {R"({"h": {"partition": "gpu"}})", "$.pools.h", "need \"executor\": \"slurm\""}}) {
      CAPTURE(b.pools);
      Workflow w;
      std::vector<Diagnostic> d;
      CHECK_FALSE(
          LoadWorkflowText(std::string(R"({"pools": )") + b.pools + R"(, "nodes": [{"id": "a", "type": "value"}]})",
                           "w.json", {}, &w, &d));
      REQUIRE_FALSE(d.empty());
      CHECK(d[0].json_path == b.path);
      CHECK(d[0].message.find(b.message) != std::string::npos);
    }
  }

  TEST_CASE("a shell attempt runs as a Slurm job: name journaled before the id, outputs from its stdout") {
    RequireCluster();
    TempRun run;
    Records records;
    SlurmBackend backend(FastOptions());
    auto ctx = ShellContext(run, "hello", "echo '{\"answer\": 42}'; echo to-stderr >&2", &records);
    auto f = StartAttempt(backend, ctx);
    NodeResult r = Await(f);
    INFO(r.message);
    REQUIRE(r.ok());
    CHECK(r.outputs["answer"] == 42);
    CHECK(r.outputs["exitCode"] == 0);
    CHECK(r.outputs["stderr"].get<std::string>().find("to-stderr") != std::string::npos);
    CHECK(r.outputs["slurm"]["node"] == "localhost");
    // Where it ran, for metrics, trace and report (NodeResult::where).
    CHECK(r.where == Json{{"executor", "slurm"}, {"jobId", r.outputs["slurm"]["jobId"]}, {"host", "localhost"}});
    CHECK(std::string(backend.executor()) == "slurm");
    auto recs = records.Get();
    REQUIRE(recs.size() == 2);
    CHECK(recs[0]["backend"] == "slurm");
    CHECK_FALSE(recs[0].contains("jobId"));  // the name alone, before sbatch
    CHECK(recs[1]["jobName"] == recs[0]["jobName"]);
    CHECK(recs[1]["jobId"] == r.outputs["slurm"]["jobId"]);
    // The job's log is under the node folder.
    CHECK(fs::exists(run.dir / "hello" / "slurm" / ("job-" + recs[1]["jobId"].get<std::string>() + ".log")));
  }

  TEST_CASE("a failing job: its error has the exit code and the last lines of its log") {
    RequireCluster();
    TempRun run;
    SlurmBackend backend(FastOptions());
    auto ctx = ShellContext(run, "bad", "echo line-one >&2; echo the-real-reason >&2; exit 3", nullptr);
    auto f = StartAttempt(backend, ctx);
    NodeResult r = Await(f);
    CHECK(r.error == ErrorType::kExecution);
    CHECK(r.message.find("exited with code 3") != std::string::npos);
    CHECK(r.message.find("last lines of its log") != std::string::npos);
    CHECK(r.message.find("the-real-reason") != std::string::npos);
    CHECK(r.details["slurm"]["state"] == "FAILED");
    CHECK(r.submission_finished);
  }

  TEST_CASE("a job whose folder the cluster node cannot see fails with a clear message") {
    RequireCluster();
    TempRun run;
    SlurmBackend backend(FastOptions());
    auto ctx = ShellContext(run, "invisible", "true", nullptr);
    ctx->inputs["cwd"] = "/nonexistent/comfyrun-shared-fs";  // as a folder not mounted on the node
    auto f = StartAttempt(backend, ctx);
    NodeResult r = Await(f);
    CHECK(r.error == ErrorType::kExecution);
    CHECK(r.message.find("must be on a filesystem shared by this machine and the cluster's nodes") !=
          std::string::npos);
  }

  TEST_CASE("an attempt with a recorded job id adopts the job: no second submission, one side effect") {
    RequireCluster();
    TempRun run;
    Records records;
    std::string effects = (run.dir / "effects.log").string();
    std::string cmd = "sleep 1; echo x >> " + effects + "; echo done";
    NodeResult first_result;
    {
      SlurmBackend first(FastOptions());
      auto ctx = ShellContext(run, "adopt", cmd, &records);
      auto f = StartAttempt(first, ctx);
      // Wait for the id's record, then "crash": the backend goes away with the job in flight.
      for (int i = 0; i < 200 && records.Get().size() < 2; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      REQUIRE(records.Get().size() == 2);
      first.Shutdown();
    }
    SlurmBackend second(FastOptions());
    auto ctx = ShellContext(run, "adopt", cmd, nullptr);
    ctx->attempt = 2;
    ctx->submission = records.Get().back();
    auto f = StartAttempt(second, ctx);
    NodeResult r = Await(f);
    INFO(r.message);
    REQUIRE(r.ok());
    CHECK(second.submissions() == 0);
    CHECK(r.outputs["slurm"]["jobId"] == records.Get().back()["jobId"]);
    CHECK(CountLines(effects) == 1);
  }

  TEST_CASE("a name without an id (killed between sbatch and the record) is found by name") {
    RequireCluster();
    TempRun run;
    Records records;
    std::string effects = (run.dir / "effects.log").string();
    std::string cmd = "echo x >> " + effects;
    {
      SlurmBackend first(FastOptions());
      auto ctx = ShellContext(run, "byname", cmd, &records);
      auto f = StartAttempt(first, ctx);
      (void)Await(f);
    }
    SlurmBackend second(FastOptions());
    auto ctx = ShellContext(run, "byname", cmd, nullptr);
    ctx->submission = records.Get().front();  // the name alone
    auto f = StartAttempt(second, ctx);
    NodeResult r = Await(f);
    INFO(r.message);
    REQUIRE(r.ok());
    CHECK(second.submissions() == 0);
    CHECK(CountLines(effects) == 1);
  }

  TEST_CASE("a name Slurm never saw is submitted under that name; a repeated job does not run the program again") {
    RequireCluster();
    TempRun run;
    std::string effects = (run.dir / "effects.log").string();
    std::string cmd = "echo x >> " + effects;
    std::string name = "cr-never-" + std::to_string(getpid());
    SlurmBackend backend(FastOptions());
    auto ctx = ShellContext(run, "never", cmd, nullptr);
    ctx->submission = {{"backend", "slurm"}, {"jobName", name}, {"attempt", 1}};
    auto f = StartAttempt(backend, ctx);
    NodeResult r = Await(f);
    INFO(r.message);
    REQUIRE(r.ok());
    CHECK(backend.submissions() == 1);
    // A dead comfyrun's sbatch that lands late: the same script under the same name.
    std::string script = (run.dir / "never" / "slurm" / (name + ".sh")).string();
    std::string id;
    std::string err;
    REQUIRE(backend.client().Submit({"--job-name", name, "--output", (run.dir / "never" / "late.log").string()}, script,
                                    &id, &err));
    std::string state;
    for (int i = 0; i < 300; ++i) {
      std::map<std::string, SlurmJobInfo> all;
      REQUIRE(backend.client().QueryAll(&all, &err));
      state = all[id].state;
      if (InterpretSlurmState(state).terminal) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(state == "COMPLETED");
    CHECK(CountLines(effects) == 1);
  }

  TEST_CASE("one squeue call per poll interval for all jobs") {
    RequireCluster();
    TempRun run;
    SlurmBackendOptions o = FastOptions();
    o.poll_interval = 0.5;
    SlurmBackend backend(o);
    std::vector<std::future<NodeResult>> fs;
    std::vector<std::shared_ptr<NodeContext>> ctxs;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 8; ++i) {
      ctxs.push_back(ShellContext(run, "n" + std::to_string(i), "sleep 1; echo ok", nullptr));
      fs.push_back(StartAttempt(backend, ctxs.back()));
    }
    for (auto& f : fs) CHECK(Await(f).ok());
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(backend.submissions() == 8);
    // A poll per job per interval would be ~8x this.
    CHECK(backend.polls() <= static_cast<int>(elapsed / o.poll_interval) + 2);
  }

  TEST_CASE("Cancel detaches when the run stops without --cancel-remote, and scancels otherwise") {
    RequireCluster();
    TempRun run;
    Records records;
    SlurmBackend backend(FastOptions());
    auto detached = ShellContext(run, "detached", "sleep 3; echo finished", &records);
    auto cancelled = ShellContext(run, "cancelled", "sleep 30", nullptr);
    auto f1 = StartAttempt(backend, detached);
    auto f2 = StartAttempt(backend, cancelled);
    for (int i = 0; i < 200 && records.Get().size() < 2; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    detached->cancel_requested = true;
    detached->detach_remote = true;
    backend.Cancel(*ShellNodeKind(), detached);
    cancelled->cancel_requested = true;
    // Cancel may come before the submission: the backend then does not submit at all, or
    // scancels right after; either way the result is kCancelled.
    backend.Cancel(*ShellNodeKind(), cancelled);
    NodeResult r1 = Await(f1);
    NodeResult r2 = Await(f2);
    CHECK(r1.error == ErrorType::kCancelled);
    CHECK_FALSE(r1.submission_finished);  // resume re-attaches
    CHECK(r2.error == ErrorType::kCancelled);
    CHECK(r2.submission_finished);
    // The detached job goes on and finishes: a later attempt adopts its result.
    auto again = ShellContext(run, "detached", "sleep 3; echo finished", nullptr);
    again->submission = records.Get().back();
    auto f3 = StartAttempt(backend, again);
    NodeResult r3 = Await(f3);
    INFO(r3.message);
    REQUIRE(r3.ok());
    CHECK(r3.outputs["stdout"] == "finished\n");
    if (!r2.details["slurm"]["jobId"].get<std::string>().empty()) {
      std::map<std::string, SlurmJobInfo> all;
      std::string err;
      REQUIRE(backend.client().QueryAll(&all, &err));
      CHECK(all[r2.details["slurm"]["jobId"].get<std::string>()].state.rfind("CANCELLED", 0) == 0);
    }
  }

  TEST_CASE("comfyrun doctor's slurm check asks the controller") {
    RequireCluster();
    auto check = SlurmCheck();
    REQUIRE(check);
    const DoctorCheck& c = *check;
    INFO(c.message);
    CHECK(c.status == CheckStatus::kOk);
    CHECK(c.message.find("the controller answers") != std::string::npos);
    CHECK(c.message.find("debug") != std::string::npos);
  }
}
