// ParseJsonFast gives what Json::parse gives, or refuses so that Json::parse can explain.
#include <doctest/doctest.h>

#include "comfyrun/json_fast.h"

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
      Json(42), Json(-7), Json(nullptr), Json::array(), Json::object(),
  };
  for (const Json& v : values) {
    std::string expected = v.dump(-1, ' ', false, Json::error_handler_t::replace);
    CAPTURE(expected);
    std::string out = "prefix:";
    AppendJson(&out, v);
    CHECK(out == "prefix:" + expected);
  }
}
}
