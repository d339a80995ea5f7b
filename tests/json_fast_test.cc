// ParseJsonFast gives what Json::parse gives, or refuses so that Json::parse can explain.
#include "comfyrun/core/json_fast.h"

#include <doctest/doctest.h>

using namespace comfyrun;

TEST_SUITE("Util") {
  TEST_CASE("ParseJsonFast: the same value as Json::parse, key order and number types included") {
    const char* texts[] = {
        R"({"b": 1, "a": [1, -2, 3.5, 1e3, -0, -0.0, 18446744073709551615, -9223372036854775808], "c": null})",
        R"({"s": "caf\u00e9 \ud83d\ude00 \"q\" \\ \n\t", "t": true, "f": false, "e": {}, "ea": []})",
        R"({"dup": 1, "dup": 2})",  // nlohmann keeps the last value
        R"([[[[{"deep": [{"x": 0.1}]}]]]])",
        R"("just a string")",
        "  {\"ws\" :\n 1 }  ",
    };
    for (const char* text : texts) {
      CAPTURE(text);
      Json fast;
      REQUIRE(ParseJsonFast(text, &fast));
      Json slow = Json::parse(text);
      CHECK(fast == slow);
      CHECK(fast.dump() == slow.dump());  // same key order, same number spelling
    }
  }

  TEST_CASE("ParseJsonFast refuses what is not JSON; Json::parse then says why") {
    for (const char* text : {"{", "{\"a\": }", "[1, 2,]", "{\"a\": 1} x", "nul", "\"\xff\"", "1e400"}) {
      CAPTURE(text);
      Json out;
      CHECK_FALSE(ParseJsonFast(text, &out));
      CHECK_THROWS(Json::parse(text));
    }
  }

  TEST_CASE("AppendJson writes exactly what dump(-1, ' ', false, replace) writes") {
    Json values[] = {
        Json::parse(R"({"b": 1, "a": [1, -2, 3.5, 1e3, -0.0, 18446744073709551615, -9223372036854775808], "c": null})"),
        Json::parse(R"({"s": "caf\u00e9 \ud83d\ude00 \"q\" \\ \n\t\u0001", "t": true, "f": false, "e": {}, "ea": []})"),
        Json::parse(R"([[[[{"deep": [{"x": 0.1, "y": 2.0, "z": 1e300}]}]]]])"),
        Json("bad \xff byte"),
        Json::object({{"key \xfe", "v"}, {"weird key \"", {1, 2}}}),
        Json(42),
        Json(-7),
        Json(nullptr),
        Json::array(),
        Json::object(),
    };
    for (const Json& v : values) {
      std::string expected = v.dump(-1, ' ', false, Json::error_handler_t::replace);
      CAPTURE(expected);
      std::string out = "prefix:";
      AppendJson(&out, v);
      CHECK(out == "prefix:" + expected);
    }
  }

  TEST_CASE("JsonObjectText writes the object dump() would, and remembers each field") {
    Json outputs = {{"v", 1}, {"s", "caf\xc3\xa9"}};
    JsonObjectText rec;
    rec.Str("type", "completed").Int("attempt", -3).Double("cost", 0.0).Bool("cached", true);
    rec.Value("outputs", outputs).Str("message", "say \"hi\"\n").Double("ratio", 2.5).Int("attempt", 4);
    Json expected = Json::object();
    expected["type"] = "completed";
    expected["attempt"] = -3;
    expected["cost"] = 0.0;
    expected["cached"] = true;
    expected["outputs"] = outputs;
    expected["message"] = "say \"hi\"\n";
    expected["ratio"] = 2.5;
    std::string text = rec.Text();
    // The repeated key stays in the text; a reader keeps the last value, as Find does.
    CHECK(text == expected.dump().substr(0, expected.dump().size() - 1) + ",\"attempt\":4}");
    CHECK(Json::parse(text)["attempt"] == 4);
    REQUIRE(rec.Find("attempt"));
    CHECK(rec.Find("attempt")->i == 4);
    CHECK(rec.StringOf(*rec.Find("message")) == "say \"hi\"\n");
    CHECK(&rec.JsonOf(*rec.Find("outputs")) == &outputs);
    CHECK(rec.Find("ratio")->d == 2.5);
    CHECK(rec.Find("nope") == nullptr);
  }
}
