// Export tests: Prometheus text and the Pushgateway push (against LocalServer), the Chrome
// trace of a hand-written journal, completion scripts from a hand-made spec, and gc's rules
// on journals whose times the test sets.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "comfyrun/core/util.h"
#include "comfyrun/engine/journal.h"
#include "comfyrun/export/chrome_trace.h"
#include "comfyrun/export/completion.h"
#include "comfyrun/export/prometheus.h"
#include "comfyrun/maintenance/gc.h"
#include "support/local_server.h"

using namespace comfyrun;
using comfyrun::testing::LocalResponse;
using comfyrun::testing::LocalServer;

namespace {

Json SampleMetrics() {
  return Json::parse(R"({
    "schemaVersion": 1, "runId": "wf-20261122T000000Z-abc123", "workflowId": "wf \"quoted\"",
    "status": "failed", "startedAt": "2026-11-22T00:00:00.500Z", "finishedAt": "2026-11-22T00:01:00.000Z",
    "durationMs": 59500, "totalCost": 0.75, "runs": 2, "criticalPath": ["img"], "criticalPathMs": 900,
    "peakParallelism": 2,
    "counts": {"completed": 1, "failed": 1, "skipped": 1, "running": 0, "pending": 0},
    "errors": {"RateLimited": 1, "ContentBlocked": 1},
    "nodes": [
      {"id": "img", "type": "character_image", "provider": "gemini", "model": "flash", "status": "completed",
       "attempts": 2, "durationMs": 900, "queueWaitMs": 12, "cost": 0.75},
      {"id": "vid", "type": "video_generation", "provider": "", "model": "", "status": "failed",
       "attempts": 1, "durationMs": 0, "queueWaitMs": 0, "cost": 0}
    ]})");
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

bool HasLine(const std::string& text, const std::string& line) {
  auto lines = Lines(text);
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

void WriteLines(const std::string& path, const std::vector<Json>& records) {
  std::ofstream f(path);
  for (const auto& r : records) f << r.dump() << "\n";
}

JournalReplay Replay(const std::string& path) {
  JournalReadOptions read;
  read.keep_events = true;
  JournalReplay replay;
  std::string err;
  REQUIRE_MESSAGE(ReadJournal(path, read, &replay, &err), err);
  return replay;
}

}  // namespace

TEST_SUITE("Export") {
  TEST_CASE("Prometheus text: one HELP/TYPE per family, base units, escaped labels, _total counters") {
    std::string text = PrometheusText(SampleMetrics());
    const std::string run = R"(workflow="wf \"quoted\"",run_id="wf-20261122T000000Z-abc123")";
    CHECK(HasLine(text, "# TYPE comfyrun_run_duration_seconds gauge"));
    CHECK(HasLine(text, "comfyrun_run_duration_seconds{" + run + "} 59.5"));
    CHECK(HasLine(text, "comfyrun_run_info{" + run + ",status=\"failed\"} 1"));
    CHECK(HasLine(text, "comfyrun_run_success{" + run + "} 0"));
    CHECK(HasLine(text, "comfyrun_run_start_timestamp_seconds{" + run + "} 1795305600.5"));
    CHECK(HasLine(text, "comfyrun_run_end_timestamp_seconds{" + run + "} 1795305660"));
    CHECK(HasLine(text, "# TYPE comfyrun_run_cost_usd_total counter"));
    CHECK(HasLine(text, "comfyrun_run_cost_usd_total{" + run + "} 0.75"));
    CHECK(HasLine(text, "comfyrun_run_starts_total{" + run + "} 2"));
    CHECK(HasLine(text, "comfyrun_run_nodes{" + run + ",status=\"skipped\"} 1"));
    CHECK(HasLine(text, "comfyrun_run_failed_attempts_total{" + run + ",error=\"RateLimited\"} 1"));
    CHECK(HasLine(text, "comfyrun_node_duration_seconds{" + run +
                            ",node=\"img\",type=\"character_image\",status=\"completed\"} 0.9"));
    CHECK(HasLine(text, "comfyrun_node_queue_wait_seconds{" + run +
                            ",node=\"img\",type=\"character_image\",status=\"completed\"} 0.012"));
    CHECK(HasLine(text, "comfyrun_node_attempts_total{" + run +
                            ",node=\"img\",type=\"character_image\",status=\"completed\"} 2"));
    CHECK(HasLine(
        text,
        "comfyrun_node_info{" + run +
            ",node=\"img\",type=\"character_image\",status=\"completed\",provider=\"gemini\",model=\"flash\"} 1"));
    // Every family has exactly one HELP and one TYPE, before its samples, and its samples are
    // contiguous; every sample line's name is a declared family.
    std::map<std::string, int> help, type;
    std::set<std::string> closed;
    std::string current;
    for (const auto& line : Lines(text)) {
      if (StartsWith(line, "# HELP "))
        ++help[line.substr(7, line.find(' ', 7) - 7)];
      else if (StartsWith(line, "# TYPE ")) {
        std::string name = line.substr(7, line.find(' ', 7) - 7);
        ++type[name];
        if (!current.empty()) closed.insert(current);
        current = name;
      } else {
        std::string name = line.substr(0, line.find_first_of("{ "));
        CHECK_MESSAGE(name == current, line);
        CHECK(!closed.count(name));
        CHECK(StartsWith(name, "comfyrun_"));
      }
    }
    for (const auto& [name, n] : type) {
      CHECK_MESSAGE(n == 1, name);
      CHECK_MESSAGE(help[name] == 1, name);
      if (EndsWith(name, "_total")) CHECK(text.find("# TYPE " + name + " counter") != std::string::npos);
    }
    CHECK(type.size() >= 14);
  }

  TEST_CASE("Prometheus text for a push leaves out the workflow label; node series can be turned off") {
    PrometheusTextOptions options;
    options.workflow_label = false;
    options.node_series = false;
    std::string text = PrometheusText(SampleMetrics(), options);
    CHECK(text.find("workflow=") == std::string::npos);
    CHECK(text.find("comfyrun_node_") == std::string::npos);
    CHECK(HasLine(text, "comfyrun_run_success{run_id=\"wf-20261122T000000Z-abc123\"} 0"));
    CHECK(EscapeLabelValue("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
  }

  TEST_CASE("Prometheus file is written atomically, leaving no temp file") {
    std::filesystem::create_directories("textfile");
    std::string err;
    REQUIRE(WritePrometheusFile("textfile/comfyrun.prom", "first 1\n", &err));
    REQUIRE(WritePrometheusFile("textfile/comfyrun.prom", "second 2\n", &err));
    std::string content;
    REQUIRE(ReadFile("textfile/comfyrun.prom", &content, &err));
    CHECK(content == "second 2\n");
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator("textfile")) files += e.is_regular_file();
    CHECK(files == 1);
    CHECK_FALSE(WritePrometheusFile("no-such-dir/x.prom", "x 1\n", &err));
    CHECK(!err.empty());
  }

  TEST_CASE("Pushgateway URL: credentials are split off and never displayed") {
    PushgatewayUrl url;
    std::string err;
    REQUIRE(ParsePushgatewayUrl("https://ci:s3cr%40t-pass@pg.example:9091/prefix/", &url, &err));
    CHECK(url.base == "https://pg.example:9091/prefix");
    CHECK(url.display() == "https://pg.example:9091/prefix");
    CHECK(url.user == "ci");
    CHECK(url.password == "s3cr@t-pass");
    REQUIRE(ParsePushgatewayUrl("http://127.0.0.1:9091", &url, &err));
    CHECK(url.user.empty());
    CHECK(url.base == "http://127.0.0.1:9091");
    CHECK_FALSE(ParsePushgatewayUrl("ftp://user:hunter2hunter2@host", &url, &err));
    CHECK(err.find("hunter2") == std::string::npos);
    CHECK_FALSE(ParsePushgatewayUrl("http://host:9091/metrics/job/x", &url, &err));
    CHECK(err.find("/metrics/job") != std::string::npos);
    CHECK_FALSE(ParsePushgatewayUrl("http://host:9091/?a=b", &url, &err));
    CHECK_FALSE(ParsePushgatewayUrl("http://", &url, &err));
  }

  TEST_CASE("Pushgateway path: plain values as they are, others in base64") {
    CHECK(PushgatewayPath("comfyrun", {{"workflow", "character-video-v1"}}) ==
          "/metrics/job/comfyrun/workflow/character-video-v1");
    // "a/b" -> YS9i; empty -> "="; URL-safe alphabet (no '/').
    CHECK(PushgatewayPath("comfyrun", {{"workflow", "a/b"}}) == "/metrics/job/comfyrun/workflow@base64/YS9i");
    CHECK(PushgatewayPath("comfyrun", {{"workflow", ""}}) == "/metrics/job/comfyrun/workflow@base64/=");
    CHECK(PushgatewayPath("my job", {}) == "/metrics/job@base64/bXkgam9i");
    CHECK(PushgatewayPath("comfyrun", {{"workflow", "x y?"}}) == "/metrics/job/comfyrun/workflow@base64/eCB5Pw==");
  }

  TEST_CASE("push PUTs the text with basic auth in a header; failures name the URL without the password" *
            doctest::timeout(30)) {
    LocalServer server;
    server.Handle("PUT", "/metrics/job/comfyrun/workflow/wf1",
                  [](const testing::LocalRequest&) { return LocalResponse::Text(200, ""); });
    server.Handle("PUT", "/metrics/job/comfyrun/workflow/bad", [](const testing::LocalRequest&) {
      return LocalResponse::Text(400, "pushed metrics are invalid or inconsistent");
    });
    const std::string password = "pg-password-123";
    std::string base = server.url();
    PushgatewayUrl url;
    std::string err;
    REQUIRE(ParsePushgatewayUrl("http://pusher:" + password + "@" + base.substr(7), &url, &err));
    REQUIRE(PushToGateway(url, "comfyrun", {{"workflow", "wf1"}}, "x 1\n", 10, &err));
    auto requests = server.requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].method == "PUT");
    CHECK(requests[0].body == "x 1\n");
    CHECK(requests[0].Header("content-type").find("text/plain; version=0.0.4") == 0);
    CHECK(requests[0].Header("authorization") == "Basic cHVzaGVyOnBnLXBhc3N3b3JkLTEyMw==");  // pusher:pg-password-123

    CHECK_FALSE(PushToGateway(url, "comfyrun", {{"workflow", "bad"}}, "x 1\n", 10, &err));
    CHECK(err.find("400") != std::string::npos);
    CHECK(err.find("inconsistent") != std::string::npos);
    CHECK(err.find(password) == std::string::npos);
    CHECK(err.find(server.url() + "/metrics/job/comfyrun/workflow/bad") != std::string::npos);

    // Nothing listens on the port of a server that has gone away.
    std::string gone_url;
    {
      LocalServer gone;
      gone_url = gone.url();
    }
    REQUIRE(ParsePushgatewayUrl("http://pusher:" + password + "@" + gone_url.substr(7), &url, &err));
    CHECK_FALSE(PushToGateway(url, "comfyrun", {{"workflow", "wf1"}}, "x 1\n", 5, &err));
    CHECK(!err.empty());
    CHECK(err.find(password) == std::string::npos);
  }

  TEST_CASE("Chrome trace: lanes never overlap, retries are separate slices, waits and costs are shown") {
    // t in unix ms. a and b run in parallel; b is retried after a RateLimited failure (retry
    // wait, then a queue wait); c waits in the queue; d is skipped; e never finished (the run
    // was interrupted while it ran).
    const int64_t T = 1795305600000;
    Json header = {{"type", "header"},
                   {"format", 1},
                   {"runId", "r1"},
                   {"workflowId", "wf"},
                   {"workflow",
                    {{"nodes",
                      {{{"id", "a"}, {"type", "shell"}},
                       {{"id", "b"}, {"type", "video_generation"}},
                       {{"id", "c"}, {"type", "value"}},
                       {{"id", "d"}, {"type", "shell"}},
                       {{"id", "e"}, {"type", "shell"}}}}}},
                   {"params", Json::object()},
                   {"t", T}};
    WriteLines(
        "trace.jsonl",
        {
            header,
            {{"type", "run_started"}, {"pid", 1}, {"resume", 0}, {"t", T + 1}},
            {{"type", "node_started"}, {"node", "a"}, {"attempt", 1}, {"queueWaitMs", 0}, {"t", T + 10}},
            {{"type", "node_started"}, {"node", "b"}, {"attempt", 1}, {"queueWaitMs", 0}, {"t", T + 10}},
            {{"type", "submitted"}, {"node", "b"}, {"attempt", 1}, {"submission", {{"id", "op-1"}}}, {"t", T + 20}},
            {{"type", "attempt_failed"},
             {"node", "b"},
             {"attempt", 1},
             {"error", "RateLimited"},
             {"message", "429"},
             {"cost", 0.25},
             {"retryIn", 0.1},
             {"submissionFinished", true},
             {"t", T + 50}},
            {{"type", "completed"},
             {"node", "a"},
             {"attempt", 1},
             {"outputs", Json::object()},
             {"cost", 0},
             {"provider", ""},
             {"model", ""},
             {"startedAt", T + 10},
             {"durationMs", 90},
             {"t", T + 100}},
            {{"type", "node_started"}, {"node", "b"}, {"attempt", 2}, {"queueWaitMs", 30}, {"t", T + 200}},
            {{"type", "node_started"}, {"node", "c"}, {"attempt", 1}, {"queueWaitMs", 40}, {"t", T + 210}},
            {{"type", "completed"},
             {"node", "c"},
             {"attempt", 1},
             {"outputs", Json::object()},
             {"cost", 0},
             {"startedAt", T + 210},
             {"durationMs", 5},
             {"t", T + 215}},
            {{"type", "completed"},
             {"node", "b"},
             {"attempt", 2},
             {"outputs", Json::object()},
             {"cost", 0.5},
             {"provider", "veo"},
             {"model", "veo-3"},
             {"startedAt", T + 200},
             {"durationMs", 300},
             {"t", T + 500}},
            {{"type", "node_skipped"}, {"node", "d"}, {"because", "x failed"}, {"t", T + 501}},
            {{"type", "node_started"}, {"node", "e"}, {"attempt", 1}, {"queueWaitMs", 0}, {"t", T + 502}},
            {{"type", "run_finished"},
             {"status", "interrupted"},
             {"durationMs", 600},
             {"totalCost", 0.75},
             {"t", T + 600}},
        });
    Json trace = BuildChromeTrace(Replay("trace.jsonl"));
    REQUIRE(trace["traceEvents"].is_array());
    CHECK(trace["otherData"]["runId"] == "r1");
    CHECK(trace["otherData"]["status"] == "interrupted");

    std::map<int, std::vector<std::pair<int64_t, int64_t>>> lanes;  // tid -> [ts, ts+dur)
    std::map<std::string, Json> by_name;
    std::set<int> named_threads;
    int instants = 0, counters = 0;
    for (const auto& e : trace["traceEvents"]) {
      std::string ph = e["ph"];
      CHECK(e["pid"] == 1);
      if (ph == "M") {
        if (e["name"] == "thread_name") named_threads.insert(e["tid"].get<int>());
        continue;
      }
      if (ph == "X") {
        CHECK(e["ts"].get<int64_t>() >= 0);
        lanes[e["tid"].get<int>()].push_back(
            {e["ts"].get<int64_t>(), e["ts"].get<int64_t>() + e["dur"].get<int64_t>()});
        by_name[e["name"].get<std::string>() + "#" + std::to_string(e["args"].value("attempt", 0))] = e;
      }
      if (ph == "i") ++instants;
      if (ph == "C") ++counters;
    }
    // No two complete events in one lane overlap (the run slice alone is in lane 0).
    for (auto& [tid, spans] : lanes) {
      std::sort(spans.begin(), spans.end());
      for (size_t k = 1; k < spans.size(); ++k) CHECK_MESSAGE(spans[k].first >= spans[k - 1].second, "lane ", tid);
      CHECK(named_threads.count(tid));
    }
    CHECK(lanes[0].size() == 1);
    // a and b overlap in time, so they are in different lanes.
    REQUIRE(by_name.count("a#1"));
    REQUIRE(by_name.count("b (failed: RateLimited)#1"));
    CHECK(by_name["a#1"]["tid"] != by_name["b (failed: RateLimited)#1"]["tid"]);
    // Microseconds since the header: a ran 10..100 ms.
    CHECK(by_name["a#1"]["ts"] == 10000);
    CHECK(by_name["a#1"]["dur"] == 90000);
    const Json& failed = by_name["b (failed: RateLimited)#1"];
    CHECK(failed["cat"] == "attempt,failed");
    CHECK(failed["args"]["error"] == "RateLimited");
    CHECK(failed["args"]["cost"] == 0.25);
    CHECK(failed["args"]["outcome"] == "failed");
    const Json& retried = by_name["b#2"];
    CHECK(retried["args"]["cost"] == 0.5);
    CHECK(retried["args"]["model"] == "veo-3");
    CHECK(retried["args"]["outcome"] == "completed");
    // Retry wait: from the failure (50 ms) to ready again (200 - 30 = 170 ms); then queued.
    REQUIRE(by_name.count("retry wait#2"));
    CHECK(by_name["retry wait#2"]["ts"] == 50000);
    CHECK(by_name["retry wait#2"]["dur"] == 120000);
    CHECK(by_name["retry wait#2"]["tid"] == retried["tid"]);
    REQUIRE(by_name.count("queued#2"));
    CHECK(by_name["queued#2"]["dur"] == 30000);
    REQUIRE(by_name.count("queued#1"));  // c's 40 ms
    CHECK(by_name["queued#1"]["dur"] == 40000);
    REQUIRE(by_name.count("e#1"));
    CHECK(by_name["e#1"]["args"]["outcome"] == "interrupted");
    CHECK(by_name["e#1"]["dur"] == 98000);  // 502 -> 600 ms, the last record
    CHECK(instants == 2);                   // b's submission, d skipped
    CHECK(counters == 3);                   // 0, 0.25, 0.75
    CHECK(lanes.size() == 3);               // run + two lanes: at most two attempts at once
  }

  TEST_CASE("Chrome trace: an attempt a crash cut short is 'lost', and resume's attempt follows it") {
    WriteLines("lost.jsonl",
               {
                   {{"type", "header"}, {"format", 1}, {"runId", "r2"}, {"workflowId", "wf"}, {"t", 1000}},
                   {{"type", "run_started"}, {"t", 1000}},
                   {{"type", "node_started"}, {"node", "a"}, {"attempt", 1}, {"t", 1010}},
                   {{"type", "submitted"}, {"node", "a"}, {"attempt", 1}, {"submission", {{"id", "x"}}}, {"t", 1020}},
                   {{"type", "run_started"}, {"t", 5000}},
                   {{"type", "node_started"}, {"node", "a"}, {"attempt", 2}, {"t", 5010}},
                   {{"type", "completed"}, {"node", "a"}, {"attempt", 2}, {"cost", 1.0}, {"t", 5100}},
                   {{"type", "run_finished"}, {"status", "succeeded"}, {"t", 5200}},
               });
    Json trace = BuildChromeTrace(Replay("lost.jsonl"));
    std::vector<Json> attempts;
    for (const auto& e : trace["traceEvents"])
      if (e["ph"] == "X" && e["cat"].get<std::string>().rfind("attempt", 0) == 0) attempts.push_back(e);
    REQUIRE(attempts.size() == 2);
    CHECK(attempts[0]["args"]["outcome"] == "lost");
    CHECK(attempts[0]["dur"] == 10000);  // 1010 -> 1020, its last record
    CHECK(attempts[1]["args"]["outcome"] == "completed");
    CHECK(attempts[0]["tid"] == attempts[1]["tid"]);  // they never overlapped: one lane
  }

  TEST_CASE("Chrome trace: each attempt's args say where it ran; each cluster node gets a track of its own") {
    Json slurm1 = {{"executor", "slurm"}, {"jobId", "41"}, {"host", "gpu07"}};
    Json slurm2 = {{"executor", "slurm"}, {"jobId", "42"}, {"host", "gpu07"}};
    Json slurm3 = {{"executor", "slurm"}, {"jobId", "43"}, {"host", "gpu02"}};
    WriteLines(
        "where.jsonl",
        {
            {{"type", "header"}, {"format", 1}, {"runId", "r3"}, {"workflowId", "wf"}, {"t", 1000}},
            {{"type", "run_started"}, {"t", 1000}},
            {{"type", "node_started"}, {"node", "a"}, {"attempt", 1}, {"t", 1010}},
            {{"type", "node_started"}, {"node", "b"}, {"attempt", 1}, {"t", 1010}},
            {{"type", "node_started"}, {"node", "c"}, {"attempt", 1}, {"t", 1010}},
            {{"type", "node_started"}, {"node", "d"}, {"attempt", 1}, {"t", 1010}},
            {{"type", "attempt_failed"},
             {"node", "a"},
             {"attempt", 1},
             {"error", "Unavailable"},
             {"where", slurm1},
             {"t", 1100}},
            {{"type", "completed"}, {"node", "b"}, {"attempt", 1}, {"where", slurm2}, {"t", 1200}},
            {{"type", "completed"}, {"node", "c"}, {"attempt", 1}, {"where", slurm3}, {"t", 1200}},
            {{"type", "completed"}, {"node", "d"}, {"attempt", 1}, {"where", {{"executor", "local"}}}, {"t", 1200}},
            {{"type", "run_finished"}, {"status", "failed"}, {"t", 1300}},
        });
    Json trace = BuildChromeTrace(Replay("where.jsonl"));
    std::map<std::string, Json> where_of;                 // node -> its attempt slice's args.where
    std::map<int, std::string> processes;                 // pid -> name
    std::map<int, std::vector<std::string>> host_slices;  // pid -> nodes of its slices
    for (const auto& e : trace["traceEvents"]) {
      if (e["ph"] == "X" && e["cat"].get<std::string>().rfind("attempt", 0) == 0)
        where_of[e["args"]["node"].get<std::string>()] = e["args"].value("where", Json());
      if (e["ph"] == "M" && e["name"] == "process_name") processes[e["pid"].get<int>()] = e["args"]["name"];
      if (e["ph"] == "X" && e["cat"] == "host") host_slices[e["pid"].get<int>()].push_back(e["name"]);
    }
    CHECK(where_of["a"] == slurm1);  // a failed attempt too
    CHECK(where_of["b"] == slurm2);
    CHECK(where_of["d"] == Json{{"executor", "local"}});
    REQUIRE(processes.size() == 3);  // the run's, and one per cluster node; none for local work
    CHECK(processes[2] == "host slurm gpu02");
    CHECK(processes[3] == "host slurm gpu07");
    CHECK(host_slices[2] == std::vector<std::string>{"c"});
    CHECK(host_slices[3].size() == 2);  // a and b ran on gpu07 at the same time: two slots
    std::set<int> tids;
    for (const auto& e : trace["traceEvents"])
      if (e["ph"] == "X" && e["cat"] == "host" && e["pid"] == 3) tids.insert(e["tid"].get<int>());
    CHECK(tids.size() == 2);
  }

  TEST_CASE("Prometheus node_info says where the node's last attempt ran") {
    Json m = SampleMetrics();
    m["nodes"][0]["where"] = Json::parse(R"([{"attempt": 1, "executor": "slurm", "jobId": "41", "host": "gpu07"},
                                             {"attempt": 2, "executor": "slurm", "jobId": "57", "host": "gpu02"}])");
    std::string text = PrometheusText(m, {});
    CHECK(text.find("executor=\"slurm\",host=\"gpu02\",job_id=\"57\"") != std::string::npos);
    CHECK(text.find("gpu07") == std::string::npos);
  }

  TEST_CASE("completion scripts carry every command, option and choice of the spec") {
    CliSpec spec;
    spec.options.push_back({{"--help"}, CompletionValue::kNone, {}, false, "help"});
    CliCommandSpec run{"run", "run a workflow; exit 0", {}, CompletionValue::kFile, {}};
    run.options.push_back({{"-o", "--out"}, CompletionValue::kDirectory, {}, false, "output directory"});
    run.options.push_back(
        {{"--durability"}, CompletionValue::kChoice, {"full", "batch", "none"}, false, "full: fsync [every] record"});
    run.options.push_back({{"-p", "--param"}, CompletionValue::kOther, {}, true, "NAME=VALUE (it's repeatable)"});
    run.options.push_back({{"--offline"}, CompletionValue::kNone, {}, false, "offline"});
    spec.commands.push_back(run);
    spec.commands.push_back({"completion", "print the script", {}, CompletionValue::kChoice, {"bash", "zsh"}});

    std::string bash = BashCompletion(spec);
    CHECK(bash.find("compgen -W \"run completion\"") != std::string::npos);
    CHECK(bash.find("-o|--out) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d") != std::string::npos);
    CHECK(bash.find("--durability) COMPREPLY=($(compgen -W \"full batch none\"") != std::string::npos);
    CHECK(bash.find("-p|--param) COMPREPLY=(); return 0") != std::string::npos);
    CHECK(bash.find("compgen -W \"-o --out --durability -p --param --offline\"") != std::string::npos);
    CHECK(bash.find("COMPREPLY=($(compgen -W \"bash zsh\" -- \"$cur\")) ;;") != std::string::npos);
    CHECK(bash.find("complete -F _comfyrun comfyrun") != std::string::npos);

    std::string zsh = ZshCompletion(spec);
    CHECK(StartsWith(zsh, "#compdef comfyrun\n"));
    CHECK(zsh.find("'(-o --out)'{-o,--out}'[output directory]:value:_files -/'") != std::string::npos);
    CHECK(zsh.find("'--durability[full\\: fsync \\[every\\] record]:value:(full batch none)'") != std::string::npos);
    CHECK(zsh.find("'*'{-p,--param}'[NAME=VALUE (it'\\''s repeatable)]:value: '") != std::string::npos);
    CHECK(zsh.find("'run:run a workflow'") != std::string::npos);
    CHECK(zsh.find("'*:argument:(bash zsh)'") != std::string::npos);
  }

  TEST_CASE("gc: old finished runs go, recent, unfinished and live ones stay; --force takes unfinished") {
    namespace fs = std::filesystem;
    const int64_t now = 1795305600000, day = 86400000;
    fs::create_directories("gc/journals");
    fs::create_directories("gc/metrics");
    fs::create_directories("gc/ab-tests");
    auto make_run = [&](const std::string& id, int64_t last_t, bool finished) {
      std::vector<Json> recs = {{{"type", "header"}, {"format", 1}, {"runId", id}, {"t", last_t - 1000}},
                                {{"type", "run_started"}, {"t", last_t - 900}}};
      if (finished)
        recs.push_back({{"type", "run_finished"}, {"status", "succeeded"}, {"t", last_t}});
      else
        recs.push_back({{"type", "node_started"}, {"node", "a"}, {"attempt", 1}, {"t", last_t}});
      WriteLines("gc/journals/" + id + ".jsonl", recs);
      fs::create_directories("gc/runs/" + id + "/a");
      std::ofstream("gc/runs/" + id + "/a/out.bin") << std::string(1000, 'x');
      std::ofstream("gc/metrics/" + id + ".json") << "{}";
    };
    make_run("old", now - 10 * day, true);
    make_run("young", now - 1 * day, true);
    make_run("unfinished", now - 10 * day, false);
    make_run("live", now - 10 * day, true);
    std::ofstream("gc/ab-tests/t-1.json") << "{}";
    std::string err;
    auto live = JournalWriter::Open("gc/journals/live.jsonl", Durability::kNone, &err);
    REQUIRE_MESSAGE(live, err);

    GcOptions options;
    options.out_dir = "gc";
    options.older_than_seconds = 7 * 86400;
    options.now_ms = now;
    options.dry_run = true;
    GcReport report;
    REQUIRE(CollectGarbage(options, &report, &err));
    CHECK(report.removed == 1);
    CHECK(report.bytes_freed > 1000);
    CHECK(fs::exists("gc/runs/old"));  // dry run: nothing removed

    options.dry_run = false;
    REQUIRE(CollectGarbage(options, &report, &err));
    std::map<std::string, GcRun::Action> actions;
    for (const auto& r : report.runs) actions[r.run_id] = r.action;
    CHECK(actions["old"] == GcRun::Action::kRemoved);
    CHECK(actions["young"] == GcRun::Action::kKeptRecent);
    CHECK(actions["unfinished"] == GcRun::Action::kKeptUnfinished);
    CHECK(actions["live"] == GcRun::Action::kKeptLive);
    CHECK_FALSE(fs::exists("gc/runs/old"));
    CHECK_FALSE(fs::exists("gc/journals/old.jsonl"));
    CHECK_FALSE(fs::exists("gc/metrics/old.json"));
    CHECK(fs::exists("gc/runs/young/a/out.bin"));
    CHECK(fs::exists("gc/ab-tests/t-1.json"));

    options.force = true;
    REQUIRE(CollectGarbage(options, &report, &err));
    CHECK(report.removed == 1);  // unfinished; live stays even with force
    CHECK_FALSE(fs::exists("gc/runs/unfinished"));
    CHECK(fs::exists("gc/runs/live"));
    live.reset();
    REQUIRE(CollectGarbage(options, &report, &err));
    CHECK(report.removed == 1);  // the lock is free now
    CHECK_FALSE(fs::exists("gc/journals/live.jsonl"));
    CHECK_FALSE(fs::exists("gc/journals/live.jsonl.lock"));

    CHECK_FALSE(CollectGarbage(GcOptions{"no-such-dir"}, &report, &err));
    CHECK(FormatBytes(512) == "512 B");
    CHECK(FormatBytes(1536) == "1.5 KiB");
  }

}  // TEST_SUITE
