// Run metrics: the metrics file's text is written field by field for speed, and the metrics
// document (status, report) is that text parsed; these cases check that the text is valid JSON
// with the right values and types.
#include "comfyrun/metrics/run_metrics.h"

#include <doctest/doctest.h>

#include "comfyrun/core/workflow.h"

using namespace comfyrun;

namespace {

JournalReplay SampleReplay() {
  JournalReplay r;
  r.header = {{"type", "header"},
              {"runId", "run-1"},
              {"workflowId", "wf"},
              {"workflow",
               {{"workflowId", "wf"},
                {"nodes",
                 {{{"id", "a"}, {"type", "value"}, {"inputs", {{"v", 1}}}},
                  {{"id", "b"}, {"type", "shell"}, {"inputs", {{"argv", {"echo", "<<a.v>>"}}}}},
                  {{"id", "c"}, {"type", "character_image"}, {"inputs", {{"prompt", "<<b.stdout>>"}}}},
                  {{"id", "d"}, {"type", "shell"}, {"inputs", {{"argv", {"x"}}}}, {"dependsOn", {"c"}}},
                  {{"id", "e"}, {"type", "shell"}, {"inputs", {{"argv", {"y"}}}}}}}}}};
  r.finished = true;
  r.final_status = "failed";
  r.runs = 2;
  r.first_started_at = 1795342285747;
  r.last_event_at = 1795342299001;
  r.total_cost = 0.1 + 0.2;
  JournalNode& a = r.nodes["a"];
  a.status = JournalNode::Status::kCompleted;
  a.attempts = 1;
  a.outputs = {{"v", 1}};
  a.started_at = a.finished_at = 1795342285747;
  a.spans.push_back({1, 1795342285747, 1795342285747, AttemptSpan::Outcome::kCompleted, "", 0});
  JournalNode& b = r.nodes["b"];
  b.status = JournalNode::Status::kCompleted;
  b.attempts = 2;
  // Quotes, backslashes, control characters, non-ASCII text.
  b.outputs = {{"stdout", "say \"hi\"\\n\t\x01 caf\xc3\xa9"}, {"exitCode", 0}, {"ratio", 2500000.0}};
  b.cost = 0;
  b.started_at = 1795342286000;
  b.finished_at = 1795342287999;
  b.duration_ms = 1999;
  b.queue_wait_ms = 12;
  b.spans.push_back({1, 1795342286000, 1795342286500, AttemptSpan::Outcome::kFailed, "Execution", 0});
  b.spans.push_back({2, 1795342287000, 1795342287999, AttemptSpan::Outcome::kCompleted, "", 0});
  JournalNode& c = r.nodes["c"];
  c.status = JournalNode::Status::kFailed;
  c.attempts = 3;
  c.cost = 0.1 + 0.2;
  c.provider = "gemini";
  c.model = "gemini-2.5-flash-image";
  c.last_error = ErrorType::kRateLimited;
  c.last_message = "429: \"slow down\"\nretry later \xe2\x80\x94 ok";
  c.started_at = 1795342288000;
  c.finished_at = 1795342299000;
  c.spans.push_back({3, 1795342288000, 0, AttemptSpan::Outcome::kOpen, "", 1e-7});
  JournalNode& d = r.nodes["d"];
  d.status = JournalNode::Status::kSkipped;
  r.nodes["e"].status = JournalNode::Status::kRunning;  // "interrupted": the run finished
  r.nodes["e"].cached = true;
  return r;
}

}  // namespace

TEST_SUITE("Metrics") {
  TEST_CASE("the metrics file's text parses to exactly the metrics document") {
    JournalReplay r = SampleReplay();
    std::string text = RunMetricsText(r);
    Json parsed = Json::parse(text);
    Json built = BuildRunMetrics(r);
    CHECK(parsed == built);
    if (parsed != built) MESSAGE(parsed.dump(2) << "\nvs\n" << built.dump(2));
    // Numbers keep their JSON types: a whole double stays a double, counts stay integers.
    CHECK(parsed["nodes"][1]["outputs"]["ratio"].is_number_float());
    CHECK(parsed["nodes"][1]["durationMs"].is_number_integer());
    CHECK(parsed["nodes"][0]["cost"].is_number_float());
    CHECK(parsed["nodes"][2]["error"]["type"] == "RateLimited");
    CHECK(parsed["nodes"][4]["status"] == "interrupted");
    CHECK(parsed["nodes"][3]["start"] == "");
    // One line per node, so `grep` and `jq -c` users see one node at a time.
    CHECK(std::count(text.begin(), text.end(), '\n') >= 5);
  }

  TEST_CASE("metrics from the built workflow are the metrics from the header's workflow") {
    // Run and resume pass the Workflow they built from the header instead of parsing it again.
    JournalReplay r = SampleReplay();
    r.nodes["b"].duration_ms = 5000;  // a critical path that goes through the edges: a -> b -> c
    r.nodes["c"].duration_ms = 7000;
    r.nodes["c"].status = JournalNode::Status::kCompleted;
    Workflow wf;
    std::vector<Diagnostic> diags;
    REQUIRE(BuildWorkflow(r.header["workflow"], "wf.json", {}, &wf, &diags));
    std::string from_header = RunMetricsText(r);
    CHECK(RunMetricsText(r, wf) == from_header);
    Json parsed = Json::parse(from_header);
    CHECK(parsed["criticalPath"] == Json::array({"a", "b", "c", "d"}));
    CHECK(parsed["counts"]["completed"] == 3);
  }

  TEST_CASE("each node lists where its attempts ran; nodes whose attempts do not say have no \"where\"") {
    JournalReplay r = SampleReplay();
    r.nodes["b"].spans[0].where = {{"executor", "slurm"}, {"jobId", "41"}, {"host", "gpu07"}};
    r.nodes["b"].spans[1].where = {{"executor", "local"}};
    std::string text = RunMetricsText(r);
    Json parsed = Json::parse(text);
    CHECK(parsed == BuildRunMetrics(r));
    CHECK(parsed["nodes"][1]["where"] ==
          Json::parse(R"([{"attempt": 1, "executor": "slurm", "jobId": "41", "host": "gpu07"},
                          {"attempt": 2, "executor": "local"}])"));
    CHECK_FALSE(parsed["nodes"][0].contains("where"));  // a value node's attempt says nothing
    CHECK_FALSE(parsed["nodes"][2].contains("where"));
  }

  TEST_CASE("a broken UTF-8 byte in an output or a message still gives valid JSON") {
    JournalReplay r = SampleReplay();
    r.nodes["b"].outputs["stdout"] = "bad \xff byte";
    r.nodes["c"].last_message = "bad \xfe";
    Json parsed = Json::parse(RunMetricsText(r));
    CHECK(parsed["nodes"][1]["outputs"]["stdout"] == "bad \xef\xbf\xbd byte");  // U+FFFD
    CHECK(parsed["nodes"][2]["error"]["message"] == "bad \xef\xbf\xbd");
  }

  TEST_CASE("a workflow without nodes gives an empty list") {
    JournalReplay r;
    r.header = {{"runId", "x"}, {"workflow", {{"nodes", Json::array()}}}};
    Json parsed = Json::parse(RunMetricsText(r));
    CHECK(parsed == BuildRunMetrics(r));
    CHECK(parsed["nodes"] == Json::array());
  }

  TEST_CASE("a big run's node lines, written on a second thread, are all there in order") {
    JournalReplay r;
    Json nodes = Json::array();
    for (int i = 0; i < 6000; ++i) {
      std::string id = "n" + std::to_string(i);
      Json inputs = i ? Json{{"v", "<<n" + std::to_string(i - 1) + ".v>>"}} : Json{{"v", 0}};
      nodes.push_back({{"id", id}, {"type", "value"}, {"inputs", inputs}});
      JournalNode& n = r.nodes[id];
      n.status = JournalNode::Status::kCompleted;
      n.duration_ms = 1;
      n.outputs = {{"v", i}};
    }
    r.header = {{"runId", "big"}, {"workflow", {{"nodes", nodes}}}};
    r.finished = true;
    r.final_status = "succeeded";
    Json parsed = Json::parse(RunMetricsText(r));
    REQUIRE(parsed["nodes"].size() == 6000);
    for (int i : {0, 1, 2999, 5999}) {
      CHECK(parsed["nodes"][i]["id"] == "n" + std::to_string(i));
      CHECK(parsed["nodes"][i]["outputs"]["v"] == i);
    }
    CHECK(parsed["criticalPath"].size() == 6000);
    CHECK(parsed["counts"]["completed"] == 6000);
  }

  TEST_CASE("peak parallelism counts overlapping attempts; one ending as another starts does not overlap") {
    JournalReplay r;
    r.header = {{"runId", "peak"}, {"workflow", {{"nodes", Json::array()}}}};
    r.last_event_at = 600;
    using O = AttemptSpan::Outcome;
    r.nodes["a"].spans.push_back({1, 100, 200, O::kCompleted, "", 0});
    r.nodes["b"].spans.push_back({1, 150, 300, O::kCompleted, "", 0});
    r.nodes["c"].spans.push_back({1, 200, 250, O::kCompleted, "", 0});  // starts as a ends
    r.nodes["d"].spans.push_back({1, 160, 0, O::kOpen, "", 0});         // cut short: ends at 400
    r.nodes["d"].spans.push_back({2, 400, 500, O::kCompleted, "", 0});
    r.nodes["e"].spans.push_back({1, 450, 0, O::kOpen, "", 0});  // open: ends at the last event
    CHECK(BuildRunMetrics(r)["peakParallelism"] == 3);           // b, d and c at 200-250
    r.nodes["f"].spans.push_back({1, 550, 600, O::kCompleted, "", 0});
    r.nodes["g"].spans.push_back({1, 560, 570, O::kCompleted, "", 0});
    CHECK(BuildRunMetrics(r)["peakParallelism"] == 3);  // e, f and g at 560
  }
}
