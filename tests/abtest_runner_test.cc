#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "comfyrun/abtest/runner.h"
#include "comfyrun/core/util.h"
#include "comfyrun/core/validate.h"

using namespace comfyrun;

namespace {

void WriteText(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

/// Parses an A/B test given as JSON text, as if it were the file `file`.
bool Parse(const std::string& text, AbTestSpec* spec, std::vector<Diagnostic>* diags, int repeats = 0,
           const std::string& file = "ab/test.json") {
  AbLoadOptions options;
  options.repeats = repeats;
  return ParseAbTest(Json::parse(text), file, options, spec, diags);
}

std::string AllMessages(const std::vector<Diagnostic>& diags) {
  std::string out;
  for (const auto& d : diags) out += d.Format() + "\n";
  return out;
}

/// Combines a test and builds + validates the combined workflow, as `abtest` does.
Workflow Combined(const AbTestSpec& spec, AbCombined* combined) {
  std::vector<Diagnostic> diags;
  REQUIRE(CombineAbTest(spec, combined, &diags));
  Workflow wf;
  bool ok = BuildWorkflow(combined->document, spec.file, {}, &wf, &diags) && ValidateWorkflow(&wf, &diags);
  INFO(AllMessages(diags));
  REQUIRE(ok);
  return wf;
}

const char* kTwoInline = R"({
  "testId": "t1", "description": "two prompts", "repeats": 2,
  "variants": [
    {"variantId": "a", "workflowId": "wf-a", "nodes": [
      {"id": "gen", "type": "value", "inputs": {"text": "hello"}},
      {"id": "judge", "type": "shell", "inputs": {"argv": ["echo", "<<gen.text>> and {{gen.text}}", "\\<<gen.text>>"]},
       "dependsOn": ["gen"]}]},
    {"variantId": "b", "repeats": 3, "nodes": [
      {"id": "gen", "type": "value", "inputs": {"text": "bye", "list": ["<<gen2.n>>"]}},
      {"id": "gen2", "type": "value", "inputs": {"n": 2}}]}
  ]})";

}  // namespace

TEST_SUITE("AbtestRunner") {
  TEST_CASE("runs are laid out round-robin, variant by variant within each repeat") {
    AbTestSpec spec;
    std::vector<Diagnostic> diags;
    REQUIRE_MESSAGE(Parse(kTwoInline, &spec, &diags), AllMessages(diags));
    REQUIRE(spec.variants.size() == 2);
    CHECK(spec.variants[0].repeats == 2);
    CHECK(spec.variants[1].repeats == 3);  // the variant's own repeats win over the test's
    CHECK(spec.variants[0].workflow_id == "wf-a");
    CHECK(spec.variants[1].workflow_id == "b");
    std::vector<std::pair<std::string, int>> order;
    for (const auto& r : InterleavedRuns(spec)) order.emplace_back(r.variant_id, r.repeat);
    CHECK(order == std::vector<std::pair<std::string, int>>{{"a", 0}, {"b", 0}, {"a", 1}, {"b", 1}, {"b", 2}});

    SUBCASE("--repeats overrides the file") {
      AbTestSpec two;
      diags.clear();
      REQUIRE(Parse(kTwoInline, &two, &diags, 1));
      CHECK(InterleavedRuns(two).size() == 2);
    }
  }

  TEST_CASE("the combined workflow prefixes every node and rewrites templates and dependsOn") {
    AbTestSpec spec;
    std::vector<Diagnostic> diags;
    REQUIRE(Parse(kTwoInline, &spec, &diags));
    AbCombined combined;
    Workflow wf = Combined(spec, &combined);
    CHECK(wf.workflow_id == "t1");
    REQUIRE(wf.nodes.size() == 2 * 2 + 3 * 2);
    // Node order follows the interleaved runs, so the scheduler's index tie-break interleaves.
    std::vector<std::string> ids;
    for (const auto& n : wf.nodes) ids.push_back(n.id);
    CHECK(ids == std::vector<std::string>{"a__r0__gen", "a__r0__judge", "b__r0__gen", "b__r0__gen2", "a__r1__gen",
                                          "a__r1__judge", "b__r1__gen", "b__r1__gen2", "b__r2__gen", "b__r2__gen2"});
    const WorkflowNode* judge = wf.Find("a__r1__judge");
    REQUIRE(judge);
    CHECK(judge->inputs["argv"][1] == "<<a__r1__gen.text>> and {{a__r1__gen.text}}");
    CHECK(judge->inputs["argv"][2] == "\\<<gen.text>>");  // an escape stays as written
    CHECK(judge->depends_on == std::vector<std::string>{"a__r1__gen"});
    const auto& judge_deps = wf.deps[wf.index.at("a__r1__judge")];
    REQUIRE(judge_deps.size() == 1);
    CHECK(wf.nodes[judge_deps[0]].id == "a__r1__gen");
    const WorkflowNode* gen = wf.Find("b__r2__gen");
    REQUIRE(gen);
    CHECK(gen->inputs["list"][0] == "<<b__r2__gen2.n>>");
    REQUIRE(!wf.deps[wf.index.at("b__r2__gen")].empty());
    CHECK(wf.nodes[wf.deps[wf.index.at("b__r2__gen")][0]].id == "b__r2__gen2");
    // Every run is a sample: no node may take another run's output from the cache.
    for (const auto& n : wf.nodes) CHECK_MESSAGE(n.cache == std::optional<bool>(false), n.id);
    // The manifest says everything needed to read the runs back.
    const Json& m = combined.manifest;
    CHECK(m["testId"] == "t1");
    CHECK(m["runs"].size() == 5);
    CHECK(m["runs"][1] == Json({{"variantId", "b"}, {"repeat", 0}}));
    CHECK(m["variants"][0]["nodes"][1] == Json({{"id", "judge"}, {"type", "shell"}}));
    CHECK(m["variants"][0]["quality"].is_null());
  }

  TEST_CASE("RewriteTemplates touches only the templates it is asked to") {
    auto rename = [](Reference* ref) {
      if (ref->root != "x") return false;
      ref->root = "v__x";
      return true;
    };
    CHECK(RewriteTemplates("a << b and <<x.y[0].z>> and << x.w >>", rename) ==
          "a << b and <<v__x.y[0].z>> and <<v__x.w>>");
    CHECK(RewriteTemplates("<<other.y>> {{x}} <<bad syntax!>>", rename) == "<<other.y>> {{v__x}} <<bad syntax!>>");
    // Escapes stay as written (still escapes after the rewrite); only real templates change.
    CHECK(RewriteTemplates("\\<<x.a>> <<x.a>> \\{{x}}", rename) == "\\<<x.a>> <<v__x.a>> \\{{x}}");
    CHECK(RewriteTemplates("1 << 2 then <<x.a>>", rename) == "1 << 2 then <<v__x.a>>");
    CHECK(RewriteTemplates(Json({{"k", {1, "<<x.a>>", {{"deep", "<<x.b>>"}}}}}), rename) ==
          Json({{"k", {1, "<<v__x.a>>", {{"deep", "<<v__x.b>>"}}}}}));
  }

  TEST_CASE("graph variants take a workflow file plus params, found beside the test file") {
    WriteText("ab/graphs/g.json", R"({"workflowId": "g", "params": {"prompt": "default", "n": 1},
    "defaults": {"retry": {"maximumAttempts": 2, "initialInterval": "50ms"}},
    "pools": {"slow": 2},
    "nodes": [{"id": "say", "type": "shell", "inputs": {"argv": ["echo", "<<params.prompt>>", "<<params.n>>"]}}]})");
    AbTestSpec spec;
    std::vector<Diagnostic> diags;
    REQUIRE_MESSAGE(Parse(R"({"testId": "g-test", "graph": "graphs/g.json", "params": {"n": 5},
    "quality": "say.score",
    "variants": [{"variantId": "v1", "params": {"prompt": "one"}},
                 {"variantId": "v2", "params": {"prompt": "two", "n": 7}}]})",
                          &spec, &diags),
                    AllMessages(diags));
    CHECK(spec.variants[0].graph == "ab/graphs/g.json");
    CHECK(spec.variants[0].workflow.params["n"] == 5);
    CHECK(spec.variants[1].workflow.params["n"] == 7);
    CHECK(spec.variants[0].quality->node == "say");
    AbCombined combined;
    Workflow wf = Combined(spec, &combined);
    CHECK(wf.params["v1__prompt"] == "one");
    CHECK(wf.params["v2__prompt"] == "two");
    CHECK(wf.params["v2__n"] == 7);
    const WorkflowNode* say = wf.Find("v2__r0__say");
    REQUIRE(say);
    CHECK(say->inputs["argv"][1] == "<<params.v2__prompt>>");
    CHECK(say->retry.maximum_attempts == 2);  // the variant's defaults are kept per node
    CHECK(say->retry.initial_interval == doctest::Approx(0.05));
    CHECK(wf.pools.at("slow") == 2);
  }

  TEST_CASE("pools keep their rate in the combined workflow; the smaller limit holds") {
    WriteText("ab/graphs/rated.json", R"({"workflowId": "rated",
    "pools": {"api": {"concurrency": 4, "rate": "60/min"}, "only_rate": {"rate": "7/min"}, "plain": 3},
    "nodes": [{"id": "say", "type": "shell", "pool": "api", "inputs": {"argv": ["echo", "hi"]}}]})");
    WriteText("ab/graphs/rated2.json", R"({"workflowId": "rated2",
    "pools": {"api": {"concurrency": 2, "rate": "90/min"}},
    "nodes": [{"id": "say", "type": "shell", "pool": "api", "inputs": {"argv": ["echo", "ho"]}}]})");
    AbTestSpec spec;
    std::vector<Diagnostic> diags;
    REQUIRE_MESSAGE(Parse(R"({"testId": "rates",
    "variants": [{"variantId": "a", "graph": "graphs/rated.json"},
                 {"variantId": "b", "graph": "graphs/rated2.json"}]})",
                          &spec, &diags),
                    AllMessages(diags));
    AbCombined combined;
    Workflow wf = Combined(spec, &combined);
    CHECK(wf.pools.at("api") == 2);
    REQUIRE(wf.pool_rates.count("api"));
    CHECK(wf.pool_rates.at("api") == doctest::Approx(1.0));  // 60/min < 90/min
    REQUIRE(wf.pool_rates.count("only_rate"));
    CHECK(wf.pool_rates.at("only_rate") == doctest::Approx(7.0 / 60));
    CHECK(wf.pools.count("only_rate") == 0);  // a rate alone adds no concurrency limit
    CHECK(wf.pools.at("plain") == 3);
    CHECK(wf.pool_rates.count("plain") == 0);
  }

  TEST_CASE("every invalid variant is reported at once, with file, variant, node and path") {
    WriteText("ab/graphs/ok.json", R"({"workflowId": "ok", "params": {"prompt": "p"},
    "nodes": [{"id": "say", "type": "shell", "inputs": {"argv": ["echo", "<<params.prompt>>"]}}]})");
    AbTestSpec spec;
    std::vector<Diagnostic> diags;
    CHECK(!Parse(R"({"testId": "bad", "repeats": 0,
    "variants": [
      {"variantId": "inline", "nodes": [{"id": "a", "type": "shell", "inputs": {"argv": ["echo", "<<nope.x>>"]}}]},
      {"variantId": "typo", "graph": "graphs/ok.json", "params": {"promt": "x"}},
      {"variantId": "missing", "graph": "graphs/none.json"},
      {"variantId": "q", "graph": "graphs/ok.json", "quality": "judge.score"},
      {"variantId": "inline", "nodes": []},
      {"variantId": "bad__id", "nodes": []}
    ]})",
                 &spec, &diags));
    const std::string all = AllMessages(diags);
    INFO(all);
    CHECK(all.find("ab/test.json: at $.repeats: repeats is a whole number") != std::string::npos);
    CHECK(all.find("ab/test.json: node 'a' at $.variants[0].nodes[0].inputs.argv[1]: variant 'inline':") !=
          std::string::npos);
    CHECK(all.find("at $.variants[1].params.promt: variant 'typo':") != std::string::npos);
    CHECK(all.find("did you mean 'prompt'?") != std::string::npos);
    CHECK(all.find("at $.variants[2].graph: variant 'missing': graph file 'graphs/none.json' not found") !=
          std::string::npos);
    CHECK(all.find("at $.variants[3].quality: variant 'q': quality 'judge.score' names no node") != std::string::npos);
    CHECK(all.find("duplicate variantId 'inline'") != std::string::npos);
    CHECK(all.find("at $.variants[5].variantId") != std::string::npos);
  }

  TEST_CASE("test-level problems: not a test, missing testId, unsafe testId, no variants") {
    AbTestSpec spec;
    std::vector<Diagnostic> diags;
    CHECK(!Parse(R"({"workflowId": "w", "nodes": []})", &spec, &diags));
    CHECK(AllMessages(diags).find("this is a workflow, not an A/B test") != std::string::npos);
    diags.clear();
    CHECK(!Parse(R"({"testId": "a/b", "variants": []})", &spec, &diags));
    CHECK(AllMessages(diags).find("testId is a name used in file names") != std::string::npos);
    CHECK(AllMessages(diags).find("at least one variant") != std::string::npos);
  }

  TEST_CASE("the older format file of the repository loads unchanged") {
    std::vector<Diagnostic> diags;
    AbTestSpec spec;
    const std::string file = std::string(COMFYRUN_SOURCE_DIR) + "/ab-tests/aria-prompt-comparison.json";
    REQUIRE_MESSAGE(LoadAbTest(file, {}, &spec, &diags), AllMessages(diags));
    REQUIRE(spec.variants.size() == 2);
    CHECK(spec.test_id == "aria-prompt-v1-vs-v2");
    CHECK(spec.variants[1].workflow_id == "aria-simple-v1");
    CHECK(spec.variants[0].repeats == 1);
    AbCombined combined;
    Workflow wf = Combined(spec, &combined);
    CHECK(wf.Find("detailed-prompt__r0__character_image_1"));
  }

  TEST_CASE("quality: the named output, else the last qualityScore, normalised to 0-10") {
    const Json variant = {{"variantId", "v"},
                          {"quality", nullptr},
                          {"nodes",
                           {{{"id", "probe"}, {"type", "media_probe"}},
                            {{"id", "judge"}, {"type", "shell"}},
                            {{"id", "gen"}, {"type", "value"}}}}};
    std::string source;
    SUBCASE("a named output, with path steps") {
      Json v = variant;
      v["quality"] = "judge.scores[1]";
      auto q = ExtractQuality(v, {{"judge", {{"scores", {1, 8.5}}}}}, std::nullopt, &source);
      REQUIRE(q);
      CHECK(*q == doctest::Approx(8.5));
      CHECK(source == "judge.scores[1]");
      CHECK(*ExtractQuality(v, {{"judge", {{"scores", {1, 0.5}}}}}, 1.0, &source) == doctest::Approx(5));
      CHECK(!ExtractQuality(v, {{"judge", {{"scores", {1, "high"}}}}}, std::nullopt, &source));
      CHECK(source.find("not a number") != std::string::npos);
      CHECK(!ExtractQuality(v, Json::object(), std::nullopt, &source));
      CHECK(StartsWith(source, "none:"));
    }
    SUBCASE("a media_probe's qualityScore is 0..1") {
      Json v = variant;
      v["quality"] = "probe.qualityScore";
      CHECK(*ExtractQuality(v, {{"probe", {{"qualityScore", 0.75}}}}, std::nullopt, &source) == doctest::Approx(7.5));
    }
    SUBCASE("no name: the last node with a qualityScore") {
      auto q = ExtractQuality(variant, {{"probe", {{"qualityScore", 0.9}}}, {"judge", {{"qualityScore", 6}}}},
                              std::nullopt, &source);
      REQUIRE(q);
      CHECK(*q == doctest::Approx(6));
      CHECK(source == "judge.qualityScore");
      q = ExtractQuality(variant, {{"probe", {{"qualityScore", 0.9}}}, {"gen", {{"x", 1}}}}, std::nullopt, &source);
      CHECK(*q == doctest::Approx(9));
      CHECK(source == "probe.qualityScore");
    }
    SUBCASE("none at all, and the result says so") {
      CHECK(!ExtractQuality(variant, {{"gen", {{"x", 1}}}}, std::nullopt, &source));
      CHECK(source.find("no node output is named qualityScore") != std::string::npos);
    }
  }

  TEST_CASE("runs are read back from the journal: success, failure, refused by the budget, unfinished") {
    AbTestSpec spec;
    std::vector<Diagnostic> diags;
    REQUIRE(Parse(R"({"testId": "t", "repeats": 2, "variants": [
    {"variantId": "a", "nodes": [{"id": "gen", "type": "value", "inputs": {"x": 1}},
                                 {"id": "judge", "type": "value", "inputs": {"q": "<<gen.x>>"}},
                                 {"id": "side", "type": "value", "inputs": {"y": 1}}]},
    {"variantId": "b", "nodes": [{"id": "gen", "type": "value", "inputs": {"x": 1}}]}]})",
                  &spec, &diags));
    AbCombined combined;
    Workflow wf = Combined(spec, &combined);
    JournalReplay replay;
    auto completed = [&](const std::string& id, int64_t ms, double cost, Json outputs) {
      JournalNode n;
      n.status = JournalNode::Status::kCompleted;
      n.duration_ms = ms;
      n.cost = cost;
      n.outputs = std::move(outputs);
      replay.nodes[id] = n;
    };
    // a/r0: gen 100 ms then judge 50 ms; side 120 ms in parallel: critical path 150 ms.
    completed("a__r0__gen", 100, 0.5, {{"x", 1}});
    completed("a__r0__judge", 50, 0.25, {{"qualityScore", 8}});
    completed("a__r0__side", 120, 0, Json::object());
    // a/r1: gen fails after 2 s; its dependent is skipped.
    JournalNode failed;
    failed.status = JournalNode::Status::kFailed;
    failed.last_error = ErrorType::kExecution;
    failed.last_message = "exit 1";
    failed.started_at = 1000;
    failed.finished_at = 3000;
    failed.cost = 0.1;
    replay.nodes["a__r1__gen"] = failed;
    replay.nodes["a__r1__judge"].status = JournalNode::Status::kSkipped;
    completed("a__r1__side", 10, 0, Json::object());
    // b/r0 completed; b/r1 was refused by --max-cost.
    completed("b__r0__gen", 30, 0, {{"x", 1}});
    JournalNode refused;
    refused.status = JournalNode::Status::kFailed;
    refused.last_error = ErrorType::kCancelled;
    refused.last_message = "not started: its estimated $0.50 could take the run past --max-cost $1.00";
    replay.nodes["b__r1__gen"] = refused;

    AbCollected c = CollectAbRuns(combined.manifest, wf, replay);
    REQUIRE(c.runs.size() == 3);
    CHECK(c.unfinished == 1);
    CHECK(c.variants.size() == 2);
    const AbRun& ok = c.runs[0];
    CHECK(ok.variant_id == "a");
    CHECK(ok.success);
    CHECK(ok.duration_seconds == doctest::Approx(0.15));
    CHECK(ok.cost == doctest::Approx(0.75));
    CHECK(ok.quality == 8.0);
    CHECK(ok.outputs["judge"]["qualityScore"] == 8);
    const AbRun& bad = c.runs[2];
    CHECK(bad.variant_id == "a");
    CHECK(bad.repeat == 1);
    CHECK(!bad.success);
    CHECK(bad.duration_seconds == doctest::Approx(2.0));
    CHECK(bad.cost == doctest::Approx(0.1));
    CHECK(bad.error.find("gen: Execution: exit 1") != std::string::npos);
    CHECK(c.runs[1].variant_id == "b");
    CHECK(!c.runs[1].quality);
    CHECK(c.quality_sources["a"] == "judge.qualityScore");
    CHECK(c.quality_sources["b"].get<std::string>().find("none:") == 0);

    SUBCASE("a run with a node still pending is unfinished") {
      replay.nodes.erase("a__r0__side");
      AbCollected partial = CollectAbRuns(combined.manifest, wf, replay);
      CHECK(partial.runs.size() == 2);
      CHECK(partial.unfinished == 2);
    }
  }

}  // TEST_SUITE
