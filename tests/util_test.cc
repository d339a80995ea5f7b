// Generic helpers: durations, "did you mean" matching, quoting, JSON paths.
#include "comfyrun/core/util.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

using namespace comfyrun;

namespace {
double Seconds(const char* text) {
  std::string err;
  auto d = ParseDuration(text, &err);
  CHECK_MESSAGE(d.has_value(), text, ": ", err);
  return d.value_or(-1);
}

std::string DurationError(const char* text) {
  std::string err;
  CHECK_FALSE(ParseDuration(text, &err).has_value());
  return err;
}
}  // namespace

TEST_SUITE("Util") {
  TEST_CASE("durations are seconds or numbers with a unit") {
    CHECK(Seconds("500ms") == doctest::Approx(0.5));
    CHECK(Seconds("10s") == 10);
    CHECK(Seconds("15m") == 900);
    CHECK(Seconds("2h") == 7200);
    CHECK(Seconds("1d") == 86400);
    CHECK(Seconds("2.5") == 2.5);
    CHECK(Seconds("0") == 0);
    CHECK(Seconds(" 10 s ") == 10);
    CHECK(Seconds("3min") == 180);
    CHECK(Seconds("1.5h") == 5400);
  }

  TEST_CASE("durations can combine units") {
    CHECK(Seconds("1h30m") == 5400);
    CHECK(Seconds("1m 30s") == 90);
    CHECK(Seconds("2m500ms") == doctest::Approx(120.5));
  }

  TEST_CASE("bad durations say what is wrong") {
    const std::string forms =
        "write seconds as a number, or a number with a unit (\"500ms\", \"10s\", \"15m\", \"2h\")";
    CHECK(DurationError("10 parsecs") == "bad duration '10 parsecs': unknown unit 'parsecs' (use ms, s, m, h or d)");
    CHECK(DurationError("10x") == "bad duration '10x': unknown unit 'x' (use ms, s, m, h or d)");
    CHECK(DurationError("-5s") == "duration '-5s' is negative");
    CHECK(DurationError("") == "empty duration; " + forms);
    CHECK(DurationError("soon") == "bad duration 'soon': " + forms);
    CHECK(DurationError("1.2.3s") == "bad duration '1.2.3s': " + forms);
    CHECK(DurationError("1h30") == "bad duration '1h30': every number needs a unit when there are several");
    CHECK(DurationError("10s!") == "bad duration '10s!': " + forms);
    CHECK(DurationError("1e3") == "bad duration '1e3': unknown unit 'e' (use ms, s, m, h or d)");
  }

  TEST_CASE("FormatDuration reads well at every scale") {
    CHECK(FormatDuration(0.85) == "850ms");
    CHECK(FormatDuration(12.34) == "12.3s");
    CHECK(FormatDuration(245) == "4m05s");
    CHECK(FormatDuration(7380) == "2h03m");
    CHECK(FormatDuration(-1) == "0ms");
  }

  TEST_CASE("EditDistance counts insertions, deletions, substitutions and swaps") {
    CHECK(EditDistance("", "") == 0);
    CHECK(EditDistance("abc", "") == 3);
    CHECK(EditDistance("", "abc") == 3);
    CHECK(EditDistance("kitten", "sitting") == 3);
    CHECK(EditDistance("videoPath", "videoPath") == 0);
    CHECK(EditDistance("vidoePath", "videoPath") == 1);
    CHECK(EditDistance("video_segmnt_1", "video_segment_1") == 1);
    CHECK(EditDistance("ab", "ba") == 1);
    CHECK(EditDistance("abc", "ca") == 3);
  }

  TEST_CASE("ClosestMatch suggests likely typos only") {
    std::vector<std::string> ids = {"character_image_1", "video_segment_1", "video_segment_2", "stitch"};
    CHECK(ClosestMatch("video_segmnt_1", ids) == "video_segment_1");
    CHECK(ClosestMatch("stich", ids) == "stitch");
    CHECK(ClosestMatch("video_segment_3", ids) == "video_segment_1");  // ties: the first
    CHECK(ClosestMatch("zz", {"a", "b"}) == "");
    CHECK(ClosestMatch("a", {"b"}) == "");
    CHECK(ClosestMatch("ab", {"b"}) == "b");
    CHECK(ClosestMatch("teleport", ids) == "");
    CHECK(ClosestMatch("x", {}) == "");
    CHECK(ClosestMatch("styel", {"style"}) == "style");
    CHECK(ClosestMatch("veo4", {"veo3", "veo3-fast"}) == "veo3");
  }

  TEST_CASE("ClosestMatch over 100,000 candidates is quick") {
    std::vector<std::string> ids;
    for (int i = 0; i < 100000; ++i) ids.push_back("node_" + std::to_string(i));
    CHECK(ClosestMatch("node_9999x", ids) == "node_9999");
    CHECK(ClosestMatch("something_else_entirely", ids) == "");
  }

  TEST_CASE("Quote escapes control characters and cuts long strings") {
    CHECK(Quote("abc") == "'abc'");
    CHECK(Quote(std::string("a\nb\0c", 5)) == "'a\\x0ab\\x00c'");
    CHECK(Quote(std::string(100, 'x')) == "'" + std::string(80, 'x') + "...'");
  }

  TEST_CASE("Quote and Abbreviate never cut inside a UTF-8 character") {
    std::string e_acute = "\xc3\xa9";
    std::string many;
    for (int i = 0; i < 100; ++i) many += e_acute;
    std::string quoted = Quote(many);
    CHECK(quoted.size() == 1 + 80 + 3 + 1);  // 40 characters of 2 bytes, "...", quotes
    CHECK(quoted.substr(1, 80).find("\xc3\xa9") == 0);
    CHECK(Abbreviate("abcdef", 10) == "abcdef");
    CHECK(Abbreviate("abcdef", 3) == "abc...");
    CHECK(Abbreviate("a" + e_acute + "b", 2) == "a...");
    CHECK(Abbreviate("a" + e_acute + "b", 3) == "a" + e_acute + "...");
  }

  TEST_CASE("JsonPathMember brackets keys that are not plain names") {
    CHECK(JsonPathMember("$", "nodes") == "$.nodes");
    CHECK(JsonPathMember("$.a", "my key") == "$.a['my key']");
    CHECK(JsonPathMember("$.a", "1x") == "$.a['1x']");
    CHECK(JsonPathMember("$.a", "it's") == "$.a['it\\'s']");
    CHECK(JsonPathMember("$.a", "") == "$.a['']");
  }

  TEST_CASE("string helpers") {
    CHECK(StartsWith("<<a.b>>", "<<"));
    CHECK_FALSE(StartsWith("<", "<<"));
    CHECK(EndsWith("a.json", ".json"));
    CHECK_FALSE(EndsWith("n", ".json"));
    CHECK(Trim("  a b \n") == "a b");
    CHECK(Trim("   ").empty());
  }

  TEST_CASE("ReadUserFile reads regular files only, up to a limit, and never blocks") {
    std::string text, err;
    std::string dir = std::filesystem::temp_directory_path() / ("util_test_" + RandomHex(8));
    REQUIRE(MakeDirs(dir, &err));
    std::string file = dir + "/f.txt";
    REQUIRE(WriteFileAtomic(file, "hello", &err));
    CHECK(ReadUserFile(file, 5, &text, &err));
    CHECK(text == "hello");
    CHECK(ReadFile(file, &text, &err));
    CHECK_FALSE(ReadUserFile(file, 4, &text, &err));
    CHECK(err == "file is 5 bytes; the limit is 4 bytes");
    CHECK_FALSE(ReadUserFile(dir, 100, &text, &err));
    CHECK(err == "is a directory, not a file");
    CHECK_FALSE(ReadUserFile("/dev/zero", uint64_t{1} << 30, &text, &err));
    CHECK(err == "is a character device, not a regular file");
    CHECK_FALSE(ReadUserFile(dir + "/none", 100, &text, &err));
    CHECK(err == "no such file");
    // A FIFO with no writer: refused at once (a plain open would wait for a writer forever).
    std::string fifo = dir + "/fifo";
    REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    CHECK_FALSE(ReadUserFile(fifo, 100, &text, &err));
    CHECK(err == "is a FIFO (named pipe), not a regular file");
    CHECK(OpenUserFile(fifo, 100, &err) == -1);
    int fd = OpenUserFile(file, 100, &err);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    std::filesystem::remove_all(dir);
  }
}
