// The queue nodes' inputs and result files: reading the node's inputs, inlining local files
// as data: URIs, finding the file URLs in a result, and the small table of known models.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "comfyrun/core/config.h"
#include "comfyrun/core/util.h"
#include "comfyrun/providers/provider_util.h"
#include "comfyrun/providers/queue_job.h"

namespace comfyrun {
namespace {

/// A local path a string names: absolute, ./relative or file://; "" when it names none.
std::string LocalPathOf(const std::string& s) {
  std::string path;
  if (StartsWith(s, "file://"))
    path = s.substr(7);
  else if (StartsWith(s, "/") || StartsWith(s, "./"))
    path = s;
  else
    return "";
  if (path.size() > 4096 || path.find('\n') != std::string::npos) return "";
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) ? path : "";
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

/// The extension of a URL's path (".png"), lower case; "" when none.
std::string UrlExtension(const std::string& url) {
  std::string path = url.substr(0, url.find_first_of("?#"));
  size_t slash = path.rfind('/');
  size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash) || path.size() - dot > 6) return "";
  return Lower(path.substr(dot));
}

std::string KindOfExtension(const std::string& ext) {
  static const char* kImage[] = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif"};
  static const char* kVideo[] = {".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v"};
  static const char* kAudio[] = {".mp3", ".wav", ".ogg", ".flac", ".m4a", ".aac", ".opus"};
  for (const char* e : kImage)
    if (ext == e) return "image";
  for (const char* e : kVideo)
    if (ext == e) return "video";
  for (const char* e : kAudio)
    if (ext == e) return "audio";
  return "";
}

std::string KindOfContentType(const std::string& type) {
  if (StartsWith(type, "image/")) return "image";
  if (StartsWith(type, "video/")) return "video";
  if (StartsWith(type, "audio/")) return "audio";
  return "";
}

std::string ExtensionOfContentType(const std::string& type) {
  static const std::pair<const char*, const char*> kMap[] = {
      {"image/png", ".png"}, {"image/jpeg", ".jpg"},  {"image/webp", ".webp"},     {"image/gif", ".gif"},
      {"video/mp4", ".mp4"}, {"video/webm", ".webm"}, {"video/quicktime", ".mov"}, {"audio/mpeg", ".mp3"},
      {"audio/wav", ".wav"}, {"audio/x-wav", ".wav"}, {"audio/ogg", ".ogg"},       {"audio/flac", ".flac"}};
  for (const auto& [t, e] : kMap)
    if (type == t) return e;
  return "";
}

bool IsHttpUrl(const std::string& s) { return StartsWith(s, "https://") || StartsWith(s, "http://"); }

/// Walks `v`; `all` = every URL counts (a field the node named), else only media URLs.
void Collect(const Json& v, bool all, std::vector<ResultFile>* out) {
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (!IsHttpUrl(s)) return;
    std::string ext = UrlExtension(s);
    std::string kind = KindOfExtension(ext);
    if (kind.empty() && !all) return;
    out->push_back({s, kind.empty() ? "file" : kind, ext});
    return;
  }
  if (v.is_array()) {
    for (const auto& e : v) Collect(e, all, out);
    return;
  }
  if (!v.is_object()) return;
  // fal's File object: {"url": ..., "content_type": "image/png", "file_name": ...}
  std::string url = JsonStringField(v, "url");
  if (IsHttpUrl(url)) {
    std::string type = Lower(JsonStringField(v, "content_type"));
    std::string ext = UrlExtension(url);
    std::string kind = KindOfContentType(type);
    if (kind.empty()) kind = KindOfExtension(ext);
    if (ext.empty() || KindOfExtension(ext).empty()) {
      std::string from_type = ExtensionOfContentType(type);
      if (!from_type.empty()) ext = from_type;
    }
    if (!kind.empty() || all) out->push_back({url, kind.empty() ? "file" : kind, ext});
    return;
  }
  for (const auto& [key, e] : v.items()) Collect(e, all, out);
}

}  // namespace

bool ParseQueueRequest(const Json& in, QueueRequest* r, std::string* err) {
  if (!in.contains("model") || !in["model"].is_string() || in["model"].get<std::string>().empty()) {
    *err = "model is required: the provider's model id, e.g. \"fal-ai/flux/schnell\" or \"owner/name\"";
    return false;
  }
  r->model = in["model"].get<std::string>();
  if (in.contains("input") && !in["input"].is_null()) {
    if (!in["input"].is_object()) {
      *err = "input is the JSON object passed to the model";
      return false;
    }
    r->input = in["input"];
  }
  if (in.contains("outputs") && !in["outputs"].is_null()) {
    const Json& o = in["outputs"];
    if (!o.is_array()) {
      *err = "outputs is a list of result fields that hold files, e.g. [\"images\", \"video\"]";
      return false;
    }
    for (const auto& f : o) {
      if (!f.is_string() || f.get<std::string>().empty()) {
        *err = "outputs is a list of result field names (strings)";
        return false;
      }
      r->outputs.push_back(f.get<std::string>());
    }
  }
  if (in.contains("kind") && in["kind"].is_string()) r->kind = in["kind"].get<std::string>();
  if (!ReadPollInterval(in, &r->poll_interval, err)) return false;
  if (in.contains("costPerRun") && in["costPerRun"].is_number()) r->cost_per_run = in["costPerRun"].get<double>();
  return true;
}

namespace {

std::string PointerToken(const std::string& key) {
  std::string out;
  for (char c : key) out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
  return "/" + out;
}

/// `json_path` for messages, `pointer` to find the value again.
bool Inline(Json* input, const std::string& json_path, const std::string& pointer, size_t max_bytes,
            std::vector<LocalUpload>* uploads, std::string* err) {
  if (input->is_object()) {
    for (auto it = input->begin(); it != input->end(); ++it)
      if (!Inline(&it.value(), json_path + "." + it.key(), pointer + PointerToken(it.key()), max_bytes, uploads, err))
        return false;
    return true;
  }
  if (input->is_array()) {
    for (size_t i = 0; i < input->size(); ++i)
      if (!Inline(&(*input)[i], fmt::format("{}[{}]", json_path, i), fmt::format("{}/{}", pointer, i), max_bytes,
                  uploads, err))
        return false;
    return true;
  }
  if (!input->is_string()) return true;
  std::string path = LocalPathOf(input->get<std::string>());
  if (path.empty()) return true;
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    *err = fmt::format("{}: cannot read {}: {}", json_path, path, ec.message());
    return false;
  }
  std::ifstream f(path, std::ios::binary);
  if (size > max_bytes) {
    if (!uploads) {
      *err = fmt::format("{}: {} is {} bytes; files up to {} bytes are sent inline as data: URIs: give a URL instead",
                         json_path, path, size, max_bytes);
      return false;
    }
    // Only the head, for the content type: the upload streams the file (queue_upload.h).
    std::string head(64, '\0');
    f.read(head.data(), static_cast<std::streamsize>(head.size()));
    if (f.bad()) {
      *err = fmt::format("{}: cannot read {}", json_path, path);
      return false;
    }
    head.resize(static_cast<size_t>(f.gcount()));
    uploads->push_back({json_path, pointer, path, static_cast<uint64_t>(size), GuessMimeType(path, head)});
    return true;
  }
  std::stringstream bytes;
  bytes << f.rdbuf();
  if (!f && !f.eof()) {
    *err = fmt::format("{}: cannot read {}", json_path, path);
    return false;
  }
  std::string data = bytes.str();
  *input = fmt::format("data:{};base64,{}", GuessMimeType(path, data.substr(0, 64)), Base64Encode(data));
  return true;
}

}  // namespace

bool InlineLocalFiles(Json* input, size_t max_bytes, std::vector<LocalUpload>* uploads, std::string* err) {
  return Inline(input, "input", "", max_bytes, uploads, err);
}

bool HasLocalFiles(const Json& input) {
  if (input.is_object() || input.is_array()) {
    for (const auto& v : input)
      if (HasLocalFiles(v)) return true;
    return false;
  }
  return input.is_string() && !LocalPathOf(input.get<std::string>()).empty();
}

std::vector<ResultFile> CollectResultFiles(const Json& result, const std::vector<std::string>& fields) {
  std::vector<ResultFile> files;
  if (fields.empty()) {
    Collect(result, false, &files);
  } else {
    for (const auto& field : fields) {
      // "video" or a dotted path "data.images"
      const Json* v = &result;
      size_t start = 0;
      while (v && start <= field.size()) {
        size_t dot = field.find('.', start);
        std::string key = field.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        v = v->is_object() && v->contains(key) ? &(*v)[key] : nullptr;
        if (dot == std::string::npos) break;
        start = dot + 1;
      }
      if (v) Collect(*v, true, &files);
    }
  }
  // One download per URL, first occurrence first.
  std::vector<ResultFile> unique;
  for (auto& f : files)
    if (std::none_of(unique.begin(), unique.end(), [&](const ResultFile& u) { return u.url == f.url; }))
      unique.push_back(std::move(f));
  return unique;
}

namespace {

struct ModelRow {
  const char* provider;
  const char* model;
  QueueModelInfo info;
};

// Prices, USD, as published on fal.ai/pricing and the models' Replicate pages and quoted alike
// by several independent price comparisons (e.g. workflowlab.dev, "verified May 11, 2026";
// checked 2026-12-07). Only prices that the sources agree on are here; any other model has
// no table price (the node's costPerRun, or the provider's report, gives one). fal counts
// megapixels per image, rounded up (1024x1024 = 1 MP); Replicate's FLUX models count images.
// A priced row matches its model exactly (a Replicate ":version" aside): a variant such as
// fal-ai/flux/dev/image-to-image is priced differently.
constexpr ModelRow kPriced[] = {
    {"fal", "fal-ai/flux/schnell", {"image", 0.003, PriceUnit::kMegapixel, 0.003}},
    {"fal", "fal-ai/flux/dev", {"image", 0.025, PriceUnit::kMegapixel, 0.025}},
    {"replicate", "black-forest-labs/flux-schnell", {"image", 0.003, PriceUnit::kImage, 0.003}},
    {"replicate", "black-forest-labs/flux-dev", {"image", 0.025, PriceUnit::kImage, 0.025}},
};

// Output kind only, by model prefix: for --offline placeholders and plan.
constexpr ModelRow kKinds[] = {
    {"fal", "fal-ai/flux/schnell", {"image", 0}},
    {"fal", "fal-ai/flux/dev", {"image", 0}},
    {"fal", "fal-ai/flux-pro", {"image", 0}},
    {"fal", "fal-ai/recraft-v3", {"image", 0}},
    {"fal", "fal-ai/ideogram/v2", {"image", 0}},
    {"fal", "fal-ai/kling-video", {"video", 0}},
    {"fal", "fal-ai/minimax", {"video", 0}},
    {"fal", "fal-ai/luma-dream-machine", {"video", 0}},
    {"fal", "fal-ai/wan", {"video", 0}},
    {"fal", "fal-ai/bytedance/seedance", {"video", 0}},
    {"replicate", "black-forest-labs/flux", {"image", 0}},
    {"replicate", "ideogram-ai/", {"image", 0}},
    {"replicate", "recraft-ai/", {"image", 0}},
    {"replicate", "kwaivgi/kling", {"video", 0}},
    {"replicate", "minimax/video", {"video", 0}},
    {"replicate", "luma/", {"video", 0}},
    {"replicate", "wan-video/", {"video", 0}},
    {"replicate", "bytedance/seedance", {"video", 0}},
};

/// The object in `v` whose "url" is `url`, or nullptr.
const Json* FindByUrl(const Json& v, const std::string& url) {
  if (v.is_object()) {
    if (v.contains("url") && v["url"].is_string() && v["url"].get_ref<const std::string&>() == url) return &v;
    for (const auto& [key, child] : v.items())
      if (const Json* found = FindByUrl(child, url)) return found;
  } else if (v.is_array()) {
    for (const auto& child : v)
      if (const Json* found = FindByUrl(child, url)) return found;
  }
  return nullptr;
}

}  // namespace

const QueueModelInfo* FindQueueModel(const std::string& provider, const std::string& model) {
  std::string name = provider == "replicate" ? model.substr(0, model.find(':')) : model;
  for (const auto& row : kPriced)
    if (provider == row.provider && name == row.model) return &row.info;
  // Longest prefix wins: "fal-ai/kling-video/v2.1/standard/image-to-video" -> fal-ai/kling-video.
  const ModelRow* best = nullptr;
  size_t best_len = 0;
  for (const auto& row : kKinds) {
    std::string prefix = row.model;
    if (provider == row.provider && StartsWith(model, prefix) && prefix.size() > best_len) {
      best = &row;
      best_len = prefix.size();
    }
  }
  return best ? &best->info : nullptr;
}

std::vector<QueuePriceRow> QueuePriceTable() {
  std::vector<QueuePriceRow> rows;
  for (const auto& row : kPriced)
    rows.push_back({row.provider, row.model,
                    fmt::format("${:.3f} per {}", row.info.usd_per_unit,
                                row.info.unit == PriceUnit::kMegapixel ? "megapixel" : "image")});
  return rows;
}

double QueueTableCost(const QueueModelInfo& model, const Json& result, const std::vector<ResultFile>& files) {
  if (model.unit == PriceUnit::kNone || model.usd_per_unit <= 0) return -1;
  double units = 0;
  for (const auto& f : files) {
    if (f.kind != "image") continue;
    if (model.unit == PriceUnit::kImage) {
      units += 1;
      continue;
    }
    // Megapixels from the size the result reports; 1 MP when it reports none.
    const Json* image = FindByUrl(result, f.url);
    double mp = 1;
    if (image && image->contains("width") && image->contains("height") && (*image)["width"].is_number() &&
        (*image)["height"].is_number())
      mp = std::max(1.0, std::ceil((*image)["width"].get<double>() * (*image)["height"].get<double>() / (1 << 20)));
    units += mp;
  }
  return units * model.usd_per_unit;
}

}  // namespace comfyrun
