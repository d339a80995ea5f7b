// RunSession and the journal header codec (run/session.h, run/header.h): the header written
// by EncodeHeader decodes, every wrong type is refused with its JSON path, the hash is checked
// the same way whichever text the reader has, and a session runs, resumes and leaves no lock.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "comfyrun/core/json_fast.h"
#include "comfyrun/core/util.h"
#include "comfyrun/core/validate.h"
#include "comfyrun/engine/journal.h"
#include "comfyrun/run/header.h"
#include "comfyrun/run/layout.h"
#include "comfyrun/run/session.h"

using namespace comfyrun;

namespace {

Workflow Build(const std::string& text) {
  Workflow wf;
  std::vector<Diagnostic> diags;
  REQUIRE(BuildWorkflow(Json::parse(text), "wf.json", {}, &wf, &diags));
  REQUIRE(ValidateWorkflow(&wf, &diags));
  return wf;
}

const char* kWorkflow = R"({"workflowId": "sess", "params": {"who": "w\u00e9rld \u0001\t"},
  "nodes": [{"id": "a", "type": "value", "inputs": {"x": 1.5, "y": 1e300, "z": -0.0, "s": "<<params.who>>"}},
            {"id": "b", "type": "value", "inputs": {"from": "<<a.x>>", "big": 12345678901234567890}}]})";

RunOptions Options(const std::string& out) {
  RunOptions o;
  o.out_dir = out;
  o.jobs = 3;
  o.max_cost = 2.5;
  o.status_mode = StatusPrinter::Mode::kQuiet;
  o.config.offline = true;
  o.config.comfyui_servers = {"http://127.0.0.1:1"};
  return o;
}

}  // namespace

TEST_SUITE("RunSession") {
  TEST_CASE("the header EncodeHeader writes decodes to the run's options") {
    Workflow wf = Build(kWorkflow);
    Json header = EncodeHeader(&wf, "sess-1", Options("out"));
    JournalHeader h;
    std::string err;
    REQUIRE_MESSAGE(DecodeHeader(header, false, &h, &err), err);
    CHECK(h.run_id == "sess-1");
    CHECK(h.workflow_id == "sess");
    CHECK(h.options.jobs == 3);
    CHECK(h.options.max_cost == 2.5);
    CHECK(h.options.offline == true);
    CHECK(h.options.comfyui->size() == 1);
    CHECK(h.options.out == AbsolutePath("out"));
    CHECK_FALSE(h.is_abtest);
    REQUIRE(h.params.size() == 1);
    CHECK(h.params[0].name == "who");
    std::string text;
    AppendJson(&text, header["workflow"]);
    CHECK(CheckHeaderHash(header, text, &err));
  }

  TEST_CASE("every field of a damaged header is refused with its JSON path") {
    Workflow wf = Build(kWorkflow);
    const Json good = EncodeHeader(&wf, "sess-1", Options("out"));
    struct Case {
      const char* pointer;
      Json value;
      const char* path;
    };
    const Case cases[] = {
        {"/runId", 5, "$.runId"},
        {"/runId", "../x", "$.runId"},
        {"/runId", "", "$.runId"},
        {"/workflowId", 5, "$.workflowId"},
        {"/workflowId", Json::array(), "$.workflowId"},
        {"/file", false, "$.file"},
        {"/workflow", "x", "$.workflow"},
        {"/params", "x", "$.params"},
        {"/hash", 5, "$.hash"},
        {"/options", "x", "$.options"},
        {"/options/jobs", "many", "$.options.jobs"},
        {"/options/jobs", 0, "$.options.jobs"},
        {"/options/jobs", 2.5, "$.options.jobs"},
        {"/options/out", 1, "$.options.out"},
        {"/options/durability", "sometimes", "$.options.durability"},
        {"/options/offline", "yes", "$.options.offline"},
        {"/options/failFast", 1, "$.options.failFast"},
        {"/options/maxCost", "lots", "$.options.maxCost"},
        {"/options/maxCost", -2, "$.options.maxCost"},
        {"/options/comfyui", "http://x", "$.options.comfyui"},
        {"/options/comfyui", Json::array({1}), "$.options.comfyui[0]"},
        {"/options/cache", "maybe", "$.options.cache"},
        {"/abtest", "x", "$.abtest"},
        {"/abtest", Json::object(), "$.abtest.variants"},
        {"/abtest", Json{{"variants", Json::array({Json{{"variantId", 3}}})}}, "$.abtest.variants[0].variantId"},
        {"/abtest", Json{{"variants", Json::array({Json{{"variantId", "a"}, {"nodes", Json::array({1})}}})}},
         "$.abtest.variants[0].nodes[0]"},
        {"/abtest",
         Json{{"variants", Json::array()}, {"runs", Json::array({Json{{"variantId", "a"}, {"repeat", "x"}}})}},
         "$.abtest.runs[0].repeat"},
        {"/format", "one", "$.format"},
        {"/t", "now", "$.t"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.pointer);
      Json header = good;
      header[Json::json_pointer(c.pointer)] = c.value;
      JournalHeader h;
      std::string err;
      CHECK_FALSE(DecodeHeader(header, false, &h, &err));
      CHECK_MESSAGE(err.rfind(std::string(c.path) + ":", 0) == 0, err);
    }
    Json header = good;
    header.erase("runId");
    JournalHeader h;
    std::string err;
    CHECK_FALSE(DecodeHeader(header, false, &h, &err));
    CHECK(err.find("$.runId: missing") == 0);
    CHECK_FALSE(DecodeHeader(Json::array(), false, &h, &err));
  }

  TEST_CASE("the hash is checked on the header's text as the reader hands it over") {
    Workflow wf = Build(kWorkflow);
    Json header = EncodeHeader(&wf, "sess-1", Options("out"));
    {
      std::ofstream f("j.jsonl");
      std::string line;
      AppendJson(&line, header);
      f << line << "\n";
    }
    // The text the reader keeps (simdjson's) must hash as the writer's (AppendJson) did:
    // escapes, non-ASCII, large and negative-zero numbers included.
    std::string text;
    JournalReadOptions read;
    read.on_header = [&](const Json&, HeaderWorkflow& workflow) { text = workflow.Text(); };
    JournalReplay replay;
    std::string err;
    REQUIRE(ReadJournal("j.jsonl", read, &replay, &err));
    CHECK_MESSAGE(CheckHeaderHash(header, text, &err), err);
    Json edited = header;
    edited["workflow"]["nodes"][0]["inputs"]["x"] = 2;
    std::string edited_text;
    AppendJson(&edited_text, edited["workflow"]);
    CHECK_FALSE(CheckHeaderHash(header, edited_text, &err));
    CHECK(err.find("$.hash") == 0);
    Json params_edited = header;
    params_edited["params"]["who"] = "someone else";
    CHECK_FALSE(CheckHeaderHash(params_edited, text, &err));
  }

  TEST_CASE("a session runs a workflow, leaves no lock file, and resumes to 'already succeeded'" *
            doctest::timeout(30)) {
    std::string err;
    auto session = RunSession::Start(Build(kWorkflow), Options("out"), {}, &err);
    REQUIRE_MESSAGE(session, err);
    const std::string journal = session->journal_path();
    CHECK(journal == DefaultJournalPath("out", session->run_id()));
    CHECK(std::filesystem::exists(journal + ".lock"));  // held while the run lives
    RunSummary summary = session->Execute();
    CHECK(summary.status == "succeeded");
    CHECK(summary.metrics_path == MetricsPath("out", session->run_id()));
    CHECK(std::filesystem::exists(summary.metrics_path));
    CHECK(session->state().nodes.at("b").status == JournalNode::Status::kCompleted);
    CHECK_FALSE(std::filesystem::exists(journal + ".lock"));
    session.reset();

    std::vector<Diagnostic> diags;
    auto again = RunSession::Resume(journal, {}, &diags, &err);
    REQUIRE_MESSAGE(again, err);
    CHECK(again->already_succeeded());
    CHECK(again->run_id() == summary.run_id);
  }

  TEST_CASE("Start refuses a directory as --journal and an empty --out; Resume refuses a damaged header") {
    std::string err;
    std::filesystem::create_directories("jdir");
    StartOptions start;
    start.journal = "jdir";
    CHECK_FALSE(RunSession::Start(Build(kWorkflow), Options("out"), start, &err));
    CHECK(err.find("is a directory") != std::string::npos);
    CHECK_FALSE(RunSession::Start(Build(kWorkflow), Options(" "), {}, &err));
    CHECK(err.find("empty path") != std::string::npos);

    Workflow wf = Build(kWorkflow);
    Json header = EncodeHeader(&wf, "sess-2", Options("out"));
    header["options"]["jobs"] = "many";
    std::ofstream("bad.jsonl") << header.dump() << "\n";
    std::vector<Diagnostic> diags;
    CHECK_FALSE(RunSession::Resume("bad.jsonl", {}, &diags, &err));
    CHECK(err.find("bad.jsonl: damaged journal header: $.options.jobs") == 0);
    CHECK_FALSE(std::filesystem::exists("bad.jsonl.lock"));
  }

  TEST_CASE("a lock file removed by its last holder is never the lock of two processes") {
    // A writer that opened the old lock file before its holder removed it must not think it
    // holds the lock once it gets the flock: it opens the path again.
    std::string err;
    auto first = JournalWriter::Open("l.jsonl", Durability::kNone, &err);
    REQUIRE(first);
    CHECK(IsCurrentLockFile(open("l.jsonl.lock", O_RDONLY), "l.jsonl"));
    first.reset();
    CHECK_FALSE(std::filesystem::exists("l.jsonl.lock"));
    auto second = JournalWriter::Open("l.jsonl", Durability::kNone, &err);
    REQUIRE(second);
    CHECK(JournalLockHolder("l.jsonl") == getpid());
  }
}
