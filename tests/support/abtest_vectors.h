#pragma once
// The A/B statistics' reference vectors (tests/data/abtest-vectors.json, the values of
// docs/abtest.md), read once for every test that checks against them.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "comfyrun/core/json.h"

namespace comfyrun::testing {

inline const Json& AbTestVectors() {
  static const Json doc = [] {
    std::ifstream in(std::string(COMFYRUN_SOURCE_DIR) + "/tests/data/abtest-vectors.json");
    REQUIRE_MESSAGE(in.good(), "tests/data/abtest-vectors.json missing");
    std::stringstream ss;
    ss << in.rdbuf();
    return Json::parse(ss.str());
  }();
  return doc;
}

}  // namespace comfyrun::testing
