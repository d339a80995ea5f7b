// GallerySection (run_report_parts.h): the pictures a run made, at the top of the run report.
//
// Images and video poster frames are embedded as small JPEGs (data URIs), so the page stays
// one self-contained file; videos link to their file by a relative path, which keeps working
// when the page is stored in or beside the output folder and both move together. Pictures
// come from the media module (the executable itself does not link libav); without it, the
// gallery still lists every file and says why there are no pictures.
#include <fmt/format.h>

#include <filesystem>
#include <set>
#include <vector>

#include "comfyrun/core/util.h"
#include "comfyrun/providers/provider_util.h"
#include "comfyrun/report/html.h"
#include "run_report_parts.h"

namespace comfyrun {
namespace {

namespace fs = std::filesystem;

/// Thumbnail width in pixels: two columns of a phone screen, four of a laptop's.
constexpr int kThumbnailWidth = 256;
/// At most this many files get a card (a run of 500 clips makes a long page already); the
/// rest are counted.
constexpr size_t kMaxCards = 120;
/// Paths looked for in one node's outputs: bounds a hostile or huge output document.
constexpr size_t kMaxPathsPerNode = 64;

enum class MediaKind { kNone, kImage, kVideo };

MediaKind KindOf(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* e : {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"})
    if (ext == e) return MediaKind::kImage;
  for (const char* e : {".mp4", ".mov", ".webm", ".mkv", ".m4v", ".avi"})
    if (ext == e) return MediaKind::kVideo;
  return MediaKind::kNone;
}

/// The node types whose output is a picture: where they fail, the gallery shows the error.
bool MakesPictures(const std::string& type) {
  for (const char* t :
       {"character_image", "image_generation", "video_generation", "sora2_video", "comfyui", "video_stitch"})
    if (type == t) return true;
  return false;
}

/// Strings in `outputs` (any depth) that name an image or a video, in document order.
void MediaPaths(const Json& value, std::vector<std::string>* out) {
  if (out->size() >= kMaxPathsPerNode) return;
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    if (s.size() < 4096 && KindOf(s) != MediaKind::kNone) out->push_back(s);
  } else if (value.is_array() || value.is_object()) {
    for (const auto& v : value) MediaPaths(v, out);
  }
}

/// A path as a relative URL: unreserved characters and '/' kept, the rest percent-encoded
/// (':' too, so that a first segment is never read as a scheme).
std::string UrlPath(const std::string& path) {
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

/// The link from the page's folder to `file`.
std::string RelativeLink(const fs::path& file, const std::string& page_dir) {
  std::error_code ec;
  fs::path base = fs::weakly_canonical(fs::absolute(page_dir.empty() ? fs::path(".") : fs::path(page_dir), ec), ec);
  fs::path rel = file.lexically_relative(base);
  return UrlPath((rel.empty() ? file : rel).generic_string());
}

/// One card: a picture (or a placeholder saying why there is none) and a caption.
std::string Card(const std::string& cls, const std::string& pic_html, const std::string& node_id,
                 const std::string& caption_html) {
  return fmt::format(
      "<figure class=\"shot{}\" data-node=\"{}\">{}<figcaption><span class=\"id\">{}</span>{}</figcaption>"
      "</figure>\n",
      cls.empty() ? "" : " " + cls, EscapeHtml(node_id), pic_html, EscapeHtml(node_id), caption_html);
}

struct Gallery {
  const RunReportOptions& options;
  std::string cards;
  size_t count = 0, left_out = 0, previews = 0, failed_previews = 0;
  std::set<std::string> seen;  ///< canonical paths: a path passed on by a later node is shown once

  /// A card for a file that a completed node's outputs name.
  void AddFile(const std::string& node_id, const std::string& path) {
    std::error_code ec;
    fs::path abs = fs::weakly_canonical(fs::absolute(path, ec), ec);
    if (ec || !seen.insert(abs.string()).second) return;
    if (count >= kMaxCards) {
      ++left_out;
      return;
    }
    ++count;
    MediaKind kind = KindOf(path);
    std::string name = abs.filename().string();
    std::string link = RelativeLink(abs, options.page_dir);
    // Only regular files are opened: a FIFO or a device named in an output must not hang the report.
    if (!fs::is_regular_file(abs, ec)) {
      cards += Card("missing", "<div class=\"pic\">the file is no longer there</div>", node_id,
                    "<br><span class=\"muted path\">" + EscapeHtml(name) + "</span>");
      return;
    }
    std::string pic, detail;
    ReportThumbnail thumb;
    std::string err;
    if (options.thumbnail && options.thumbnail(abs.string(), kThumbnailWidth, &thumb, &err)) {
      ++previews;
      bool video = thumb.video || kind == MediaKind::kVideo;
      std::string duration = thumb.duration_seconds > 0 ? FormatMs(thumb.duration_seconds * 1000) : "";
      pic = fmt::format(
          "<a class=\"pic\" href=\"{}\"><img src=\"data:image/jpeg;base64,{}\" width=\"{}\" height=\"{}\" "
          "alt=\"{}\">{}</a>",
          EscapeHtml(link), Base64Encode(thumb.jpeg), thumb.width, thumb.height,
          EscapeHtml((video ? "poster frame of " : "") + name),
          video ? "<span class=\"play\">&#9654; " + EscapeHtml(duration.empty() ? "video" : duration) + "</span>" : "");
      if (video && !duration.empty()) detail = "video, " + duration;
    } else {
      if (options.thumbnail) ++failed_previews;
      // The error names the file, which the caption already does.
      if (err.rfind(abs.string() + ": ", 0) == 0) err.erase(0, abs.string().size() + 2);
      std::string why = options.thumbnail ? "no preview: " + Abbreviate(err, 200) : "no preview";
      pic = fmt::format("<a class=\"pic\" href=\"{}\">{}</a>", EscapeHtml(link),
                        EscapeHtml(std::string(kind == MediaKind::kVideo ? "video" : "image") + " (" + why + ")"));
      if (kind == MediaKind::kVideo) detail = "video";
    }
    cards += Card("", pic, node_id,
                  "<br><span class=\"muted\"><span class=\"path\">" + EscapeHtml(name) + "</span>" +
                      (detail.empty() ? "" : " &middot; " + EscapeHtml(detail)) + "</span>");
  }

  /// A card where a picture-making node's output would be, saying why there is none.
  void AddMissing(const std::string& node_id, const std::string& cls, const std::string& text,
                  const std::string& caption) {
    if (count >= kMaxCards) {
      ++left_out;
      return;
    }
    ++count;
    cards += Card(cls, "<div class=\"pic\">" + EscapeHtml(Abbreviate(text, 600)) + "</div>", node_id,
                  "<br><span class=\"muted\">" + EscapeHtml(caption) + "</span>");
  }
};

}  // namespace

std::string GallerySection(const JournalReplay& replay, const Json& metrics, const RunReportOptions& options) {
  std::string rows = BatchRowsSection(replay, options);  // "" unless a batch's
  if (!metrics.contains("nodes") || !metrics["nodes"].is_array()) return rows;
  Gallery g{options, {}, 0, 0, 0, 0, {}};
  for (const auto& m : metrics["nodes"]) {
    std::string id = StringAt(m, "id"), type = StringAt(m, "type"), status = StringAt(m, "status");
    auto it = replay.nodes.find(id);
    const JournalNode* node = it == replay.nodes.end() ? nullptr : &it->second;
    if (node && node->status == JournalNode::Status::kCompleted) {
      std::vector<std::string> paths;
      MediaPaths(node->outputs, &paths);
      for (const auto& p : paths) g.AddFile(id, p);
      continue;
    }
    if (!MakesPictures(type)) continue;
    if (status == "failed") {
      std::string text = "failed";
      if (m.contains("error") && m["error"].is_object())
        text = StringAt(m["error"], "type") + ": " + StringAt(m["error"], "message");
      g.AddMissing(id, "failed", text, type + " \u00B7 failed, no output");
    } else if (status == "skipped") {
      std::string because;
      if (node)
        for (const auto& e : node->events)
          if (StringAt(e, "type") == "node_skipped") because = StringAt(e, "because");
      g.AddMissing(id, "skipped", because.empty() ? "skipped" : "skipped: " + because, type + " \u00B7 not run");
    } else {
      g.AddMissing(id, "skipped", "not finished", type + " \u00B7 " + (status.empty() ? "pending" : status));
    }
  }
  if (g.count == 0) return rows;
  std::string note =
      "Thumbnails of the images and poster frames of the videos the run made (click one to open its "
      "file; links are relative to this page), in workflow order; a failed node's error is where its "
      "output would be.";
  if (!options.thumbnail)
    note += " No pictures: " +
            (options.no_thumbnails.empty() ? std::string("the media module is not available") : options.no_thumbnails) +
            ".";
  else if (g.failed_previews > 0)
    note += fmt::format(" {} file{} could not be previewed.", g.failed_previews, g.failed_previews == 1 ? "" : "s");
  std::string more = g.left_out > 0 ? fmt::format("<p class=\"note\">and {} more not shown.</p>", g.left_out) : "";
  return rows +
         fmt::format(
             "<section class=\"panel\"><h2>Outputs</h2><p class=\"note\">{}</p><div class=\"gallery\">\n{}</div>{}"
             "</section>\n",
             EscapeHtml(note), g.cards, more);
}

}  // namespace comfyrun
