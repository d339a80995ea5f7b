// The workflow JSON Schema (schema/workflow_schema.h): it follows the node registry, and its
// regexes accept exactly what the parsers accept. Validation of real files against the
// schema with a JSON Schema validator is in tests/e2e/schema.sh (python3-jsonschema).
#include <doctest/doctest.h>

#include <filesystem>
#include <regex>

#include "comfyrun/core/node_registry.h"
#include "comfyrun/core/template.h"
#include "comfyrun/core/util.h"
#include "comfyrun/schema/workflow_schema.h"

namespace comfyrun {
namespace {

bool Matches(const char* pattern, const std::string& text) {
  // JSON Schema patterns are ECMA-262 regexes, unanchored unless they say so.
  return std::regex_search(text, std::regex(pattern, std::regex::ECMAScript));
}

/// True when `text` is exactly one template (validate.cc's test for "keeps the value's type").
bool IsWholeTemplate(const std::string& text) {
  std::vector<Reference> refs;
  std::vector<std::pair<std::string, std::string>> errors;
  FindReferences(Json(text), "$", &refs, &errors);
  return errors.empty() && refs.size() == 1 && refs[0].text == text;
}

}  // namespace

TEST_SUITE("Schema") {
  TEST_CASE("the schema names its dialect and id and is the same every time") {
    Json s = WorkflowSchema();
    CHECK(s["$schema"] == "http://json-schema.org/draft-07/schema#");
    CHECK(s["$id"] == kWorkflowSchemaId);
    CHECK(s["title"].is_string());
    CHECK(s["required"] == Json::array({"nodes"}));
    CHECK(WorkflowSchema().dump() == s.dump());
  }

  TEST_CASE("every node type and alias is in the type enum, with an inputs definition per type") {
    Json s = WorkflowSchema();
    const Json& defs = s["definitions"];
    const Json& names = defs["node"]["properties"]["type"]["enum"];
    CHECK(names.size() == AllNodeTypeNames().size());
    CHECK(defs["node"]["properties"]["type"]["enumDescriptions"].size() == names.size());
    for (const auto& name : AllNodeTypeNames()) CHECK(std::find(names.begin(), names.end(), Json(name)) != names.end());
    CHECK(defs["node"]["allOf"].size() == AllNodeTypes().size());
    for (const auto& type : AllNodeTypes()) {
      CAPTURE(type.name);
      REQUIRE(defs.contains("inputs." + type.name));
      const Json& inputs = defs["inputs." + type.name];
      if (type.open_inputs) {
        CHECK(inputs["additionalProperties"] == true);
        continue;
      }
      CHECK(inputs["additionalProperties"] == false);
      CHECK(inputs["properties"].size() == type.inputs.size());
      for (const auto& input : type.inputs) {
        CAPTURE(input.name);
        REQUIRE(inputs["properties"].contains(input.name));
        CHECK(inputs["properties"][input.name]["description"].get<std::string>().find(input.doc) == 0);
        bool listed = inputs.contains("required") && std::find(inputs["required"].begin(), inputs["required"].end(),
                                                               Json(input.name)) != inputs["required"].end();
        CHECK(listed == input.required);
      }
    }
  }

  TEST_CASE("an input's type, enum, range and default come from its declaration") {
    Json defs = WorkflowSchema()["definitions"];
    // transitionType: a string enum that also takes a templated string.
    const Json& transition = defs["inputs.video_stitch"]["properties"]["transitionType"];
    REQUIRE(transition.contains("anyOf"));
    CHECK(transition["anyOf"][0]["type"] == "string");
    CHECK(transition["anyOf"][0]["enum"].size() > 10);
    CHECK(transition["anyOf"][1]["$ref"] == "#/definitions/templatedString");
    CHECK(transition["default"] == "none");
    // duration of a video: a number from 1 to 60, or a whole template.
    const Json& duration = defs["inputs.video_generation"]["properties"]["duration"];
    CHECK(duration["anyOf"][0] == Json({{"type", "number"}, {"minimum", 1}, {"maximum", 60}}));
    CHECK(duration["anyOf"][1]["$ref"] == "#/definitions/template");
    CHECK(duration["default"] == 8);
    // A plain string input takes any string (templates inside are still strings).
    CHECK(defs["inputs.video_generation"]["properties"]["prompt"]["type"] == "string");
    CHECK(defs["inputs.video_generation"]["required"] == Json::array({"prompt"}));
    // character_image needs characterPrompt or prompt.
    CHECK(defs["inputs.character_image"]["anyOf"].size() == 2);
    // An "any" input has no type at all.
    CHECK_FALSE(defs["inputs.comfyui"]["properties"]["workflow"].contains("type"));
    CHECK_FALSE(defs["inputs.comfyui"]["properties"]["workflow"].contains("anyOf"));
  }

  TEST_CASE("the types with closed outputs list them for the older format's outputs key") {
    Json node = WorkflowSchema()["definitions"]["node"];
    bool found_stitch = false, found_shell = false;
    for (const auto& branch : node["allOf"]) {
      const Json& names = branch["if"]["properties"]["type"]["enum"];
      if (names[0] == "video_stitch") {
        found_stitch = true;
        CHECK(branch["then"]["properties"]["outputs"]["items"]["enum"] == Json::array({"videoPath", "duration"}));
        CHECK(branch["then"]["required"] == Json::array({"inputs"}));
      }
      if (names[0] == "shell") {
        found_shell = true;  // stdout's JSON fields are outputs too: no list
        CHECK_FALSE(branch["then"]["properties"].contains("outputs"));
      }
      if (names[0] == "character_image") CHECK(names == Json::array({"character_image", "image_generation"}));
    }
    CHECK(found_stitch);
    CHECK(found_shell);
  }

  TEST_CASE("the duration pattern accepts exactly what ParseDuration accepts") {
    for (std::string text : {"0",  "10",   "2.5",   ".5",     "1.",         "500ms", "10s",  "10sec", "15m", "15min",
                             "2h", "1d",   "1h30m", "1m 30s", "1h 30m 10s", " 10s ", "10 s", "",      "-1",  "10x",
                             "s",  "1h30", "30 1h", "1.2.3s", "ten",        "10s!",  "1e3",  "h1",    "1,5s"}) {
      CAPTURE(text);
      std::string err;
      bool parsed = ParseDuration(text, &err).has_value();
      CHECK(Matches(DurationPattern(), text) == parsed);
    }
  }

  TEST_CASE("the whole-template pattern matches the strings that are exactly one template") {
    for (std::string text :
         {"<<gen.videoPath>>", "{{gen.videoPath}}", "<< gen.videoPath >>", "<<params.n>>", "<<gen.images[0].path>>",
          "<<run.id>>", "<<a-b_c.d-e>>", "<<gen>>", "x <<gen.a>>", "<<gen.a>> x", "<<gen.a>><<gen.b>>", "<<gen.>>",
          "<<gen.a[x]>>", "<<>>", "plain", "<<gen.a}}", "{{gen.a>>", "<<gen a>>"}) {
      CAPTURE(text);
      CHECK(Matches(WholeTemplatePattern(), text) == IsWholeTemplate(text));
    }
  }

  TEST_CASE("schema -o writes the schema to a file; an unwritable path is exit 2") {
    SchemaOptions options;
    options.output = "schema.json";
    CHECK(SchemaCommand(options) == 0);
    std::string text, err;
    REQUIRE(ReadFile("schema.json", &text, &err));
    CHECK(Json::parse(text) == Json::parse(WorkflowSchema().dump()));
    options.output = "no-such-dir/schema.json";
    CHECK(SchemaCommand(options) == 2);
  }
}

}  // namespace comfyrun
