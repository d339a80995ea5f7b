// Templates: parsing references, finding them at any depth, and resolving them with types.
#include "comfyrun/core/template.h"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

using namespace comfyrun;

namespace {

/// Roots for resolution: two nodes' outputs, params and run.
struct Roots {
  std::map<std::string, Json> values = {
      {"gen", Json::parse(R"({"videoPath": "/out/v.mp4", "duration": 8, "cost": 1.25, "ok": true,
                              "images": [{"path": "/out/a.png"}, {"path": "/out/b.png"}],
                              "meta": {"w": 1280, "tags": ["x", "y"]}, "nothing": null})")},
      {"params", Json::parse(R"({"style": "noir", "count": 3})")},
      {"run", Json::parse(R"({"id": "wf-20260101T000000Z-abcd", "dir": "/out/runs/wf"})")},
  };
  RootLookup lookup() const {
    return [this](const std::string& root) -> const Json* {
      auto it = values.find(root);
      return it == values.end() ? nullptr : &it->second;
    };
  }
};

Json Resolve(const Json& value) {
  Roots roots;
  Json out;
  std::string err;
  bool ok = ResolveTemplates(value, roots.lookup(), &out, &err);
  CHECK_MESSAGE(ok, err);
  return out;
}

std::string ResolveError(const Json& value) {
  Roots roots;
  Json out;
  std::string err;
  CHECK_FALSE(ResolveTemplates(value, roots.lookup(), &out, &err));
  return err;
}

}  // namespace

TEST_SUITE("Template") {
  TEST_CASE("ParseReference reads a root and field and index steps") {
    std::string err;
    auto ref = ParseReference("gen.images[0].path", &err);
    REQUIRE(ref);
    CHECK(ref->root == "gen");
    REQUIRE(ref->steps.size() == 3);
    CHECK(ref->steps[0].field() == "images");
    CHECK(ref->steps[1].is_index());
    CHECK(ref->steps[1].index() == 0);
    CHECK(ref->steps[2].field() == "path");
  }

  TEST_CASE("ParseReference allows spaces inside the brackets and names with dashes") {
    std::string err;
    auto ref = ParseReference("  video-1.videoPath ", &err);
    REQUIRE(ref);
    CHECK(ref->root == "video-1");
    CHECK(ref->steps[0].field() == "videoPath");
    auto bare = ParseReference("gen", &err);
    REQUIRE(bare);
    CHECK(bare->steps.empty());
  }

  TEST_CASE("ParseReference rejects bad syntax with a reason") {
    struct Bad {
      const char* text;
      const char* err;
    };
    for (const Bad& b :
         {Bad{"", "empty reference"}, Bad{"   ", "empty reference"},
          Bad{".x", "a reference starts with a node id, 'params' or 'run'"},
          Bad{"a..b", "a '.' must be followed by a field name"}, Bad{"a.", "a '.' must be followed by a field name"},
          Bad{"a[x]", "an index is written [N] with N a whole number"},
          Bad{"a[]", "an index is written [N] with N a whole number"},
          Bad{"a[1", "an index is written [N] with N a whole number"},
          Bad{"a[-1]", "an index is written [N] with N a whole number"},
          Bad{"a[99999999999]", "index [99999999999] is too large: the largest index is 999999999"},
          Bad{"a[99999999999999999999]", "index [99999999999999999999] is too large: the largest index is 999999999"},
          Bad{"a b", "unexpected ' ' in reference"}, Bad{"a.b c", "unexpected ' ' in reference"},
          Bad{"a/b", "unexpected '/' in reference"}}) {
      CAPTURE(b.text);
      std::string err;
      CHECK_FALSE(ParseReference(b.text, &err));
      CHECK(err == b.err);
    }
  }

  TEST_CASE("FindReferences finds both syntaxes at any depth with their JSON paths") {
    Json inputs = Json::parse(R"({
    "a": "<<gen.videoPath>>",
    "b": ["x", {"c": "pre {{ gen.duration }} and <<params.style>> post"}],
    "d": {"e": {"f": [[ "<<run.id>>" ]]}},
    "n": 5, "t": true, "z": null,
    "my key": "<<gen.ok>>"
  })");
    std::vector<Reference> refs;
    std::vector<std::pair<std::string, std::string>> errors;
    FindReferences(inputs, "$.nodes[0].inputs", &refs, &errors);
    CHECK(errors.empty());
    REQUIRE(refs.size() == 5);
    // Json keeps the document's key order.
    CHECK(refs[0].text == "<<gen.videoPath>>");
    CHECK(refs[0].json_path == "$.nodes[0].inputs.a");
    CHECK(refs[1].text == "{{ gen.duration }}");
    CHECK(refs[1].root == "gen");
    CHECK(refs[1].json_path == "$.nodes[0].inputs.b[1].c");
    CHECK(refs[2].root == "params");
    CHECK(refs[3].root == "run");
    CHECK(refs[3].json_path == "$.nodes[0].inputs.d.e.f[0][0]");
    CHECK(refs[4].json_path == "$.nodes[0].inputs['my key']");
  }

  TEST_CASE("FindReferences skips escapes and unclosed brackets, and reports malformed templates") {
    Json inputs = Json::parse(R"({
    "escaped": "literal \\<<gen.videoPath>> and \\{{gen.duration}}",
    "shift": "a << b",
    "braces": "a {{ b",
    "bad": "x <<gen..path>> y"
  })");
    std::vector<Reference> refs;
    std::vector<std::pair<std::string, std::string>> errors;
    FindReferences(inputs, "$", &refs, &errors);
    CHECK(refs.empty());
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].first == "$.bad");
    CHECK(errors[0].second == "bad template '<<gen..path>>': a '.' must be followed by a field name");
  }

  TEST_CASE("an unclosed << or {{ that starts like a reference is an error; other unclosed ones are text") {
    Json inputs = Json::parse(R"({
    "a": "hello <<img_x.path and more",
    "b": "see {{gen[0] later",
    "c": "<< gen.videoPath",
    "d": "<<a.b and then <<c.d>>",
    "ok1": "1 << 2.5",
    "ok2": "a << b",
    "ok3": "x <<- y",
    "ok4": "literal \\<<img.path",
    "ok5": "<<12.5"
  })");
    std::vector<Reference> refs;
    std::vector<std::pair<std::string, std::string>> errors;
    FindReferences(inputs, "$.nodes[1].inputs", &refs, &errors);
    REQUIRE(errors.size() == 4);
    CHECK(errors[0].first == "$.nodes[1].inputs.a");
    CHECK(errors[0].second ==
          "unclosed reference '<<img_x.path and more': it starts like a reference but has no closing '>>'");
    CHECK(errors[1].first == "$.nodes[1].inputs.b");
    CHECK(errors[1].second ==
          "unclosed reference '{{gen[0] later': it starts like a reference but has no closing '}}'");
    CHECK(errors[2].first == "$.nodes[1].inputs.c");
    CHECK(errors[3].first == "$.nodes[1].inputs.d");
    REQUIRE(refs.size() == 1);  // the closed one in "d"
    CHECK(refs[0].text == "<<c.d>>");
  }

  TEST_CASE("a string that is exactly one template keeps the value's JSON type") {
    CHECK(Resolve("<<gen.duration>>") == 8);
    CHECK(Resolve("<<gen.cost>>") == 1.25);
    CHECK(Resolve("<<gen.ok>>") == true);
    CHECK(Resolve("<<gen.nothing>>").is_null());
    CHECK(Resolve("<<gen.meta.tags>>") == Json::array({"x", "y"}));
    CHECK(Resolve("<<gen.meta>>") == Json::parse(R"({"w": 1280, "tags": ["x", "y"]})"));
    CHECK(Resolve("{{gen.duration}}") == 8);
    CHECK(Resolve("<< gen.duration >>") == 8);
    CHECK(Resolve("{{ gen.images }}").size() == 2);
  }

  TEST_CASE("a template inside a longer string is replaced by its text") {
    CHECK(Resolve("clip: <<gen.videoPath>>") == "clip: /out/v.mp4");
    CHECK(Resolve("<<gen.duration>>s") == "8s");
    CHECK(Resolve(" <<gen.duration>>") == " 8");
    CHECK(Resolve("cost <<gen.cost>>, ok <<gen.ok>>") == "cost 1.25, ok true");
    CHECK(Resolve("tags=<<gen.meta.tags>>") == "tags=[\"x\",\"y\"]");
    CHECK(Resolve("m=<<gen.meta>>") == "m={\"w\":1280,\"tags\":[\"x\",\"y\"]}");
    CHECK(Resolve("n=<<gen.nothing>>") == "n=null");
    CHECK(Resolve("<<gen.duration>><<params.count>>") == "83");
    CHECK(Resolve("mixed {{gen.duration}} and <<params.style>>") == "mixed 8 and noir");
  }

  TEST_CASE("index steps reach into arrays") {
    CHECK(Resolve("<<gen.images[0].path>>") == "/out/a.png");
    CHECK(Resolve("<<gen.images[1]>>") == Json::parse(R"({"path": "/out/b.png"})"));
    CHECK(Resolve("<<gen.meta.tags[1]>>") == "y");
  }

  TEST_CASE("params and run are roots like nodes") {
    CHECK(Resolve("<<params.count>>") == 3);
    CHECK(Resolve("a <<params.style>> film") == "a noir film");
    CHECK(Resolve("<<run.dir>>/x.png") == "/out/runs/wf/x.png");
    CHECK(Resolve("<<run.id>>") == "wf-20260101T000000Z-abcd");
  }

  TEST_CASE("templates are resolved at any depth in arrays and objects") {
    Json in = Json::parse(R"({
    "list": ["<<gen.duration>>", ["<<gen.ok>>", {"deep": "p=<<params.style>>"}]],
    "obj": {"a": {"b": {"c": "<<gen.images[0]>>"}}},
    "plain": 5, "flag": false, "none": null, "text": "no templates"
  })");
    Json out = Resolve(in);
    CHECK(out["list"][0] == 8);
    CHECK(out["list"][1][0] == true);
    CHECK(out["list"][1][1]["deep"] == "p=noir");
    CHECK(out["obj"]["a"]["b"]["c"]["path"] == "/out/a.png");
    CHECK(out["plain"] == 5);
    CHECK(out["flag"] == false);
    CHECK(out["none"].is_null());
    CHECK(out["text"] == "no templates");
  }

  TEST_CASE("escapes give literal text and are unescaped") {
    CHECK(Resolve("\\<<gen.duration>>") == "<<gen.duration>>");
    CHECK(Resolve("\\{{gen.duration}}") == "{{gen.duration}}");
    CHECK(Resolve("a \\<< b and <<gen.duration>>") == "a << b and 8");
    CHECK(Resolve("back\\slash stays") == "back\\slash stays");
  }

  TEST_CASE("an unclosed << or {{ is plain text") {
    CHECK(Resolve("a << b") == "a << b");
    CHECK(Resolve("x {{ y") == "x {{ y");
    CHECK(Resolve("<<") == "<<");
    CHECK(Resolve("1 << 2 then <<gen.duration>>") == "1 << 2 then 8");
  }

  TEST_CASE("a missing root, field or index is an error naming the reference") {
    CHECK(ResolveError("<<nope.x>>") == "<<nope.x>> refers to unknown node 'nope'");
    CHECK(ResolveError("v=<<gen.vidoePath>>") == "<<gen.vidoePath>>: gen has no field 'vidoePath'");
    CHECK(ResolveError("<<gen.images[5].path>>") ==
          "<<gen.images[5].path>>: gen.images has no element [5] (it is an array of 2)");
    CHECK(ResolveError("<<gen.duration[0]>>") == "<<gen.duration[0]>>: gen.duration has no element [0] (it is number)");
    CHECK(ResolveError("<<gen.duration.x>>") == "<<gen.duration.x>>: gen.duration has no field 'x'");
    CHECK(ResolveError(Json::array({"ok", Json::object({{"k", "<<params.nope>>"}})})) ==
          "<<params.nope>>: params has no field 'nope'");
  }

  TEST_CASE("LookupReference walks a parsed reference") {
    Roots roots;
    std::string err;
    auto ref = ParseReference("gen.meta.w", &err);
    REQUIRE(ref);
    const Json* value = LookupReference(*ref, roots.lookup(), &err);
    REQUIRE(value);
    CHECK(*value == 1280);
  }

  TEST_CASE("TemplateText writes strings as they are and other values as compact JSON") {
    CHECK(TemplateText("a b") == "a b");
    CHECK(TemplateText(3) == "3");
    CHECK(TemplateText(2.5) == "2.5");
    CHECK(TemplateText(Json::parse(R"({"a": [1, 2]})")) == "{\"a\":[1,2]}");
    CHECK(TemplateText(nullptr) == "null");
  }
}
