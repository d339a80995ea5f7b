// Replays the fuzz inputs kept in the repository through the fuzz targets' bodies
// (tests/fuzz/targets.cc), so the normal build checks them without clang or libFuzzer:
//   tests/fuzz/regressions/<target>/*   inputs that once crashed or broke an invariant
//   tests/fuzz/corpus/<target>/*        the seed corpus scripts/fuzz starts from
// A target throws FuzzFailure (or anything else) when its contract is broken.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/targets.h"

namespace {

namespace fs = std::filesystem;

const char* kTargets[] = {"workflow", "template", "journal", "provider_replies", "comfyui_protocol"};

/// Files under tests/fuzz/<kind>/<target>, sorted so that failures name inputs stably.
std::vector<fs::path> Inputs(const char* kind, const std::string& target) {
  std::vector<fs::path> out;
  std::error_code ec;
  fs::path dir = fs::path(COMFYRUN_SOURCE_DIR) / "tests" / "fuzz" / kind / target;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file()) out.push_back(it->path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void Replay(const char* kind) {
  size_t total = 0;
  for (const char* target : kTargets) {
    for (const fs::path& input : Inputs(kind, target)) {
      std::string bytes = ReadAll(input);
      CAPTURE(input.string());
      CHECK_NOTHROW(comfyrun::fuzz::RunFuzzTarget(target, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
      ++total;
    }
  }
  MESSAGE(total << " " << std::string(kind) << " inputs replayed");
}

}  // namespace

TEST_SUITE("Fuzz") {
  TEST_CASE("every saved crash input of the fuzz targets now passes their checks") { Replay("regressions"); }

  TEST_CASE("the fuzz seed corpus passes the fuzz targets' checks") {
    Replay("corpus");
    // The seeds exist: an empty corpus would make this test pass vacuously.
    for (const char* target : kTargets) {
      CAPTURE(target);
      CHECK(!Inputs("corpus", target).empty());
    }
  }

  TEST_CASE("an unknown fuzz target name is refused") {
    CHECK_FALSE(comfyrun::fuzz::RunFuzzTarget("no-such-target", nullptr, 0));
  }
}
