// Journal tests: round trip, replay folding, torn tails at every byte offset, locking across
// processes, group commit under threads, and disk-full behaviour (ninja build_log_test.cc is
// the model for the truncation test).
#include "comfyrun/engine/journal.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "comfyrun/core/json_fast.h"
#include "comfyrun/core/workflow.h"

using namespace comfyrun;

namespace {

Json Header(int format = kJournalFormat) {
  return Json{{"type", "header"},         {"format", format},  {"runId", "r1"},
              {"workflowId", "wf"},       {"file", "wf.json"}, {"workflow", {{"a", 1}}},
              {"params", Json::object()}, {"hash", "abc"},     {"options", Json::object()},
              {"comfyrun", "0.1.0"},      {"t", 1000}};
}

/// Every record type, in a plausible order: two nodes, one retried, a submission, a skip.
std::vector<Json> SampleRecords() {
  return {
      Header(),
      {{"type", "run_started"}, {"pid", 42}, {"resume", 0}, {"t", 1001}},
      {{"type", "node_started"}, {"node", "img"}, {"attempt", 1}, {"t", 1002}},
      {{"type", "submitted"},
       {"node", "img"},
       {"attempt", 1},
       {"submission", {{"provider", "veo"}, {"id", "op/1"}}},
       {"t", 1003}},
      {{"type", "attempt_failed"},
       {"node", "img"},
       {"attempt", 1},
       {"error", "RateLimited"},
       {"message", "429"},
       {"cost", 0.25},
       {"retryIn", 2},
       {"submissionFinished", true},
       {"t", 1004}},
      {{"type", "node_started"}, {"node", "img"}, {"attempt", 2}, {"t", 1005}},
      {{"type", "completed"},
       {"node", "img"},
       {"attempt", 2},
       {"outputs", {{"image", "out/a.png"}}},
       {"cost", 0.5},
       {"provider", "gemini"},
       {"model", "flash"},
       {"startedAt", 1005},
       {"durationMs", 900},
       {"queueWaitMs", 12},
       {"cached", false},
       {"t", 1006}},
      {{"type", "node_started"}, {"node", "vid"}, {"attempt", 1}, {"t", 1007}},
      {{"type", "node_failed"},
       {"node", "vid"},
       {"attempts", 1},
       {"error", "ContentBlocked"},
       {"message", "blocked"},
       {"t", 1008}},
      {{"type", "node_skipped"}, {"node", "mux"}, {"because", "vid"}, {"t", 1009}},
      {{"type", "run_finished"}, {"status", "failed"}, {"durationMs", 8}, {"totalCost", 0.75}, {"t", 1010}},
  };
}

bool IsProof(const Json& rec) { return rec["type"] == "submitted" || rec["type"] == "completed"; }

void WriteRecords(const std::string& path, const std::vector<Json>& records, Durability d = Durability::kNone) {
  std::string err;
  auto w = JournalWriter::Open(path, d, &err);
  REQUIRE_MESSAGE(w, err);
  for (const Json& rec : records) REQUIRE_MESSAGE(w->Append(rec, IsProof(rec), &err), err);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Spit(const std::string& path, const std::string& data) {
  // A new file rather than O_TRUNC: ext4 flushes files truncated and rewritten (auto_da_alloc),
  // which made the every-offset tests take seconds.
  unlink(path.c_str());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

/// Reads with every record kept, so tests can look at events as well as the folded state.
JournalReplay MustRead(const std::string& path) {
  JournalReplay r;
  std::string err;
  JournalReadOptions keep;
  keep.keep_events = true;
  bool ok = ReadJournal(path, keep, &r, &err);
  REQUIRE_MESSAGE(ok, err);
  return r;
}

}  // namespace

TEST_SUITE("Journal") {
  TEST_CASE("durability names round trip" * doctest::timeout(5)) {
    for (Durability d : {Durability::kFull, Durability::kBatch, Durability::kNone}) {
      Durability parsed;
      REQUIRE(ParseDurability(DurabilityName(d), &parsed));
      CHECK(parsed == d);
    }
    Durability parsed;
    CHECK_FALSE(ParseDurability("fsync", &parsed));
  }

  TEST_CASE("every record type round trips and folds" * doctest::timeout(10)) {
    std::vector<Json> records = SampleRecords();
    WriteRecords("rt.jsonl", records, Durability::kFull);

    // Each line is exactly the record (all have "t" already), in order.
    std::istringstream lines(Slurp("rt.jsonl"));
    std::string line;
    size_t i = 0;
    while (std::getline(lines, line)) {
      REQUIRE(i < records.size());
      CHECK(Json::parse(line) == records[i]);
      ++i;
    }
    CHECK(i == records.size());

    JournalReplay r = MustRead("rt.jsonl");
    CHECK(r.header == records[0]);
    CHECK(r.records == records.size());
    CHECK_FALSE(r.torn_tail);
    CHECK(r.warnings.empty());
    CHECK(r.runs == 1);
    CHECK(r.finished);
    CHECK(r.final_status == "failed");
    CHECK(r.first_started_at == 1001);
    CHECK(r.last_event_at == 1010);
    CHECK(r.total_cost == doctest::Approx(0.75));
    CHECK(r.node_order == std::vector<std::string>{"img", "vid", "mux"});

    const JournalNode& img = r.nodes.at("img");
    CHECK(img.status == JournalNode::Status::kCompleted);
    CHECK(img.attempts == 2);
    CHECK(img.outputs == Json{{"image", "out/a.png"}});
    CHECK(img.cost == doctest::Approx(0.75));
    CHECK(img.provider == "gemini");
    CHECK(img.model == "flash");
    CHECK(img.open_submission.is_null());
    CHECK(img.last_error == ErrorType::kRateLimited);
    CHECK(img.last_message == "429");
    CHECK(img.started_at == 1002);
    CHECK(img.finished_at == 1006);
    CHECK(img.duration_ms == 900);
    CHECK(img.queue_wait_ms == 12);
    CHECK_FALSE(img.cached);
    REQUIRE(img.events.size() == 5);
    CHECK(img.events[1] == records[3]);
    CHECK(img.events[4] == records[6]);
    REQUIRE(img.spans.size() == 2);
    CHECK(img.spans[0].attempt == 1);
    CHECK(img.spans[0].start == 1002);
    CHECK(img.spans[0].end == 1004);
    CHECK(img.spans[0].outcome == AttemptSpan::Outcome::kFailed);
    CHECK(img.spans[0].error == "RateLimited");
    CHECK(img.spans[0].cost == doctest::Approx(0.25));
    CHECK(img.spans[1].attempt == 2);
    CHECK(img.spans[1].end == 1006);
    CHECK(img.spans[1].outcome == AttemptSpan::Outcome::kCompleted);
    CHECK(img.spans[1].cost == doctest::Approx(0.5));

    const JournalNode& vid = r.nodes.at("vid");
    CHECK(vid.status == JournalNode::Status::kFailed);
    CHECK(vid.last_error == ErrorType::kContentBlocked);
    CHECK(vid.last_message == "blocked");
    REQUIRE(vid.spans.size() == 1);
    CHECK(vid.spans[0].outcome == AttemptSpan::Outcome::kFailed);
    CHECK(vid.spans[0].error == "ContentBlocked");
    CHECK(r.nodes.at("mux").status == JournalNode::Status::kSkipped);
    CHECK(r.nodes.at("mux").spans.empty());

    // Without events (the default) the folded state is the same and no record is kept.
    JournalReplay lean;
    std::string err;
    REQUIRE(ReadJournal("rt.jsonl", &lean, &err));
    CHECK(lean.nodes.at("img").events.empty());
    CHECK(lean.nodes.at("img").spans.size() == 2);
    CHECK(lean.nodes.at("img").outputs == img.outputs);
    CHECK(lean.total_cost == doctest::Approx(r.total_cost));
  }

  TEST_CASE("an attempt cut short by a crash stays open; the resumed one is a new span" * doctest::timeout(5)) {
    Spit("cut-span.jsonl", Header(0).dump() + "\n" +
                               R"({"type":"node_started","node":"a","attempt":1,"t":5})"
                               "\n" +
                               R"({"type":"run_started","pid":2,"resume":1,"t":9})"
                               "\n" +
                               R"({"type":"node_started","node":"a","attempt":2,"t":10})"
                               "\n" +
                               R"({"type":"completed","node":"a","attempt":2,"outputs":{},"t":12})"
                               "\n");
    JournalReplay r = MustRead("cut-span.jsonl");
    const JournalNode& a = r.nodes.at("a");
    REQUIRE(a.spans.size() == 2);
    CHECK(a.spans[0].outcome == AttemptSpan::Outcome::kOpen);
    CHECK(a.spans[0].end == 0);
    CHECK(a.spans[1].outcome == AttemptSpan::Outcome::kCompleted);
    CHECK(a.spans[1].start == 10);
    CHECK(a.spans[1].end == 12);
  }

  TEST_CASE("a writer's mirror folds what it appends exactly as a reader would" * doctest::timeout(10)) {
    std::vector<Json> records = SampleRecords();
    JournalReplay mirror;
    {
      std::string err;
      auto w = JournalWriter::Open("mirror.jsonl", Durability::kNone, &err);
      REQUIRE_MESSAGE(w, err);
      w->MirrorInto(&mirror);
      for (size_t i = 0; i < records.size(); ++i) {
        Json rec = records[i];
        if (i == 4) rec.erase("t");  // Append stamps it; the mirror must see the stamp too
        if ((i % 2 == 1 || rec["type"] == "completed") && rec.contains("t")) {
          // Records appended as text (the executor's completed records) are folded from the
          // values JsonObjectText remembers; both kinds must give the reader's state.
          JsonObjectText text;
          for (auto it = rec.begin(); it != rec.end(); ++it) {
            const Json& v = it.value();
            if (v.is_string())
              text.Str(it.key(), v.get_ref<const std::string&>());
            else if (v.is_boolean())
              text.Bool(it.key(), v.get<bool>());
            else if (v.is_number_integer())
              text.Int(it.key(), v.get<int64_t>());
            else if (v.is_number_float())
              text.Double(it.key(), v.get<double>());
            else
              text.Value(it.key(), v);
          }
          REQUIRE_MESSAGE(w->AppendText(text, IsProof(records[i]), &err), err);
        } else {
          REQUIRE_MESSAGE(w->Append(std::move(rec), IsProof(records[i]), &err), err);
        }
      }
    }
    JournalReplay read;
    std::string err;
    REQUIRE(ReadJournal("mirror.jsonl", &read, &err));
    CHECK(mirror.header == read.header);
    CHECK(mirror.records == read.records);
    CHECK(mirror.node_order == read.node_order);
    CHECK(mirror.finished == read.finished);
    CHECK(mirror.final_status == read.final_status);
    CHECK(mirror.total_cost == doctest::Approx(read.total_cost));
    CHECK(mirror.last_event_at == read.last_event_at);
    for (const auto& id : read.node_order) {
      CAPTURE(id);
      const JournalNode& a = mirror.nodes.at(id);
      const JournalNode& b = read.nodes.at(id);
      CHECK(a.status == b.status);
      CHECK(a.attempts == b.attempts);
      CHECK(a.outputs == b.outputs);
      CHECK(a.spans.size() == b.spans.size());
      CHECK(a.last_error == b.last_error);
    }
  }

  TEST_CASE("a completed record with no node_started (an inline kind) is a whole attempt" * doctest::timeout(5)) {
    Spit(
        "inline.jsonl",
        Header().dump() + "\n" +
            R"({"type":"run_started","pid":2,"resume":0,"t":1})"
            "\n" +
            R"({"type":"completed","node":"v","attempt":1,"outputs":{"v":1},"startedAt":7,"durationMs":0,"queueWaitMs":3,"t":7})"
            "\n");
    JournalReplay r = MustRead("inline.jsonl");
    const JournalNode& v = r.nodes.at("v");
    CHECK(v.status == JournalNode::Status::kCompleted);
    CHECK(v.attempts == 1);
    CHECK(v.queue_wait_ms == 3);
    REQUIRE(v.spans.size() == 1);
    CHECK(v.spans[0].start == 7);
    CHECK(v.spans[0].end == 7);
    CHECK(v.spans[0].outcome == AttemptSpan::Outcome::kCompleted);
  }

  TEST_CASE("append adds t when missing and keeps record fields" * doctest::timeout(5)) {
    {
      std::string err;
      auto w = JournalWriter::Open("t.jsonl", Durability::kNone, &err);
      REQUIRE(w);
      CHECK(w->size() == 0);
      REQUIRE(w->Append(Header(), false, &err));
      REQUIRE(w->Append(Json{{"type", "run_started"}, {"pid", 1}, {"resume", 0}}, false, &err));
      REQUIRE(w->Append(Json::object(), false, &err));
      CHECK_FALSE(w->Append(Json::array({1, 2}), false, &err));
      CHECK(err.find("not a JSON object") != std::string::npos);
      CHECK(w->sync_count() == 0);  // kNone: no fsync before close
    }
    JournalReplay r = MustRead("t.jsonl");
    CHECK(r.runs == 1);
    CHECK(r.first_started_at > 1600000000000);  // a real unix-ms clock reading
    std::string text = Slurp("t.jsonl");
    CHECK(text.find("{\"t\":") != std::string::npos);  // the empty record got "t" too
    CHECK(r.warnings.size() == 1);                     // ...and, having no type, is skipped with a warning
  }

  TEST_CASE("replay: resume after an interrupted run" * doctest::timeout(5)) {
    std::vector<Json> recs = {
        Header(),
        {{"type", "run_started"}, {"pid", 1}, {"resume", 0}, {"t", 2000}},
        {{"type", "node_started"}, {"node", "a"}, {"attempt", 1}, {"t", 2001}},
        {{"type", "completed"}, {"node", "a"}, {"attempt", 1}, {"outputs", {{"x", 1}}}, {"cost", 1.0}, {"t", 2002}},
        {{"type", "node_started"}, {"node", "b"}, {"attempt", 1}, {"t", 2003}},
        {{"type", "submitted"}, {"node", "b"}, {"attempt", 1}, {"submission", {{"id", "job-b"}}}, {"t", 2004}},
        {{"type", "node_started"}, {"node", "c"}, {"attempt", 1}, {"t", 2005}},
        // crash: no run_finished. Then a resume.
        {{"type", "run_started"}, {"pid", 2}, {"resume", 1}, {"t", 3000}},
    };
    WriteRecords("resume.jsonl", recs);
    JournalReplay r = MustRead("resume.jsonl");
    CHECK(r.runs == 2);
    CHECK_FALSE(r.finished);
    CHECK(r.first_started_at == 2000);
    CHECK(r.nodes.at("a").status == JournalNode::Status::kCompleted);
    // Interrupted nodes stay running: the executor re-attaches b and re-runs c.
    CHECK(r.nodes.at("b").status == JournalNode::Status::kRunning);
    CHECK(r.nodes.at("b").open_submission == Json{{"id", "job-b"}});
    CHECK(r.nodes.at("c").status == JournalNode::Status::kRunning);
    CHECK(r.nodes.at("c").open_submission.is_null());

    // A finished run, then another resume: finished goes back to false.
    std::string err;
    {
      auto w = JournalWriter::Open("resume.jsonl", Durability::kNone, &err);
      REQUIRE(w);
      REQUIRE(w->Append({{"type", "run_finished"}, {"status", "interrupted"}}, false, &err));
    }
    r = MustRead("resume.jsonl");
    CHECK(r.finished);
    CHECK(r.final_status == "interrupted");
    {
      auto w = JournalWriter::Open("resume.jsonl", Durability::kNone, &err);
      REQUIRE(w);
      REQUIRE(w->Append({{"type", "run_started"}, {"pid", 3}, {"resume", 2}}, false, &err));
      REQUIRE(w->Append({{"type", "node_started"}, {"node", "c"}, {"attempt", 1}}, false, &err));
    }
    r = MustRead("resume.jsonl");
    CHECK(r.runs == 3);
    CHECK_FALSE(r.finished);
    CHECK(r.nodes.at("c").attempts == 1);  // max(attempts, attempt), not a count of records
    CHECK(r.nodes.at("c").events.size() == 2);
  }

  TEST_CASE("replay: open submission survives an unfinished failure only" * doctest::timeout(5)) {
    std::vector<Json> recs = {
        Header(),
        {{"type", "run_started"}, {"pid", 1}, {"resume", 0}},
        {{"type", "node_started"}, {"node", "v"}, {"attempt", 1}},
        {{"type", "submitted"}, {"node", "v"}, {"attempt", 1}, {"submission", {{"id", "j1"}}}},
        // Polling timed out but the remote job may still finish: keep it to re-attach.
        {{"type", "attempt_failed"},
         {"node", "v"},
         {"attempt", 1},
         {"error", "Timeout"},
         {"message", "poll timeout"},
         {"cost", 0},
         {"submissionFinished", false}},
    };
    WriteRecords("sub.jsonl", recs);
    JournalReplay r = MustRead("sub.jsonl");
    CHECK(r.nodes.at("v").open_submission == Json{{"id", "j1"}});
    CHECK(r.nodes.at("v").last_error == ErrorType::kTimeout);
    CHECK(r.nodes.at("v").status == JournalNode::Status::kRunning);

    // The job's failure was final: nothing left to re-attach ("submissionFinished" absent = true).
    recs.push_back({{"type", "attempt_failed"},
                    {"node", "v"},
                    {"attempt", 1},
                    {"error", "Execution"},
                    {"message", "job failed"},
                    {"cost", 0.4}});
    recs.push_back(
        {{"type", "node_failed"}, {"node", "v"}, {"attempts", 1}, {"error", "Execution"}, {"message", "job failed"}});
    unlink("sub.jsonl");
    WriteRecords("sub.jsonl", recs);
    r = MustRead("sub.jsonl");
    CHECK(r.nodes.at("v").open_submission.is_null());
    CHECK(r.nodes.at("v").status == JournalNode::Status::kFailed);
    CHECK(r.nodes.at("v").last_error == ErrorType::kExecution);
    CHECK(r.total_cost == doctest::Approx(0.4));
    CHECK(r.nodes.at("v").cost == doctest::Approx(0.4));
  }

  TEST_CASE("truncated at every byte offset, a journal reads as a prefix" * doctest::timeout(300)) {
    WriteRecords("full.jsonl", SampleRecords());
    std::string data = Slurp("full.jsonl");
    size_t header_end = data.find('\n') + 1;
    size_t prev_records = 0;
    for (size_t len = 0; len <= data.size(); ++len) {
      CAPTURE(len);
      Spit("cut.jsonl", data.substr(0, len));
      JournalReplay r;
      std::string err;
      bool ok = ReadJournal("cut.jsonl", &r, &err);
      if (len < header_end) {
        CHECK_FALSE(ok);
        CHECK_FALSE(err.empty());
        continue;
      }
      REQUIRE_MESSAGE(ok, err);
      size_t complete = static_cast<size_t>(std::count(data.begin(), data.begin() + len, '\n'));
      CHECK(r.records == complete);
      CHECK(r.records >= prev_records);
      prev_records = r.records;
      CHECK(r.torn_tail == (data[len - 1] != '\n'));
      CHECK(r.warnings.empty());  // a torn tail is not a bad line
    }
    CHECK(prev_records == SampleRecords().size());
  }

  TEST_CASE("the next writer cuts a torn tail and appends readable records" * doctest::timeout(300)) {
    WriteRecords("full.jsonl", SampleRecords());
    std::string data = Slurp("full.jsonl");
    size_t header_end = data.find('\n') + 1;
    // Every offset inside the last record, plus a torn header (each writer fsyncs at close, so
    // every offset of the file would be slow; the reader test above covers those).
    size_t from = data.rfind('\n', data.size() - 2);
    std::vector<size_t> offsets = {header_end / 2};
    for (size_t len = from; len < data.size(); ++len) offsets.push_back(len);
    for (size_t len : offsets) {
      CAPTURE(len);
      Spit("torn.jsonl", data.substr(0, len));
      size_t kept = data.rfind('\n', len - 1);
      kept = (kept == std::string::npos) ? 0 : kept + 1;
      std::string err;
      {
        auto w = JournalWriter::Open("torn.jsonl", Durability::kNone, &err);
        REQUIRE_MESSAGE(w, err);
        CHECK(w->size() == kept);
        if (kept == 0) REQUIRE(w->Append(Header(), false, &err));
        REQUIRE(w->Append({{"type", "node_started"}, {"node", "late"}, {"attempt", 7}}, false, &err));
      }
      JournalReplay r = MustRead("torn.jsonl");
      CHECK_FALSE(r.torn_tail);
      CHECK(r.warnings.empty());
      REQUIRE(r.nodes.count("late") == 1);
      CHECK(r.nodes.at("late").attempts == 7);
    }
  }

  TEST_CASE("a second writer is refused and told the holder's pid" * doctest::timeout(20)) {
    WriteRecords("locked.jsonl", {Header()});
    CHECK(JournalLockHolder("locked.jsonl") == 0);  // lock file left behind, but unlocked

    int to_parent[2], to_child[2];
    REQUIRE(pipe(to_parent) == 0);
    REQUIRE(pipe(to_child) == 0);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      close(to_parent[0]);
      close(to_child[1]);
      std::string err;
      auto w = JournalWriter::Open("locked.jsonl", Durability::kNone, &err);
      char c = w ? 'y' : 'n';
      if (write(to_parent[1], &c, 1) != 1) _exit(2);
      if (read(to_child[0], &c, 1) < 0) _exit(3);  // EOF when the parent is done
      _exit(w ? 0 : 1);
    }
    close(to_parent[1]);
    close(to_child[0]);
    char c = 0;
    REQUIRE(read(to_parent[0], &c, 1) == 1);
    REQUIRE(c == 'y');

    std::string err;
    auto w = JournalWriter::Open("locked.jsonl", Durability::kNone, &err);
    CHECK_FALSE(w);
    CHECK(err.find("in use by comfyrun pid " + std::to_string(child)) != std::string::npos);
    CHECK(err.find("wait for it or stop it") != std::string::npos);
    CHECK(JournalLockHolder("locked.jsonl") == child);
    // Readers are not locked out (status of a live run).
    CHECK(MustRead("locked.jsonl").records == 1);

    close(to_child[1]);
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(JournalLockHolder("locked.jsonl") == 0);  // the kernel released the dead holder's lock
    err.clear();
    w = JournalWriter::Open("locked.jsonl", Durability::kNone, &err);
    CHECK_MESSAGE(w, err);
    CHECK(JournalLockHolder("locked.jsonl") == getpid());
    // Same process, second writer: refused too.
    auto w2 = JournalWriter::Open("locked.jsonl", Durability::kNone, &err);
    CHECK_FALSE(w2);
  }

  TEST_CASE("a journal from a newer comfyrun is refused" * doctest::timeout(5)) {
    Spit("future.jsonl", Header(kJournalFormat + 1).dump() + "\n");
    JournalReplay r;
    std::string err;
    CHECK_FALSE(ReadJournal("future.jsonl", &r, &err));
    CHECK(err == "journal format 2 is newer than this comfyrun (1); upgrade comfyrun");

    Spit("nohdr.jsonl", R"({"type":"run_started","pid":1})"
                        "\n");
    CHECK_FALSE(ReadJournal("nohdr.jsonl", &r, &err));
    CHECK(err.find("not a header") != std::string::npos);
    Spit("empty.jsonl", "");
    CHECK_FALSE(ReadJournal("empty.jsonl", &r, &err));
    CHECK_FALSE(ReadJournal("missing.jsonl", &r, &err));
    CHECK(err == "no such file");

    // An older format, unknown types and unknown fields are read.
    Json old = Header(0);
    Spit("old.jsonl", old.dump() + "\n" +
                          R"({"type":"node_started","node":"a","attempt":1,"newField":[1],"t":5})"
                          "\n" +
                          R"({"type":"brand_new_type","node":"a","t":6})"
                          "\n" +
                          R"({"type":"brand_new_global","t":7})"
                          "\n");
    r = MustRead("old.jsonl");
    CHECK(r.records == 4);
    CHECK(r.warnings.empty());
    CHECK(r.nodes.at("a").status == JournalNode::Status::kRunning);
    CHECK(r.nodes.at("a").events.size() == 2);
  }

  TEST_CASE("garbage lines in the middle are skipped with a warning" * doctest::timeout(5)) {
    std::string text = Header().dump() + "\n" +
                       R"({"type":"node_started","node":"a","attempt":1})"
                       "\n" +
                       "this is not json\n" +
                       R"({"type":"node_sta)"
                       "\n" +  // a torn line that a later write followed
                       "\n" +
                       "[1,2,3]\n" +
                       R"({"type":"completed","node":"a","attempt":1,"outputs":{},"cost":2})"
                       "\n";
    Spit("garbage.jsonl", text);
    JournalReplay r = MustRead("garbage.jsonl");
    CHECK(r.records == 3);
    REQUIRE(r.warnings.size() == 3);
    CHECK(r.warnings[0].find("line 3") != std::string::npos);
    CHECK(r.nodes.at("a").status == JournalNode::Status::kCompleted);
    CHECK(r.total_cost == doctest::Approx(2));

    // Thousands of bad lines give a bounded list of warnings.
    std::string many = Header().dump() + "\n";
    for (int i = 0; i < 1000; ++i) many += "garbage\n";
    Spit("many.jsonl", many);
    r = MustRead("many.jsonl");
    CHECK(r.warnings.size() < 30);
    CHECK(r.warnings.back().find("980 more") != std::string::npos);
  }

  TEST_CASE("records longer than the read buffer are read whole" * doctest::timeout(20)) {
    std::string big(3 << 20, 'x');  // 3 MB: longer than the 1 MB read chunk
    WriteRecords("big.jsonl", {Header(),
                               {{"type", "completed"}, {"node", "a"}, {"outputs", {{"text", big}}}},
                               {{"type", "node_skipped"}, {"node", "b"}, {"because", "a"}}});
    JournalReplay r = MustRead("big.jsonl");
    CHECK(r.records == 3);
    CHECK(r.nodes.at("a").outputs["text"].get<std::string>().size() == big.size());
    CHECK(r.nodes.at("b").status == JournalNode::Status::kSkipped);
  }

  TEST_CASE("kFull syncs every proof record, and only proof records" * doctest::timeout(20)) {
    std::string err;
    auto w = JournalWriter::Open("full-sync.jsonl", Durability::kFull, &err);
    REQUIRE(w);
    uint64_t base = w->sync_count();  // a new file is synced once at Open
    REQUIRE(w->Append(Header(), false, &err));
    for (int i = 0; i < 5; ++i) {
      REQUIRE(w->Append({{"type", "node_started"}, {"node", "n"}, {"attempt", i + 1}}, false, &err));
      REQUIRE(w->Append({{"type", "submitted"}, {"node", "n"}, {"attempt", i + 1}}, true, &err));
    }
    CHECK(w->sync_count() - base == 5);
  }

  TEST_CASE("kBatch: 8 threads share fsyncs and lose no record" * doctest::timeout(60)) {
    constexpr int kThreads = 8, kPerThread = 40;
    std::string err;
    uint64_t syncs = 0;
    {
      auto w = JournalWriter::Open("batch.jsonl", Durability::kBatch, &err);
      REQUIRE(w);
      REQUIRE(w->Append(Header(), false, &err));
      uint64_t base = w->sync_count();
      std::atomic<int> failures{0};
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&w, &failures, t] {
          std::string terr;
          for (int i = 0; i < kPerThread; ++i) {
            std::string node = "n" + std::to_string(t) + "_" + std::to_string(i);
            Json rec = {{"type", "completed"}, {"node", node}, {"attempt", 1}, {"cost", 0.01}};
            if (!w->Append({{"type", "node_started"}, {"node", node}, {"attempt", 1}}, false, &terr) ||
                !w->Append(rec, true, &terr))
              ++failures;
          }
        });
      }
      for (auto& th : threads) th.join();
      CHECK(failures == 0);
      syncs = w->sync_count() - base;
    }
    MESSAGE("kBatch: " << syncs << " fsyncs for " << kThreads * kPerThread << " proof records");
    CHECK(syncs > 0);
    CHECK(syncs < static_cast<uint64_t>(kThreads * kPerThread));
    JournalReplay r = MustRead("batch.jsonl");
    CHECK(r.records == 1 + 2 * kThreads * kPerThread);
    CHECK(r.nodes.size() == static_cast<size_t>(kThreads * kPerThread));
    CHECK(r.total_cost == doctest::Approx(0.01 * kThreads * kPerThread));
    for (const auto& [id, n] : r.nodes) CHECK(n.status == JournalNode::Status::kCompleted);
  }

  TEST_CASE("disk full: Append fails and leaves no partial line" * doctest::timeout(20)) {
    WriteRecords("fsize.jsonl", {Header(), {{"type", "run_started"}, {"pid", 1}, {"resume", 0}}});
    struct stat st;
    REQUIRE(stat("fsize.jsonl", &st) == 0);
    off_t before = st.st_size;

    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // RLIMIT_FSIZE makes write(2) stop at the limit (short write, then EFBIG) like a full disk.
      signal(SIGXFSZ, SIG_IGN);
      struct rlimit lim = {static_cast<rlim_t>(before + 100), static_cast<rlim_t>(before + 100)};
      if (setrlimit(RLIMIT_FSIZE, &lim) != 0) _exit(10);
      std::string err;
      auto w = JournalWriter::Open("fsize.jsonl", Durability::kBatch, &err);
      if (!w) _exit(11);
      Json big = {{"type", "completed"}, {"node", "big"}, {"outputs", {{"text", std::string(500, 'x')}}}};
      if (w->Append(big, true, &err)) _exit(12);
      if (err.find("file too large") == std::string::npos) _exit(13);
      struct stat st2;
      if (stat("fsize.jsonl", &st2) != 0 || st2.st_size != before) _exit(14);
      // Small records still fit afterwards.
      if (!w->Append({{"type", "node_started"}, {"node", "small"}, {"attempt", 1}}, true, &err)) _exit(15);
      _exit(0);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    JournalReplay r = MustRead("fsize.jsonl");
    CHECK_FALSE(r.torn_tail);
    CHECK(r.warnings.empty());
    CHECK(r.nodes.count("big") == 0);
    CHECK(r.nodes.count("small") == 1);
  }

  TEST_CASE("numbers beyond int64 in a damaged record count as absent (fuzz: journal)") {
    // Converting 1e40 to an integer is undefined behaviour; the reader treats such a field as
    // missing, on both paths (the file and the mirror of appended records).
    Spit("huge.jsonl", R"({"type":"header","format":1,"runId":"r","t":-1.7953e41}
{"type":"run_started","pid":1,"resume":0,"t":1000}
{"type":"node_started","node":"a","attempt":-1e300,"t":1e40}
{"type":"completed","node":"a","attempt":1,"outputs":{},"cost":0,"startedAt":9e18,"durationMs":1e19,"t":2000}
)");
    JournalReplay r = MustRead("huge.jsonl");
    CHECK(r.warnings.empty());
    CHECK(r.last_event_at == 2000);
    REQUIRE(r.nodes.count("a") == 1);
    CHECK(r.nodes["a"].status == JournalNode::Status::kCompleted);
    CHECK(r.nodes["a"].attempts == 1);
    CHECK(r.nodes["a"].duration_ms == 0);  // 1e19 is beyond int64: absent

    JournalReplay mirror;
    std::string err;
    {
      auto w = JournalWriter::Open("huge-mirror.jsonl", Durability::kNone, &err);
      REQUIRE(w);
      w->MirrorInto(&mirror);
      REQUIRE(w->Append(Json::parse(R"({"type":"header","format":1,"runId":"r","t":1})"), false, &err));
      REQUIRE(w->Append(Json::parse(R"({"type":"node_started","node":"a","attempt":1,"t":-1e300})"), false, &err));
    }
    CHECK(mirror.nodes["a"].attempts == 1);
    CHECK(mirror.last_event_at == 1);
  }

  TEST_CASE("a header's workflow taken to another thread is the one a plain read gives" * doctest::timeout(10)) {
    WriteRecords("hw.jsonl", SampleRecords());
    JournalReplay plain = MustRead("hw.jsonl");
    std::string err;

    JournalReplay taken;
    JournalReadOptions options;
    Json workflow;
    std::thread converter;
    options.on_header = [&](const Json& header, HeaderWorkflow& w) {
      CHECK_FALSE(header.contains("workflow"));
      CHECK(header["runId"] == "r1");
      REQUIRE(w.present());
      converter = std::thread([&workflow, w = std::move(w)]() mutable { workflow = w.Take(); });
      CHECK_FALSE(w.present());
    };
    REQUIRE_MESSAGE(ReadJournal("hw.jsonl", options, &taken, &err), err);
    converter.join();
    CHECK(workflow == plain.header["workflow"]);
    Json rest = plain.header;
    rest.erase("workflow");
    CHECK(taken.header == rest);
    CHECK(taken.nodes.size() == plain.nodes.size());
    CHECK(taken.total_cost == plain.total_cost);

    // Not taken: the header is whole, in its order.
    JournalReplay kept;
    options.on_header = [](const Json&, HeaderWorkflow& w) { CHECK(w.present()); };
    REQUIRE_MESSAGE(ReadJournal("hw.jsonl", options, &kept, &err), err);
    CHECK(kept.header.dump() == plain.header.dump());
  }

  TEST_CASE("FindJournalNodes finds each node once and later only the missing ones" * doctest::timeout(5)) {
    JournalReplay replay;
    replay.nodes["a"].attempts = 1;
    std::vector<std::string_view> ids = {"a", "b"};
    std::vector<const JournalNode*> found;
    FindJournalNodes(replay, ids, &found);
    REQUIRE(found.size() == 2);
    CHECK(found[0] == &replay.nodes.at("a"));
    CHECK(found[1] == nullptr);
    replay.nodes["b"].attempts = 2;                                       // folded later (a run's mirror)
    for (int i = 0; i < 100; ++i) replay.nodes["x" + std::to_string(i)];  // rehashes: pointers stay valid
    FindJournalNodes(replay, ids, &found);
    CHECK(found[0] == &replay.nodes.at("a"));
    CHECK(found[1] == &replay.nodes.at("b"));
    CHECK(found[1]->attempts == 2);
  }

  TEST_CASE("a workflow built from a header's parsed nodes equals one built from the document" * doctest::timeout(20)) {
    // Big enough for two reading threads, with mistakes in both halves.
    Json nodes = Json::array();
    for (int i = 0; i < 5000; ++i)
      nodes.push_back({{"id", "n" + std::to_string(i)},
                       {"type", "value"},
                       {"inputs", {{"v", i ? "<<n" + std::to_string(i - 1) + ".v>>" : "0"}, {"list", {i, "x"}}}}});
    nodes[7]["inputs"] = "not an object";
    nodes[4321]["id"] = "n7";
    nodes[4999] = nullptr;
    Json workflow = {{"workflowId", "big"}, {"params", {{"p", 1}}}, {"nodes", nodes}, {"defaults", {{"retry", 5}}}};
    Json header = Header();
    header["workflow"] = workflow;
    WriteRecords("parsed.jsonl", {header});

    Workflow from_document;
    std::vector<Diagnostic> document_diags;
    bool document_ok = BuildWorkflow(workflow, "big.json", {}, &from_document, &document_diags);

    Workflow from_parsed;
    std::vector<Diagnostic> parsed_diags;
    bool parsed_ok = true;
    JournalReadOptions options;
    options.on_header = [&](const Json&, HeaderWorkflow& w) {
      Json rest;
      std::unique_ptr<NodeList> list = w.TakeApart(&rest);
      REQUIRE(list);
      CHECK_FALSE(rest.contains("nodes"));
      CHECK(list->size() == 5000);
      parsed_ok = BuildWorkflow(std::move(rest), *list, "big.json", {}, &from_parsed, &parsed_diags);
    };
    JournalReplay replay;
    std::string err;
    REQUIRE_MESSAGE(ReadJournal("parsed.jsonl", options, &replay, &err), err);

    CHECK(parsed_ok == document_ok);
    REQUIRE(parsed_diags.size() == document_diags.size());
    for (size_t i = 0; i < parsed_diags.size(); ++i) CHECK(parsed_diags[i].Format() == document_diags[i].Format());
    REQUIRE(from_parsed.nodes.size() == from_document.nodes.size());
    for (size_t i = 0; i < from_parsed.nodes.size(); ++i) {
      CHECK(from_parsed.nodes[i].id == from_document.nodes[i].id);
      CHECK(from_parsed.nodes[i].inputs == from_document.nodes[i].inputs);
      CHECK(from_parsed.nodes[i].retry.maximum_attempts == 5);
    }
    CHECK(from_parsed.deps == from_document.deps);
    CHECK(from_parsed.params == from_document.params);
  }
}  // TEST_SUITE
