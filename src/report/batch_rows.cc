// BatchRowsSection (run_report_parts.h): the rows of a batch (batch/results.h) as a table in
// its run report, with a thumbnail of each image a row made and a link to each video.
#include <fmt/format.h>

#include <filesystem>

#include "comfyrun/batch/expand.h"
#include "comfyrun/batch/results.h"
#include "comfyrun/core/util.h"
#include "comfyrun/providers/provider_util.h"
#include "comfyrun/report/html.h"
#include "run_report_parts.h"

namespace comfyrun {
namespace {

namespace fs = std::filesystem;

/// Thumbnails in the rows table are small: a row is a line.
constexpr int kRowThumbnailWidth = 96;
/// Rows with pictures: a 10,000-row batch's page would otherwise embed 10,000 JPEGs.
constexpr size_t kMaxRowsWithPictures = 200;
/// Rows listed at all.
constexpr size_t kMaxRows = 2000;

bool HasExtension(const std::string& path, std::initializer_list<const char*> exts) {
  std::string ext = fs::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* e : exts)
    if (ext == e) return true;
  return false;
}
bool IsImage(const std::string& p) { return HasExtension(p, {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"}); }
bool IsVideo(const std::string& p) { return HasExtension(p, {".mp4", ".mov", ".webm", ".mkv", ".m4v", ".avi"}); }

/// The link from the page's folder to `file`, percent-encoded but for unreserved bytes and '/'.
std::string Link(const std::string& file, const std::string& page_dir) {
  std::error_code ec;
  fs::path abs = fs::weakly_canonical(fs::absolute(file, ec), ec);
  fs::path base = fs::weakly_canonical(fs::absolute(page_dir.empty() ? fs::path(".") : fs::path(page_dir), ec), ec);
  fs::path rel = abs.lexically_relative(base);
  std::string out;
  for (unsigned char c : (rel.empty() ? abs : rel).generic_string()) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string OutputsCell(const RowResult& r, bool pictures, const RunReportOptions& options) {
  std::string cell;
  for (const auto& path : r.outputs) {
    std::string link = EscapeHtml(Link(path, options.page_dir));
    std::string name = EscapeHtml(fs::path(path).filename().string());
    std::error_code ec;
    ReportThumbnail thumb;
    std::string err;
    if (pictures && IsImage(path) && options.thumbnail && fs::is_regular_file(path, ec) &&
        options.thumbnail(path, kRowThumbnailWidth, &thumb, &err)) {
      cell += fmt::format(
          "<a href=\"{}\"><img src=\"data:image/jpeg;base64,{}\" width=\"{}\" height=\"{}\" alt=\"{}\"></a> ", link,
          Base64Encode(thumb.jpeg), thumb.width, thumb.height, name);
    } else if (IsVideo(path) || IsImage(path)) {
      cell += fmt::format("<a href=\"{}\">{}{}</a> ", link, IsVideo(path) ? "&#9654; " : "", name);
    } else {
      cell += "<span class=\"path\">" + name + "</span> ";
    }
  }
  return cell;
}

}  // namespace

std::string BatchRowsSection(const JournalReplay& replay, const RunReportOptions& options) {
  std::vector<BatchRow> rows;
  std::string err;
  if (!DecodeBatchRows(replay.header, &rows, &err)) return "";
  std::vector<std::string> ids;
  if (replay.header.contains("workflow") && replay.header["workflow"].is_object())
    for (const auto& n : replay.header["workflow"].value("nodes", Json::array()))
      if (n.is_object() && n.contains("id") && n["id"].is_string()) ids.push_back(n["id"].get<std::string>());
  // Every node's files count here, not only the last nodes': a row's image and its video.
  std::vector<RowResult> results = CollectRowResults(rows, ids, ids, replay);
  size_t ok = 0;
  std::string body;
  for (size_t i = 0; i < results.size() && i < kMaxRows; ++i) {
    const RowResult& r = results[i];
    ok += r.status == "succeeded";
    body += fmt::format(
        "<tr><td class=\"num\">{}</td><td class=\"code\">{}</td><td>{}</td><td class=\"num\">{}</td>"
        "<td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>\n",
        r.row->number, EscapeHtml(r.row->key), EscapeHtml(r.status), EscapeHtml(FormatUsd(r.cost)),
        EscapeHtml(FormatMs(static_cast<double>(r.duration_ms))), EscapeHtml(Abbreviate(r.error, 300)),
        OutputsCell(r, i < kMaxRowsWithPictures, options));
  }
  for (size_t i = kMaxRows; i < results.size(); ++i) ok += results[i].status == "succeeded";
  std::string more = results.size() > kMaxRows
                         ? fmt::format("<p class=\"note\">and {} more rows (all in the batch's results files).</p>",
                                       results.size() - kMaxRows)
                         : "";
  return fmt::format(
      "<section class=\"panel\"><h2>Rows</h2><p class=\"note\">{} rows: {} succeeded, {} did not. Each row's "
      "files are in its folder, runs/&lt;runId&gt;/&lt;rowKey&gt;/.</p><div class=\"scroll\"><table>"
      "<thead><tr><th class=\"num\">Row</th><th>Key</th><th>Status</th><th class=\"num\">Cost</th>"
      "<th class=\"num\">Time</th><th>Error</th><th>Outputs</th></tr></thead><tbody>\n{}</tbody></table></div>{}"
      "</section>\n",
      results.size(), ok, results.size() - ok, body, more);
}

}  // namespace comfyrun
