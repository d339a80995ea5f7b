// comfyrun doctor's parsing and verdicts (comfyrun/cli/doctor.h), the media module's search path
// and --version (the network checks run against the fakes in tests/e2e/doctor.sh).
#include "comfyrun/cli/doctor.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "comfyrun/cli/version.h"
#include "comfyrun/media/module_lookup.h"
#include "comfyrun/providers/models.h"

using namespace comfyrun;
namespace fs = std::filesystem;

TEST_SUITE("Doctor") {
  TEST_CASE("system_stats and queue replies as ComfyUI 0.3.64 sends them") {
    ComfyuiStatus s;
    std::string err;
    REQUIRE(ParseSystemStats(
        R"({"system": {"os": "posix", "comfyui_version": "0.3.64", "python_version": "3.12.3"},
            "devices": [{"name": "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync", "type": "cuda", "index": 0,
                         "vram_total": 25386352640, "vram_free": 24000000000}]})",
        &s, &err));
    CHECK(s.version == "0.3.64");
    REQUIRE(s.devices.size() == 1);
    CHECK(s.devices[0] == "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync");
    CHECK(s.vram_free == 24000000000LL);
    REQUIRE(
        ParseQueue(R"({"queue_running": [[0, "a", {}, {}, []]], "queue_pending": [[1, "b"], [2, "c"]]})", &s, &err));
    CHECK(s.running == 1);
    CHECK(s.pending == 2);
  }

  TEST_CASE("replies that are not ComfyUI's are refused with a reason") {
    ComfyuiStatus s;
    std::string err;
    CHECK_FALSE(ParseSystemStats("<html>nginx</html>", &s, &err));
    CHECK(err.find("system") != std::string::npos);
    CHECK_FALSE(ParseSystemStats(R"({"devices": []})", &s, &err));
    CHECK_FALSE(ParseQueue(R"({"queue_running": []})", &s, &err));
    CHECK_FALSE(ParseQueue("", &s, &err));
    // A server without version or devices still parses; the line then says "?".
    ComfyuiStatus bare;
    CHECK(ParseSystemStats(R"({"system": {}})", &bare, &err));
    CHECK(bare.version.empty());
    CHECK(bare.vram_free == -1);
  }

  TEST_CASE("HTTP dates in the three forms RFC 9110 lists") {
    int64_t t = 0;
    REQUIRE(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT", &t));
    CHECK(t == 784111777);
    REQUIRE(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT", &t));
    CHECK(t == 784111777);
    REQUIRE(ParseHttpDate("Sun Nov  6 08:49:37 1994", &t));
    CHECK(t == 784111777);
    CHECK_FALSE(ParseHttpDate("", &t));
    CHECK_FALSE(ParseHttpDate("yesterday", &t));
  }

  TEST_CASE("the clock verdict: seconds are noise, minutes break signed URLs") {
    CHECK(ClockCheck({{"http://a", 1}}, "").status == CheckStatus::kOk);
    CHECK(ClockCheck({{"http://a", -20}}, "").status == CheckStatus::kOk);
    DoctorCheck warn = ClockCheck({{"http://a", 0}, {"http://b", -90}}, "synchronized");
    CHECK(warn.status == CheckStatus::kWarning);
    CHECK(warn.message.find("90 s behind http://b") != std::string::npos);
    CHECK_FALSE(warn.fix.empty());
    DoctorCheck bad = ClockCheck({{"http://a", 600}}, "synchronized");
    CHECK(bad.status == CheckStatus::kError);
    CHECK(bad.message.find("600 s ahead of http://a") != std::string::npos);
    // Nothing to compare with: the kernel's NTP state decides.
    CHECK(ClockCheck({}, "synchronized").status == CheckStatus::kOk);
    CHECK(ClockCheck({}, "unsynchronized").status == CheckStatus::kWarning);
    CHECK(ClockCheck({}, "").status == CheckStatus::kWarning);
  }

  TEST_CASE("free space: a warning under 1 GiB, an error under 64 MiB") {
    CHECK(FreeSpaceStatus(10ull << 30) == CheckStatus::kOk);
    CHECK(FreeSpaceStatus(500ull << 20) == CheckStatus::kWarning);
    CHECK(FreeSpaceStatus(10ull << 20) == CheckStatus::kError);
  }

  TEST_CASE("output directory: writable, creatable, a file in the way") {
    fs::path root = fs::temp_directory_path() / ("comfyrun-doctor-" + std::to_string(getpid()));
    fs::create_directories(root / "out");
    DoctorCheck existing = OutputDirectoryCheck((root / "out").string());
    CHECK(existing.status != CheckStatus::kError);
    CHECK(existing.message.find("writable") != std::string::npos);
    CHECK(existing.message.find("free") != std::string::npos);
    CHECK(fs::is_empty(root / "out"));  // the probe file is gone
    DoctorCheck later = OutputDirectoryCheck((root / "new" / "deeper").string());
    CHECK(later.status != CheckStatus::kError);
    CHECK(later.message.find("does not exist yet") != std::string::npos);
    CHECK_FALSE(fs::exists(root / "new"));  // doctor creates nothing
    std::ofstream(root / "file") << "x";
    DoctorCheck file = OutputDirectoryCheck((root / "file" / "out").string());
    CHECK(file.status == CheckStatus::kError);
    CHECK(file.message.find("is not a directory") != std::string::npos);
    CHECK_FALSE(file.fix.empty());
    if (geteuid() != 0) {  // root writes anywhere
      fs::create_directories(root / "ro");
      chmod((root / "ro").c_str(), 0555);
      DoctorCheck ro = OutputDirectoryCheck((root / "ro").string());
      CHECK(ro.status == CheckStatus::kError);
      CHECK(ro.message.find("cannot write") != std::string::npos);
      chmod((root / "ro").c_str(), 0755);
    }
    fs::remove_all(root);
  }

  TEST_CASE("model table: an alias pointing to a retired or unknown model is an error naming it") {
    ModelCatalog shipped;
    std::string err;
    REQUIRE(BuildModelCatalog(Json::object(), &shipped, &err));
    auto ok = ModelTableChecks(shipped, "");
    REQUIRE(ok.size() == 1);
    CHECK(ok[0].status == CheckStatus::kOk);

    ModelCatalog stale;
    REQUIRE(BuildModelCatalog(Json::parse(R"({"aliases": {"old-veo": "veo-2.0-generate-001", "typo": "veo-9"}})"),
                              &stale, &err));
    auto checks = ModelTableChecks(stale, "");
    REQUIRE(checks.size() == 2);
    for (const auto& c : checks) CHECK(c.status == CheckStatus::kError);
    CHECK(checks[0].check == "model alias old-veo");
    CHECK(checks[0].message.find("retired") != std::string::npos);
    CHECK(checks[0].message.find("veo-3.1-generate-preview") != std::string::npos);  // the successor
    CHECK(checks[1].check == "model alias typo");

    auto broken = ModelTableChecks(shipped, "models.json: not JSON");
    CHECK(broken[0].status == CheckStatus::kError);
    CHECK(DoctorExitCode(broken) == 1);
  }

  TEST_CASE("lines and JSON: one line per check, the fix only when not ok") {
    std::vector<DoctorCheck> checks = {
        {"key GEMINI_API_KEY", CheckStatus::kOk, "GEMINI_API_KEY is set (environment)", ""},
        {"comfyui http://x", CheckStatus::kError, "unreachable", "start it"},
        {"clock", CheckStatus::kWarning, "not checked", "sync it"}};
    CHECK(FormatCheckLine(checks[0]) == "ok       key GEMINI_API_KEY: GEMINI_API_KEY is set (environment)");
    CHECK(FormatCheckLine(checks[1]) == "error    comfyui http://x: unreachable; fix: start it");
    Json j = DoctorReportJson(checks);
    CHECK(j["ok"] == false);
    CHECK(j["checks"].size() == 3);
    CHECK_FALSE(j["checks"][0].contains("fix"));
    CHECK(j["checks"][1]["fix"] == "start it");
    CHECK(j["summary"]["warning"] == 1);
    CHECK(DoctorExitCode(checks) == 1);
    checks.erase(checks.begin() + 1);
    CHECK(DoctorExitCode(checks) == 0);  // warnings do not fail
  }
}

TEST_SUITE("MediaModule") {
  TEST_CASE("the module is looked for beside the binary, then in the installed layout") {
    auto places = media::ModuleSearchPath("/usr/bin/comfyrun");
    REQUIRE(places.size() == 2);
    CHECK(places[0] == "/usr/bin/comfyrun_media.so");
    CHECK(places[1].rfind("/usr/lib/", 0) == 0);
    CHECK(places[1].ends_with("/comfyrun/comfyrun_media.so"));
    CHECK(places[1].find("..") == std::string::npos);
  }

  TEST_CASE("libav versions read as MAJOR.MINOR.MICRO") {
    CHECK(media::FormatLibavVersion((59u << 16) | (37u << 8) | 100u) == "59.37.100");
    // This binary links libav itself, so the libraries are loaded and found.
    auto versions = media::LoadedLibavVersions();
    REQUIRE_FALSE(versions.empty());
    CHECK(versions[0].library == "libavutil");
    bool codec = false;
    for (const auto& v : versions)
      codec = codec || (v.library == "libavcodec" && v.file.rfind("libavcodec.so", 0) == 0);
    CHECK(codec);
  }
}

TEST_CASE("--version names the project version, and the commit when there is one") {
  std::string text = VersionText();
  CHECK(text.rfind(std::string("comfyrun ") + COMFYRUN_VERSION, 0) == 0);
  if (GitCommit().empty())
    CHECK(text == std::string("comfyrun ") + COMFYRUN_VERSION);
  else
    CHECK(text.find("(git " + GitCommit() + ")") != std::string::npos);
}
