#pragma once
// The A/B statistics' reference vectors (tests/data/abtest-vectors.json, the values of
// docs/abtest.md), read once for every test that checks against them, and a run builder.
#include <doctest/doctest.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "comfyrun/abtest/stats.h"
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

/// One finished run of a variant, as the statistics see it (outputs empty).
inline AbRun MakeAbRun(const std::string& id, int repeat, bool success, double seconds, double cost,
                       std::optional<double> quality) {
  AbRun r;
  r.variant_id = id;
  r.repeat = repeat;
  r.success = success;
  r.duration_seconds = seconds;
  r.cost = cost;
  r.quality = quality;
  r.outputs = Json::object();
  return r;
}

}  // namespace comfyrun::testing
