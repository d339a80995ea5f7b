// Replays the fuzz inputs kept in the repository through the fuzz targets' bodies
// (tests/fuzz/targets.cc), so the normal build checks them without clang or libFuzzer:
//   tests/fuzz/regressions/<target>/*   inputs that once crashed or broke an invariant
//   tests/fuzz/corpus/<target>/*        the seed corpus scripts/fuzz starts from
// A target throws FuzzFailure (or anything else) when its contract is broken.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
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
      CHECK_NOTHROW(
          comfyrun::fuzz::RunFuzzTarget(target, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
      ++total;
    }
  }
  MESSAGE(total << " " << std::string(kind) << " inputs replayed");
}

/// The exit code of a shell command line, as the shell reports it (128+N for a signal).
int Shell(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// Inputs of the command-line harness (scripts/fuzz-cli) through the built binary: every
/// command it feeds them to must end on its own with 0, 1 or 2 and print no sanitizer
/// report. Inputs naming shell, http or comfyui nodes are never run, as in the harness.
void ReplayCli(const char* kind, const char* target) {
  fs::path tmp = fs::temp_directory_path() / ("comfyrun-fuzz-cli-" + std::to_string(getpid()));
  fs::create_directories(tmp);
  std::string bin = ShellQuote(COMFYRUN_BINARY);
  std::string env =
      "env -u GEMINI_API_KEY -u GOOGLE_API_KEY -u OPENAI_API_KEY -u SORA2_API_KEY -u COMFYUI_URL -u COMFYRUN_MODELS "
      "GEMINI_BASE_URL=http://127.0.0.1:9 OPENAI_BASE_URL=http://127.0.0.1:9 COMFYRUN_POLL_INTERVAL=0.05 ";
  size_t replayed = 0;
  for (const fs::path& input : Inputs(kind, target)) {
    std::string bytes = ReadAll(input);
    std::string lower = bytes;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    bool safe = lower.find("shell") == std::string::npos && lower.find("http") == std::string::npos &&
                lower.find("comfyui") == std::string::npos;
    fs::path copy = tmp / (std::string(target) == "cli-journal" ? "j.jsonl" : "w.json");
    fs::remove_all(tmp / "out");
    fs::copy_file(input, copy, fs::copy_options::overwrite_existing);
    std::string f = ShellQuote(copy.string()), out = ShellQuote((tmp / "out").string());
    std::vector<std::string> commands;
    if (std::string(target) == "cli-journal") {
      fs::create_directories(tmp / "gc" / "journals");
      fs::copy_file(input, tmp / "gc" / "journals" / "x.jsonl", fs::copy_options::overwrite_existing);
      commands = {"status " + f, "status --json " + f, "trace " + f,
                  "report " + f + " --html " + ShellQuote((tmp / "r.html").string()),
                  "gc --older-than 0s --dry-run --out " + ShellQuote((tmp / "gc").string())};
      if (safe) commands.push_back("resume " + f + " --offline -q --out " + out);
    } else {
      commands = {"validate " + f, "plan " + f, "plan --json " + f};
      if (safe) commands.push_back("run " + f + " --offline -q --out " + out);
    }
    for (const std::string& c : commands) {
      std::string line = "cd " + ShellQuote(tmp.string()) + " && " + env + "timeout -k 5 20 " + bin + " " + c +
                         " </dev/null >/dev/null 2>" + ShellQuote((tmp / "err.txt").string());
      int code = Shell(line);
      std::string err = ReadAll(tmp / "err.txt");
      CAPTURE(input.string());
      CAPTURE(c);
      CAPTURE(err.substr(0, 600));
      CHECK(code <= 2);
      CHECK(err.find("Sanitizer") == std::string::npos);
      CHECK(err.find("terminate called") == std::string::npos);
    }
    fs::remove(tmp / "j.jsonl.lock");
    ++replayed;
  }
  fs::remove_all(tmp);
  MESSAGE(replayed << " " << kind << "/" << target << " inputs replayed through the binary");
}

}  // namespace

TEST_SUITE("Fuzz") {
  TEST_CASE("the command-line harness's saved inputs go through the binary without a crash or a hang") {
    for (const char* kind : {"corpus", "regressions"})
      for (const char* target : {"cli-journal", "cli-workflow"}) ReplayCli(kind, target);
    CHECK(!Inputs("corpus", "cli-journal").empty());
    CHECK(!Inputs("corpus", "cli-workflow").empty());
  }

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
