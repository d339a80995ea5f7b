// The HTML reports (report/report.h, report/html.h): escaping, what the run timeline draws
// for completed, failed, retried, waiting, interrupted and skipped nodes, the A/B charts, and
// how `report` tells its inputs apart. The pages are checked in a real browser by
// tests/e2e/report_html.sh.
#include "comfyrun/report/report.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "comfyrun/abtest/results.h"
#include "comfyrun/abtest/stats.h"
#include "comfyrun/core/util.h"
#include "comfyrun/media/render.h"
#include "comfyrun/media/thumbnail.h"
#include "comfyrun/report/html.h"

namespace comfyrun {
namespace {

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

const char* kHostile = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>";

/// A journal of six nodes written by hand: `gen` fails once (RateLimited) and then
/// completes after waiting for a slot, `a` (inline, no node_started) and `b` (a cache hit)
/// run in parallel after it, `bad` fails for good, `after_bad` is skipped, `late` was still
/// running when the journal ends.
std::string WriteJournal(const std::string& path, bool finished) {
  Json workflow = {
      {"workflowId", "demo"},
      {"description", std::string("evil ") + kHostile},
      {"nodes",
       {{{"id", "gen"}, {"type", "character_image"}, {"inputs", {{"prompt", std::string("cat ") + kHostile}}}},
        {{"id", "a"}, {"type", "value"}, {"inputs", {{"x", "<<gen.imagePath>>"}}}},
        {{"id", "b"}, {"type", "value"}, {"inputs", {{"x", "<<gen.imagePath>>"}}}},
        {{"id", "bad"}, {"type", "shell"}, {"inputs", {{"argv", {"false"}}}}},
        {{"id", "after_bad"}, {"type", "value"}, {"inputs", {{"x", "<<bad.stdout>>"}}}},
        {{"id", "late"}, {"type", "value"}, {"inputs", Json::object()}}}}};
  std::vector<Json> records = {
      {{"type", "header"},
       {"format", 1},
       {"runId", "demo-1"},
       {"workflowId", "demo"},
       {"workflow", workflow},
       {"params", Json::object()},
       {"hash", "x"},
       {"t", 1000}},
      {{"type", "run_started"}, {"pid", 1}, {"resume", 0}, {"t", 1000}},
      {{"type", "node_started"}, {"node", "gen"}, {"attempt", 1}, {"queueWaitMs", 0}, {"t", 1000}},
      {{"type", "attempt_failed"},
       {"node", "gen"},
       {"attempt", 1},
       {"error", "RateLimited"},
       {"message", std::string("slow down ") + kHostile},
       {"cost", 0},
       {"retryIn", 2},
       {"where", {{"executor", "local"}}},
       {"t", 2000}},
      {{"type", "node_started"}, {"node", "gen"}, {"attempt", 2}, {"queueWaitMs", 500}, {"t", 4500}},
      {{"type", "completed"},
       {"node", "gen"},
       {"attempt", 2},
       {"outputs", {{"imagePath", "g.png"}}},
       {"cost", 0.04},
       {"provider", "gemini"},
       {"model", "gemini-2.5-flash-image"},
       {"startedAt", 4500},
       {"durationMs", 1500},
       {"queueWaitMs", 500},
       {"where", {{"executor", "local"}}},
       {"t", 6000}},
      {{"type", "node_started"}, {"node", "b"}, {"attempt", 1}, {"queueWaitMs", 0}, {"t", 6000}},
      {{"type", "node_started"}, {"node", "bad"}, {"attempt", 1}, {"queueWaitMs", 0}, {"t", 6000}},
      // `a` runs inline (a value node): no node_started record.
      {{"type", "completed"},
       {"node", "a"},
       {"attempt", 1},
       {"outputs", {{"x", "g.png"}}},
       {"cost", 0},
       {"startedAt", 6000},
       {"durationMs", 1000},
       {"t", 7000}},
      {{"type", "completed"},
       {"node", "b"},
       {"attempt", 1},
       {"outputs", {{"x", "g.png"}}},
       {"cost", 0},
       {"startedAt", 6000},
       {"durationMs", 2000},
       {"cached", true},
       {"t", 8000}},
      {{"type", "attempt_failed"},
       {"node", "bad"},
       {"attempt", 1},
       {"error", "Execution"},
       {"message", "exit 1"},
       {"cost", 0},
       {"where", {{"executor", "slurm"}, {"jobId", "41"}, {"host", std::string("gpu07") + kHostile}}},
       {"t", 6500}},
      {{"type", "node_failed"},
       {"node", "bad"},
       {"attempts", 1},
       {"error", "Execution"},
       {"message", "exit 1"},
       {"t", 6500}},
      {{"type", "node_skipped"}, {"node", "after_bad"}, {"because", "bad failed"}, {"t", 6500}},
      {{"type", "node_started"}, {"node", "late"}, {"attempt", 1}, {"queueWaitMs", 0}, {"t", 8000}},
  };
  if (finished) records.push_back({{"type", "run_finished"}, {"status", "failed"}, {"durationMs", 8000}, {"t", 9000}});
  std::ofstream out(path);
  for (const auto& r : records) out << r.dump() << "\n";
  return path;
}

JournalReplay Replay(const std::string& path) {
  JournalReplay replay;
  JournalReadOptions options;
  options.keep_events = true;
  std::string err;
  REQUIRE(ReadJournal(path, options, &replay, &err));
  return replay;
}

Json AbResult(const std::string& description) {
  std::vector<AbVariantInfo> variants = {{"base", "wf"}, {"fast", "wf"}};
  std::vector<AbRun> runs;
  for (int k = 0; k < 4; ++k) {
    runs.push_back({"base", k, true, 10.0 + k, 0.40, 6.0 + k * 0.5, Json::object(), ""});
    runs.push_back({"fast", k, k != 3, 6.0 + k, 0.30, 7.0 + k * 0.5, Json::object(), k == 3 ? "Timeout" : ""});
  }
  AbAnalysisOptions options;
  options.include_run_details = true;
  options.resamples = 2000;
  return AbResultJson("speed-test", description, AnalyzeAbTest(variants, runs, options));
}

/// A run that made pictures, in `dir`: `img` (an image from a prompt written with a param),
/// `clip` (a video whose prompt names img's output), `broken` (a video node that failed),
/// `stitch` (skipped after it), `note` (a shell node whose file is not a picture).
std::string WritePictureJournal(const std::string& dir) {
  std::filesystem::create_directories(dir + "/out");
  std::string image = dir + "/out/img.png", video = dir + "/out/clip.mp4";
  std::ofstream(image) << "png";
  std::ofstream(video) << "mp4";
  Json workflow = {
      {"workflowId", "pics"},
      {"params", {{"character", "nobody"}}},
      {"nodes",
       {{{"id", "img"},
         {"type", "character_image"},
         {"inputs", {{"characterPrompt", "<<params.character>>, studio light"}}}},
        {{"id", "clip"}, {"type", "video_generation"}, {"inputs", {{"prompt", "<<img.caption>> waves at <<run.id>>"}}}},
        {{"id", "broken"}, {"type", "video_generation"}, {"inputs", {{"prompt", "<<never.x>>"}}}},
        {{"id", "stitch"}, {"type", "video_stitch"}, {"inputs", Json::object()}},
        {{"id", "note"}, {"type", "shell"}, {"inputs", Json::object()}}}}};
  std::vector<Json> records = {
      {{"type", "header"},
       {"format", 1},
       {"runId", "pics-1"},
       {"workflowId", "pics"},
       {"workflow", workflow},
       {"params", {{"character", "a robot barista"}}},
       {"hash", "x"},
       {"t", 1000}},
      {{"type", "run_started"}, {"pid", 1}, {"resume", 0}, {"t", 1000}},
      {{"type", "node_started"}, {"node", "img"}, {"attempt", 1}, {"queueWaitMs", 0}, {"t", 1000}},
      {{"type", "completed"},
       {"node", "img"},
       {"attempt", 1},
       {"outputs", {{"characterImagePath", image}, {"caption", "Robo"}}},
       {"cost", 0},
       {"t", 2000}},
      {{"type", "node_started"}, {"node", "clip"}, {"attempt", 1}, {"queueWaitMs", 0}, {"t", 2000}},
      {{"type", "node_started"}, {"node", "broken"}, {"attempt", 1}, {"queueWaitMs", 0}, {"t", 2000}},
      {{"type", "completed"},
       {"node", "clip"},
       {"attempt", 1},
       {"outputs", {{"videoPath", video}}},
       {"cost", 0},
       {"t", 3000}},
      {{"type", "attempt_failed"},
       {"node", "broken"},
       {"attempt", 1},
       {"error", "ContentBlocked"},
       {"message", "the prompt <b>was</b> refused"},
       {"cost", 0},
       {"t", 2500}},
      {{"type", "node_failed"},
       {"node", "broken"},
       {"attempts", 1},
       {"error", "ContentBlocked"},
       {"message", "the prompt <b>was</b> refused"},
       {"t", 2500}},
      {{"type", "node_skipped"}, {"node", "stitch"}, {"because", "broken failed"}, {"t", 2500}},
      {{"type", "node_started"}, {"node", "note"}, {"attempt", 1}, {"queueWaitMs", 0}, {"t", 3000}},
      {{"type", "completed"},
       {"node", "note"},
       {"attempt", 1},
       {"outputs", {{"log", dir + "/out/log.txt"}}},
       {"cost", 0},
       {"t", 3100}},
      {{"type", "run_finished"}, {"status", "failed"}, {"durationMs", 2100}, {"t", 3100}},
  };
  std::string path = dir + "/pics.jsonl";
  std::ofstream out(path);
  for (const auto& r : records) out << r.dump() << "\n";
  return path;
}

/// Stands in for the media module: a fixed "JPEG", videos by their extension.
bool FakeThumbnail(const std::string& path, int max_width, ReportThumbnail* out, std::string*) {
  out->jpeg = "\xFF\xD8 fake";
  out->width = max_width;
  out->height = max_width * 9 / 16;
  out->video = path.ends_with(".mp4");
  out->duration_seconds = out->video ? 4 : -1;
  return true;
}

}  // namespace

TEST_SUITE("Report") {
  TEST_CASE("EscapeHtml escapes markup and quotes and repairs invalid UTF-8") {
    CHECK(EscapeHtml("<a href=\"x\" title='y'>&</a>") ==
          "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
    CHECK(EscapeHtml("caf\xC3\xA9 \xF0\x9F\x8E\xAC") == "caf\xC3\xA9 \xF0\x9F\x8E\xAC");  // valid UTF-8 kept
    CHECK(EscapeHtml("bad \xC3 byte") == "bad \xEF\xBF\xBD byte");
    CHECK(EscapeHtml(std::string("nul\0x", 5)) == "nul x");
  }

  TEST_CASE("axis steps are 1, 2 or 5 times a power of ten") {
    CHECK(NiceStep(10000, 8) == 2000);
    CHECK(NiceStep(7, 5) == 2);
    CHECK(NiceStep(1, 4) == doctest::Approx(0.5));
    CHECK(NiceStep(0, 4) == 1);
    CHECK(SvgNumber(1.005) == "1");
    CHECK(SvgNumber(-0.001) == "0");
    CHECK(FormatUsd(0.0042) == "$0.0042");
    CHECK(FormatUsd(1.5) == "$1.50");
  }

  TEST_CASE("the run report draws every attempt, wait, retry, skip and interruption") {
    JournalReplay replay = Replay(WriteJournal("run.jsonl", /*finished=*/true));
    std::string html = RunReportHtml(replay, "run.jsonl");
    // gen: a failed attempt, a retry wait, a queue wait, a completed attempt.
    CHECK(Count(html, "class=\"bar failed\"") == 2);  // gen's first attempt and bad's only one
    CHECK(Count(html, "class=\"backoff\"") == 1);
    CHECK(Count(html, "class=\"bar wait\"") == 1);
    CHECK(Count(html, "class=\"bar completed\"") == 3);  // gen, a, b
    CHECK(Count(html, "class=\"bar open\"") == 1);       // late was cut off by the run's end
    CHECK(Count(html, "mark skipped") == 1);
    CHECK(Count(html, "mark cached") == 1);  // b
    CHECK(html.find("a (value)\nattempt 1: completed, 1.0s") != std::string::npos);
    CHECK(html.find("retry wait 2.0s after RateLimited") != std::string::npos);
    CHECK(html.find("waited 500ms for a slot") != std::string::npos);
    // One table row per node, sharing data-row with its timeline group.
    CHECK(Count(html, "<tr data-row=") == 6);
    CHECK(Count(html, "<g data-row=") == 6);
    CHECK(html.find("RateLimited") != std::string::npos);
    CHECK(html.find("skipped: bad failed") != std::string::npos);
    CHECK(html.find("$0.04") != std::string::npos);
    CHECK(html.find("gemini \xC2\xB7 gemini-2.5-flash-image") != std::string::npos);
    // Critical path gen -> b (the longer of a and b).
    CHECK(html.find("gen &rarr; b") != std::string::npos);
    CHECK(html.find("resumed") == std::string::npos);
  }

  TEST_CASE("user text in a journal never reaches the page unescaped") {
    JournalReplay replay = Replay(WriteJournal("run.jsonl", true));
    std::string html = RunReportHtml(replay, std::string("journal ") + kHostile);
    CHECK(html.find("<img") == std::string::npos);
    CHECK(html.find("alert('x')") == std::string::npos);
    CHECK(Count(html, "<script>") == 1);  // the report's own
    CHECK(html.find("&lt;img src=x onerror=alert(1)&gt;") != std::string::npos);
  }

  TEST_CASE("a journal without run_finished is reported as unfinished") {
    JournalReplay replay = Replay(WriteJournal("live.jsonl", /*finished=*/false));
    std::string html = RunReportHtml(replay, "live.jsonl");
    CHECK(html.find("no run_finished record") != std::string::npos);
    CHECK(html.find("s-running") != std::string::npos);
  }

  TEST_CASE("a journal with only its header gives a page that says nothing ran") {
    std::ofstream("header.jsonl") << Json({{"type", "header"},
                                           {"format", 1},
                                           {"runId", "r"},
                                           {"workflowId", "w"},
                                           {"workflow", {{"nodes", Json::array()}}},
                                           {"t", 5}})
                                         .dump()
                                  << "\n";
    std::string html = RunReportHtml(Replay("header.jsonl"), "header.jsonl");
    CHECK(html.find("No node has started yet.") != std::string::npos);
  }

  TEST_CASE("a large run packs nodes into as many shared lanes as ran at once") {
    // 100 nodes, all ready at t=0, run 4 at a time for 1 s each (long queue waits).
    Json nodes = Json::array();
    for (int i = 0; i < 100; ++i) nodes.push_back({{"id", fmt::format("n{}", i)}, {"type", "value"}});
    std::ofstream out("wide.jsonl");
    out << Json({{"type", "header"},
                 {"format", 1},
                 {"runId", "w"},
                 {"workflowId", "w"},
                 {"workflow", {{"nodes", nodes}}},
                 {"t", 0}})
               .dump()
        << "\n";
    for (int i = 0; i < 100; ++i) {
      int64_t start = 1000 * (i / 4) + 1;
      out << Json({{"type", "node_started"},
                   {"node", fmt::format("n{}", i)},
                   {"attempt", 1},
                   {"queueWaitMs", start - 1},
                   {"t", start}})
                 .dump()
          << "\n";
      out << Json({{"type", "completed"},
                   {"node", fmt::format("n{}", i)},
                   {"attempt", 1},
                   {"outputs", Json::object()},
                   {"startedAt", start},
                   {"durationMs", 999},
                   {"t", start + 999}})
                 .dump()
          << "\n";
    }
    out.close();
    std::string html = RunReportHtml(Replay("wide.jsonl"), "wide.jsonl");
    CHECK(html.find(">lane 4<") != std::string::npos);
    CHECK(html.find(">lane 5<") == std::string::npos);
    CHECK(Count(html, "class=\"bar completed\"") == 100);
    CHECK(Count(html, "<tr data-row=") == 100);
  }

  TEST_CASE("the A/B report charts each metric per variant with its interval and runs") {
    Json result = AbResult(std::string("which is faster? ") + kHostile);
    std::string html, err;
    REQUIRE(AbTestReportHtml(result, "speed.json", &html, &err));
    for (const char* title : {"Success rate", "Composite score", "Duration per run", "Cost per run", "Quality (0-10)",
                              "Probability of being best"})
      CHECK(html.find(title) != std::string::npos);
    // Means: 2 variants x 5 metric charts; intervals for each (n = 4 everywhere).
    CHECK(Count(html, "class=\"mean\"") == 10);
    CHECK(Count(html, "class=\"ci\"") == 10);
    // Single runs: 8 durations, 8 costs, 7 quality scores (the failed run has none).
    CHECK(Count(html, "<circle class=\"run") == 8 + 8 + 7);
    CHECK(Count(html, "class=\"run failed\"") == 2);  // its duration and its cost
    CHECK(Count(html, "class=\"pbar\"") == 2);
    CHECK(html.find("Compared with the baseline base") != std::string::npos);
    CHECK(html.find("<img") == std::string::npos);
    CHECK(html.find("&lt;img src=x onerror=alert(1)&gt;") != std::string::npos);
  }

  TEST_CASE("the A/B report shows what it has when fields are missing") {
    Json minimal = {{"testId", "t"}, {"variants", {{{"variantId", "only"}}}}};
    std::string html, err;
    REQUIRE(AbTestReportHtml(minimal, "t.json", &html, &err));
    CHECK(Count(html, "No data for this metric.") == 5);
    CHECK(html.find("not computed") != std::string::npos);
    CHECK_FALSE(AbTestReportHtml(Json{{"nodes", Json::array()}}, "x.json", &html, &err));
    CHECK(err.find("not an A/B result") != std::string::npos);
  }

  TEST_CASE("the node table and the bars' tooltips say where each attempt ran") {
    JournalReplay replay = Replay(WriteJournal("where.jsonl", true));
    std::string html = RunReportHtml(replay, "where.jsonl");
    CHECK(html.find("<th>Where</th>") != std::string::npos);
    std::string bad = "slurm job 41 on gpu07" + EscapeHtml(kHostile);
    CHECK(html.find("<td class=\"where\">" + bad + "</td>") != std::string::npos);
    CHECK(html.find("where: " + bad) != std::string::npos);  // the bar's tooltip
    // Two attempts: one line each, numbered.
    CHECK(html.find("<td class=\"where\"><span class=\"muted\">#1</span> local<br><span class=\"muted\">#2</span> "
                    "local</td>") != std::string::npos);
    CHECK(html.find("<td class=\"where\">-</td>") != std::string::npos);  // value nodes say nothing
  }

  TEST_CASE("the node table shows each prompt as the node used it, not its template") {
    JournalReplay replay = Replay(WritePictureJournal("pics-prompts"));
    std::string html = RunReportHtml(replay, "pics.jsonl");
    // The header's params (defaults merged with --param) and the outputs of completed nodes.
    CHECK(html.find(">a robot barista, studio light</div>") != std::string::npos);
    CHECK(html.find(">Robo waves at pics-1</div>") != std::string::npos);
    CHECK(html.find("title=\"written as: &lt;&lt;params.character&gt;&gt;, studio light\"") != std::string::npos);
    CHECK(html.find("nobody") == std::string::npos);
    // A node it names never completed: the template as written, said so.
    CHECK(html.find("&lt;&lt;never.x&gt;&gt; <span class=\"muted\">(not resolved") != std::string::npos);
  }

  TEST_CASE("the gallery embeds thumbnails, links videos and shows a failed node's error in place") {
    std::string dir = std::filesystem::absolute("pics-gallery").string();
    JournalReplay replay = Replay(WritePictureJournal(dir));
    RunReportOptions options;
    options.page_dir = dir;
    options.thumbnail = FakeThumbnail;
    std::string html = RunReportHtml(replay, "pics.jsonl", options);
    CHECK(html.find("<h2>Outputs</h2>") != std::string::npos);
    CHECK(html.find("<h2>Outputs</h2>") < html.find("<h2>Timeline</h2>"));
    CHECK(Count(html, "<img src=\"data:image/jpeg;base64,/9g") == 2);  // base64 of FF D8
    CHECK(html.find("width=\"256\" height=\"144\"") != std::string::npos);
    // The video: its poster frame links to the file, relative to the page, with its duration.
    CHECK(html.find("<a class=\"pic\" href=\"out/clip.mp4\"><img") != std::string::npos);
    CHECK(html.find("&#9654; 4.0s") != std::string::npos);
    CHECK(html.find("<a class=\"pic\" href=\"out/img.png\"><img") != std::string::npos);
    // The failed node's error where its video would be, escaped; the skipped one's reason.
    size_t broken = html.find("<figure class=\"shot failed\" data-node=\"broken\">");
    REQUIRE(broken != std::string::npos);
    CHECK(html.find("ContentBlocked: the prompt &lt;b&gt;was&lt;/b&gt; refused", broken) <
          html.find("</figure>", broken));
    CHECK(html.find("data-node=\"stitch\"><div class=\"pic\">skipped: broken failed") != std::string::npos);
    // Workflow order; a file that is not a picture gets no card.
    CHECK(html.find("data-node=\"img\"") < html.find("data-node=\"clip\""));
    CHECK(html.find("data-node=\"note\"") == std::string::npos);

    SUBCASE("links from a page in another folder climb to the files") {
      options.page_dir = dir + "/reports";
      std::string other = RunReportHtml(replay, "pics.jsonl", options);
      CHECK(other.find("href=\"../out/clip.mp4\"") != std::string::npos);
    }
    SUBCASE("without the media module: no pictures, every file listed, the reason given") {
      options.thumbnail = nullptr;
      options.no_thumbnails = "the media module did not load (no comfyrun_media.so)";
      std::string bare = RunReportHtml(replay, "pics.jsonl", options);
      CHECK(bare.find("<img") == std::string::npos);
      CHECK(bare.find("No pictures: the media module did not load (no comfyrun_media.so).") != std::string::npos);
      CHECK(bare.find("href=\"out/clip.mp4\">video (no preview)</a>") != std::string::npos);
      CHECK(bare.find("ContentBlocked: the prompt") != std::string::npos);
    }
    SUBCASE("a file that is gone says so") {
      std::filesystem::remove(dir + "/out/img.png");
      std::string gone = RunReportHtml(replay, "pics.jsonl", options);
      CHECK(gone.find("the file is no longer there") != std::string::npos);
      CHECK(Count(gone, "<img src=\"data:image/jpeg;base64,") == 1);
    }
  }

  TEST_CASE("thumbnails of a real image and video are small JPEGs; a text file is refused") {
    std::string err;
    REQUIRE_MESSAGE(media::RenderOfflineImage("a lighthouse", "16:9", "thumb.png", &err), err);
    REQUIRE_MESSAGE(media::RenderOfflineVideo("a lighthouse", 2, "9:16", "180p", "", "thumb.mp4", &err), err);
    media::Thumbnail t;
    REQUIRE_MESSAGE(media::MakeThumbnail("thumb.png", 256, &t, &err), err);
    CHECK(t.jpeg.substr(0, 2) == "\xFF\xD8");
    CHECK(t.width == 256);
    CHECK(t.height == doctest::Approx(144).epsilon(0.02));
    CHECK(!t.video);
    CHECK(t.source_width > 256);
    REQUIRE_MESSAGE(media::MakeThumbnail("thumb.mp4", 256, &t, &err), err);
    CHECK(t.video);
    CHECK(t.duration_seconds == doctest::Approx(2).epsilon(0.05));
    CHECK(t.width <= t.source_width);  // never scaled up
    CHECK(t.height > t.width);         // 9:16 kept
    std::ofstream("thumb.txt") << "not a picture";
    CHECK_FALSE(media::MakeThumbnail("thumb.txt", 256, &t, &err));
    CHECK(err.find("thumb.txt") != std::string::npos);
  }

  TEST_CASE("report tells a journal from an A/B result and refuses anything else with exit 2") {
    WriteJournal("run.jsonl", true);
    ReportOptions options{"run.jsonl", "run.html"};
    CHECK(ReportCommand(options) == 0);
    std::string text, err;
    REQUIRE(ReadFile("run.html", &text, &err));
    CHECK(text.find("comfyrun run report") != std::string::npos);

    std::ofstream("ab.json") << AbResult("d").dump(2);
    options = {"ab.json", "ab.html"};
    CHECK(ReportCommand(options) == 0);
    REQUIRE(ReadFile("ab.html", &text, &err));
    CHECK(text.find("comfyrun A/B test report") != std::string::npos);

    std::ofstream("workflow.json") << R"({"workflowId": "w", "nodes": []})";
    options = {"workflow.json", "x.html"};
    CHECK(ReportCommand(options) == 2);
    options = {"missing.jsonl", "x.html"};
    CHECK(ReportCommand(options) == 2);
    std::ofstream("garbage.txt") << "hello\nworld\n";
    options = {"garbage.txt", "x.html"};
    CHECK(ReportCommand(options) == 2);
    options = {"run.jsonl", "no-such-dir/run.html"};
    CHECK(ReportCommand(options) == 2);
  }
}

}  // namespace comfyrun
