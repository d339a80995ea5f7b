// `comfyrun report FILE --html OUT`: a self-contained HTML page of a run (from its journal)
// or of an A/B test (from its result JSON); report/report.h has what the pages show.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "comfyrun/cli/cli.h"
#include "comfyrun/core/util.h"
#include "comfyrun/media/module.h"
#include "comfyrun/report/report.h"
#include "comfyrun/run/header.h"

namespace comfyrun {
namespace {

enum class InputKind { kJournal, kAbResult, kUnknown };

/// Tells a journal from an A/B result by content, not by name: a journal's first line is a
/// complete header record; an A/B result is one JSON object with testId and variants.
InputKind DetectKind(const std::string& path, Json* ab_result, std::string* err) {
  int fd = OpenUserFile(path, kMaxJournalFileBytes, err);  // a regular file only: no FIFO, no device
  if (fd < 0) return InputKind::kUnknown;
  close(fd);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string text;
    ReadFile(path, &text, err);  // for the reason ("no such file", "permission denied")
    if (err->empty()) *err = "cannot open the file";
    return InputKind::kUnknown;
  }
  std::string first;
  std::getline(in, first);
  Json head = Json::parse(first, nullptr, /*allow_exceptions=*/false);
  if (head.is_object() && head.value("type", Json()) == "header") return InputKind::kJournal;
  std::string text;
  if (!ReadFile(path, &text, err)) return InputKind::kUnknown;
  Json doc = Json::parse(text, nullptr, false);
  if (doc.is_object() && doc.contains("testId") && doc.contains("variants")) {
    *ab_result = std::move(doc);
    return InputKind::kAbResult;
  }
  *err = doc.is_discarded() ? "neither a journal (JSON lines starting with a header record) nor valid JSON"
                            : "neither a journal nor an A/B result (a JSON object with testId and variants)";
  return InputKind::kUnknown;
}

/// The run report's options: links relative to the page's folder, and thumbnails from the
/// media module when it loads (without it the page still renders, saying why it has none).
RunReportOptions RunOptionsFor(const ReportOptions& options) {
  RunReportOptions o;
  if (options.html != "-") o.page_dir = std::filesystem::path(options.html).parent_path().string();
  std::string err;
  const media::Module* module = media::LoadModule(&err);
  if (!module) {
    o.no_thumbnails = "the media module did not load (" + err + ")";
    return o;
  }
  o.thumbnail = [module](const std::string& path, int max_width, ReportThumbnail* out, std::string* why) {
    media::Thumbnail t;
    if (!module->make_thumbnail(path, max_width, &t, why)) return false;
    out->jpeg = std::move(t.jpeg);
    out->width = t.width;
    out->height = t.height;
    out->video = t.video;
    out->duration_seconds = t.duration_seconds;
    return true;
  };
  return o;
}

}  // namespace

int ReportCommand(const ReportOptions& options) {
  std::string err, html;
  Json ab_result;
  switch (DetectKind(options.input, &ab_result, &err)) {
    case InputKind::kUnknown:
      fmt::print(stderr, "comfyrun report: {}: {}\n", options.input, err);
      return kExitInvalid;
    case InputKind::kJournal: {
      JournalReplay replay;
      JournalReadOptions read;
      read.keep_events = true;  // queue waits per attempt and skip reasons are in the records
      JournalHeader header;
      if (!ReadCheckedJournal(options.input, read, &replay, &header, &err)) {
        fmt::print(stderr, "comfyrun report: {}\n", err);
        return kExitInvalid;
      }
      html = RunReportHtml(replay, options.input, RunOptionsFor(options));
      break;
    }
    case InputKind::kAbResult:
      if (!AbTestReportHtml(ab_result, options.input, &html, &err)) {
        fmt::print(stderr, "comfyrun report: {}: {}\n", options.input, err);
        return kExitInvalid;
      }
      break;
  }
  if (options.html == "-") {
    std::fwrite(html.data(), 1, html.size(), stdout);
    return std::fflush(stdout) == 0 ? kExitOk : kExitFailed;
  }
  if (!WriteFileAtomic(options.html, html, &err)) {
    fmt::print(stderr, "comfyrun report: cannot write {}: {}\n", options.html, err);
    return kExitInvalid;
  }
  fmt::print(stderr, "comfyrun report: wrote {} ({} KB)\n", options.html, (html.size() + 1023) / 1024);
  return kExitOk;
}

}  // namespace comfyrun
