// Loading workflow files: the shipped graphs, and what a loaded workflow holds.
#include "comfyrun/core/workflow.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "comfyrun/core/json_fast.h"
#include "comfyrun/core/validate.h"

using namespace comfyrun;

TEST_SUITE("Workflow") {
  TEST_CASE("every graph in graphs/ loads and validates") {
    size_t count = 0;
    for (const auto& entry : std::filesystem::directory_iterator(std::string(COMFYRUN_SOURCE_DIR) + "/graphs")) {
      if (entry.path().extension() != ".json") continue;
      std::string path = entry.path().string();
      CAPTURE(path);
      std::vector<Diagnostic> diags;
      Workflow wf;
      CHECK(LoadWorkflow(path, {}, &wf, &diags));
      for (const auto& d : diags) CHECK_MESSAGE(d.severity == Severity::kWarning, d.Format());
      CHECK(!wf.nodes.empty());
      ++count;
    }
    CHECK(count >= 5);
  }

  TEST_CASE("the older system's multi-video graph has its ids, edges and types") {
    std::vector<Diagnostic> diags;
    Workflow wf;
    REQUIRE(LoadWorkflow(std::string(COMFYRUN_SOURCE_DIR) + "/graphs/multi-video-series.json", {}, &wf, &diags));
    CHECK(wf.workflow_id == "multi-video-series-v1");
    REQUIRE(wf.Find("stitch_videos"));
    const WorkflowNode& stitch = *wf.Find("stitch_videos");
    CHECK(stitch.spec->name == "video_stitch");
    CHECK(wf.deps[wf.index.at("stitch_videos")].size() == 3);
    CHECK(wf.deps[wf.index.at("video_segment_1")] == std::vector<size_t>{wf.index.at("character_image_1")});
    CHECK(wf.Find("nope") == nullptr);
  }

  TEST_CASE("a missing file, a directory and an oversized text are refused with a message") {
    std::vector<Diagnostic> diags;
    Workflow wf;
    CHECK_FALSE(LoadWorkflow("no-such.json", {}, &wf, &diags));
    REQUIRE(diags.size() == 1);
    CHECK(diags[0].Format() == "no-such.json: cannot read file: no such file");
    diags.clear();
    CHECK_FALSE(LoadWorkflow(".", {}, &wf, &diags));
    REQUIRE(diags.size() == 1);
    CHECK(diags[0].message == "cannot read file: is a directory, not a file");
    diags.clear();
    Json doc;
    CHECK_FALSE(ParseJsonDocument(std::string(kMaxWorkflowBytes + 1, ' '), "big.json", &doc, &diags));
    REQUIRE(diags.size() == 1);
    CHECK(diags[0].message == "file is 16.0 MiB; the limit is 16 MiB");
  }

  TEST_CASE("binary data and deep nesting are refused before parsing") {
    std::vector<Diagnostic> diags;
    Json doc;
    CHECK_FALSE(ParseJsonDocument(std::string("{\"a\":\n \0}", 9), "bin.json", &doc, &diags));
    REQUIRE(diags.size() == 1);
    CHECK(diags[0].message == "not a JSON text: binary data (a NUL byte) at line 2, column 2");
    diags.clear();
    std::string deep = std::string(100000, '[') + std::string(100000, ']');
    CHECK_FALSE(ParseJsonDocument(deep, "deep.json", &doc, &diags));
    REQUIRE(diags.size() == 1);
    CHECK(diags[0].message == "JSON nested deeper than 256 levels at line 1, column 257");
    diags.clear();
    // Brackets inside strings do not count.
    std::string in_string = "{\"nodes\": \"" + std::string(1000, '[') + "\"}";
    CHECK(ParseJsonDocument(in_string, "s.json", &doc, &diags));
    CHECK(diags.empty());
  }

  TEST_CASE("a number too large for a double is an error with its position, not a crash") {
    std::vector<Diagnostic> diags;
    Json doc;
    CHECK_FALSE(ParseJsonDocument("{\"a\":\n  1e400}", "n.json", &doc, &diags));
    REQUIRE(diags.size() == 1);
    CHECK(diags[0].message == "not valid JSON at line 2, column 3: number overflow parsing '1e400'");
  }

  TEST_CASE("IsValidNodeId accepts what a template can name") {
    CHECK(IsValidNodeId("video_segment-1"));
    CHECK(IsValidNodeId(std::string(128, 'a')));
    CHECK_FALSE(IsValidNodeId(std::string(129, 'a')));
    CHECK_FALSE(IsValidNodeId(""));
    CHECK_FALSE(IsValidNodeId("a.b"));
    CHECK_FALSE(IsValidNodeId("a b"));
    CHECK_FALSE(IsValidNodeId("vid\xc3\xa9o"));
  }

  TEST_CASE("a workflow without workflowId takes the file name") {
    std::vector<Diagnostic> diags;
    Workflow wf;
    CHECK(LoadWorkflowText(R"({"nodes": [{"id": "a", "type": "value"}]})", "dir/my-flow.v2.json", {}, &wf, &diags));
    CHECK(wf.workflow_id == "my-flow");
  }

  TEST_CASE("a workflow read by two threads gives the nodes and messages one pass would") {
    // 5,000 nodes: read in two halves (2,500 each). A duplicate id across the halves, a node
    // that is not an object and a node without a type, each in the second half.
    Json nodes = Json::array();
    for (int i = 0; i < 5000; ++i)
      nodes.push_back({{"id", "n" + std::to_string(i)},
                       {"type", "value"},
                       {"inputs", {{"v", i ? "<<n" + std::to_string(i - 1) + ".v>>" : "0"}}}});
    nodes[10]["id"] = "dupe";
    nodes[2600] = 42;
    nodes[3000].erase("type");
    nodes[4000]["id"] = "dupe";
    nodes[4000]["colour"] = "red";
    Workflow wf;
    std::vector<Diagnostic> diags;
    CHECK_FALSE(BuildWorkflow(Json{{"workflowId", "big"}, {"nodes", nodes}}, "big.json", {}, &wf, &diags));
    REQUIRE(diags.size() == 4);
    CHECK(diags[0].json_path == "$.nodes[2600]");
    CHECK(diags[0].message.find("a node is an object") == 0);
    CHECK(diags[1].json_path == "$.nodes[3000]");
    CHECK(diags[1].node_id == "n3000");
    CHECK(diags[1].message == "node has no \"type\"");
    // The duplicate's error comes first among its node's; its other messages name no node.
    CHECK(diags[2].json_path == "$.nodes[4000].id");
    CHECK(diags[2].node_id == "dupe");
    CHECK(diags[2].message == "duplicate node id 'dupe'");
    CHECK(diags[3].json_path == "$.nodes[4000].colour");
    CHECK(diags[3].node_id == "");
    // The node that is not an object is left out; the others keep their order and edges.
    REQUIRE(wf.nodes.size() == 4999);
    CHECK(wf.nodes[2599].id == "n2599");
    CHECK(wf.nodes[2600].id == "n2601");
    CHECK(wf.nodes[2600].json_path == "$.nodes[2601]");
    CHECK(wf.nodes[3999].id == "");  // the duplicate, position 4000
    CHECK(wf.index.at("dupe") == 10);
    CHECK(wf.deps[wf.index.at("n4999")] == std::vector<size_t>{wf.index.at("n4998")});
    CHECK(wf.deps[wf.index.at("n2601")].empty());  // n2600 was not a node
    for (const auto& node : wf.nodes) CHECK(node.inputs.is_object());
  }

  TEST_CASE("a node without inputs has an empty object of them") {
    Workflow wf;
    std::vector<Diagnostic> diags;
    REQUIRE(LoadWorkflowText(R"({"nodes": [{"id": "a", "type": "value"}, {"id": "b", "type": "value", "inputs": 3}]})",
                             "f.json", {}, &wf, &diags) == false);
    REQUIRE(wf.nodes.size() == 2);
    CHECK(wf.nodes[0].inputs == Json::object());
    CHECK(wf.nodes[1].inputs == Json::object());
  }

  TEST_CASE("duplicate keys: the parse flags them per object; FindDuplicateKeys says where") {
    Json doc;
    bool dup = true;
    REQUIRE(ParseJsonFast(R"({"a": {"b": 1, "c": [{"d": 1}]}})", &doc, &dup));
    CHECK_FALSE(dup);
    REQUIRE(ParseJsonFast(R"({"a": {"b": 1, "c": [{"d": 1}, {"e": 1, "e": 2}]}, "f": 1, "f": 3})", &doc, &dup));
    CHECK(dup);
    CHECK(doc["f"] == 3);  // as nlohmann keeps it: the last value
    CHECK(doc["a"]["c"][1]["e"] == 2);
    std::vector<DuplicateKey> found;
    FindDuplicateKeys(
        R"({"a": {"b": 1, "c": [{"d": 1}, {"e": 1, "e": 2}]}, "f": 1, "f": 3, "my key": {"x": 0, "x": 0}})", &found);
    REQUIRE(found.size() == 3);
    CHECK(found[0].object_path == "$.a.c[1]");
    CHECK(found[0].key == "e");
    CHECK(found[1].object_path == "$");
    CHECK(found[1].key == "f");
    CHECK(found[2].object_path == "$['my key']");
    FindDuplicateKeys("{not json", &found);
    CHECK(found.empty());
    // Text simdjson refuses (a 70-bit integer) goes to nlohmann, and its duplicates are found too.
    std::vector<Diagnostic> diags;
    Workflow wf;
    CHECK_FALSE(LoadWorkflowText(R"({"nodes": [{"id": "a", "type": "value", "inputs": {"x": 1180591620717411303424,
      "x": 2}}]})",
                                 "w.json", {}, &wf, &diags));
    REQUIRE(CountErrors(diags) == 1);
    CHECK(diags[0].json_path == "$.nodes[0].inputs.x");
    CHECK(diags[0].node_id == "a");
  }
}
