#include "comfyrun/providers/provider_util.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <filesystem>

#include "comfyrun/core/config.h"
#include "comfyrun/core/util.h"
#include "comfyrun/providers/provider.h"

namespace comfyrun {
namespace {

constexpr char kBase64Chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string Cut(const std::string& s, size_t n = 300) { return s.size() <= n ? s : s.substr(0, n) + "..."; }

/// Reads {"error": {...}} from a reply body; an empty object when there is none.
Json ErrorObject(const HttpResponse& r) {
  auto body = ParseJsonBody(r.body);
  if (body && body->is_object() && body->contains("error") && (*body)["error"].is_object()) return (*body)["error"];
  return Json::object();
}

std::string Str(const Json& obj, const char* key) {
  if (obj.is_object() && obj.contains(key) && obj[key].is_string()) return obj[key].get<std::string>();
  return "";
}

NodeResult TransportFailure(const HttpResponse& r, const std::string& what) {
  NodeResult res = NodeResult::Failure(r.transport_error,
                                       fmt::format("{}: {}", what, r.error.empty() ? "transfer failed" : r.error));
  return res;
}

}  // namespace

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kBase64Chars[(v >> 18) & 63];
    out += kBase64Chars[(v >> 12) & 63];
    out += kBase64Chars[(v >> 6) & 63];
    out += kBase64Chars[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += kBase64Chars[(v >> 18) & 63];
    out += kBase64Chars[(v >> 12) & 63];
    out += i + 1 < in.size() ? kBase64Chars[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view in) {
  static const auto table = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    for (int i = 0; i < 64; ++i) t[uint8_t(kBase64Chars[i])] = int8_t(i);
    t[uint8_t('-')] = 62;  // URL-safe alphabet
    t[uint8_t('_')] = 63;
    return t;
  }();
  std::string out;
  out.reserve(in.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
    int8_t v = table[uint8_t(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xFF);
    }
  }
  return out;
}

std::string GuessMimeType(const std::string& path, std::string_view head) {
  if (head.size() >= 8 && head.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) return "image/png";
  if (head.size() >= 3 && uint8_t(head[0]) == 0xFF && uint8_t(head[1]) == 0xD8 && uint8_t(head[2]) == 0xFF)
    return "image/jpeg";
  if (head.size() >= 12 && head.substr(0, 4) == "RIFF" && head.substr(8, 4) == "WEBP") return "image/webp";
  if (head.size() >= 8 && head.substr(4, 4) == "ftyp") return "video/mp4";
  std::string ext = Lower(std::filesystem::path(path).extension().string());
  if (ext == ".png") return "image/png";
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".webp") return "image/webp";
  if (ext == ".mp4") return "video/mp4";
  return "application/octet-stream";
}

std::string ImageExtensionFor(const std::string& mime_type) {
  std::string m = Lower(mime_type);
  if (m == "image/jpeg" || m == "image/jpg") return ".jpg";
  if (m == "image/webp") return ".webp";
  return ".png";
}

std::string UrlOrigin(const std::string& url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return "";
  std::string scheme = Lower(url.substr(0, scheme_end));
  size_t start = scheme_end + 3;
  size_t end = url.find_first_of("/?#", start);
  std::string authority = Lower(url.substr(start, end == std::string::npos ? std::string::npos : end - start));
  if (size_t at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    has_port = authority.find("]:") != std::string::npos;
  } else {
    has_port = authority.find(':') != std::string::npos;
  }
  if (!has_port) authority += scheme == "https" ? ":443" : ":80";
  return scheme + "://" + authority;
}

std::string TrimTrailingSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::optional<double> ParseDelaySeconds(const std::string& text) {
  std::string t = Trim(text);
  if (t.empty()) return std::nullopt;
  std::string err;
  auto seconds = ParseDuration(t, &err);
  if (!seconds || *seconds < 0 || !std::isfinite(*seconds)) return std::nullopt;
  return seconds;
}

std::string JsonStringField(const Json& obj, const char* key) { return Str(obj, key); }

std::optional<Json> ParseJsonBody(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

NodeResult GeminiHttpFailure(const HttpResponse& r, const std::string& what, const std::string& model) {
  if (r.transport_error != ErrorType::kNone) return TransportFailure(r, what);
  Json err = ErrorObject(r);
  std::string status = Str(err, "status");
  std::string message = Cut(Str(err, "message"));
  std::string reason;
  double retry_delay = -1;
  if (err.contains("details") && err["details"].is_array()) {
    for (const Json& d : err["details"]) {
      std::string type = Str(d, "@type");
      if (EndsWith(type, "google.rpc.ErrorInfo")) reason = Str(d, "reason");
      if (EndsWith(type, "google.rpc.RetryInfo")) {
        if (auto delay = ParseDelaySeconds(Str(d, "retryDelay"))) retry_delay = *delay;
      }
    }
  }
  std::string said =
      fmt::format("HTTP {}{}{}", r.status, status.empty() ? "" : " " + status, message.empty() ? "" : ": " + message);
  NodeResult res;
  res.details = {{"httpStatus", r.status}};
  if (!status.empty()) res.details["status"] = status;
  if (!reason.empty()) res.details["reason"] = reason;
  std::string key_var = ProviderKeyVariable("gemini");
  if ((r.status == 400 && (reason == "API_KEY_INVALID" || message.find("API key not valid") != std::string::npos)) ||
      r.status == 401) {
    res.error = ErrorType::kAuth;
    res.message = fmt::format("{}: the Gemini API rejected the API key ({}); set {} to a valid key", what,
                              reason.empty() ? said : reason, key_var);
  } else if (r.status == 403) {
    res.error = ErrorType::kAuth;
    res.message =
        fmt::format("{}: the Gemini API refused access ({}); check {} and the project's billing", what, said, key_var);
  } else if (r.status == 404) {
    res.error = ErrorType::kInvalidInput;
    res.message = fmt::format(
        "{}: model {} is not available ({}); check the model name (`comfyrun models`); "
        "Veo needs a paid key",
        what, Quote(model), said);
  } else if (r.status == 429) {
    res.error = ErrorType::kRateLimited;
    res.retry_after = retry_delay >= 0 ? retry_delay : r.retry_after;
    res.message = fmt::format("{}: rate limited ({})", what, said);
  } else if (r.status == 504) {
    res.error = ErrorType::kTimeout;
    res.message = fmt::format("{}: {}", what, said);
  } else if (r.status == 408 || r.status >= 500 || r.status == 0) {
    res.error = ErrorType::kUnavailable;
    res.retry_after = r.retry_after;
    res.message = fmt::format("{}: {}", what, said);
  } else {
    res.error = ErrorType::kInvalidInput;
    res.message = fmt::format("{}: the request was refused ({})", what, said);
  }
  return res;
}

NodeResult OpenAiHttpFailure(const HttpResponse& r, const std::string& what) {
  if (r.transport_error != ErrorType::kNone) return TransportFailure(r, what);
  Json err = ErrorObject(r);
  std::string message = Cut(Str(err, "message"));
  std::string code = Str(err, "code");
  std::string type = Str(err, "type");
  std::string param = Str(err, "param");
  std::string said = fmt::format("HTTP {}{}{}{}", r.status, code.empty() ? "" : " " + code,
                                 param.empty() ? "" : " for " + param, message.empty() ? "" : ": " + message);
  NodeResult res;
  res.details = {{"httpStatus", r.status}};
  if (!code.empty()) res.details["code"] = code;
  if (!type.empty()) res.details["type"] = type;
  if (!param.empty()) res.details["param"] = param;
  std::string key_var = ProviderKeyVariable("sora");
  double retry_after = r.retry_after;
  if (auto it = r.headers.find("retry-after-ms"); it != r.headers.end()) {
    if (auto ms = ParseDelaySeconds(it->second)) retry_after = *ms / 1000.0;
  }
  if (r.status == 401) {
    res.error = ErrorType::kAuth;
    res.message = fmt::format("{}: the API rejected the key ({}); set {} to a valid key", what, said, key_var);
  } else if (r.status == 403) {
    res.error = ErrorType::kAuth;
    res.message = fmt::format("{}: access refused ({}); check {} and that the organization may use this model", what,
                              said, key_var);
  } else if (r.status == 429 && code == "insufficient_quota") {
    res.error = ErrorType::kAuth;
    res.message = fmt::format("{}: the account has no quota left ({}); check billing for {}", what, said, key_var);
  } else if (r.status == 429) {
    res.error = ErrorType::kRateLimited;
    res.retry_after = retry_after;
    res.message = fmt::format("{}: rate limited ({})", what, said);
  } else if (r.status == 408 || r.status == 409 || r.status >= 500 || r.status == 0) {
    res.error = ErrorType::kUnavailable;
    res.retry_after = retry_after;
    res.message = fmt::format("{}: {}", what, said);
  } else {
    res.error = ErrorType::kInvalidInput;
    res.message = fmt::format("{}: the request was refused ({})", what, said);
  }
  return res;
}

NodeResult RpcStatusFailure(const Json& status, const std::string& what) {
  int code = status.is_object() && status.contains("code") && status["code"].is_number_integer()
                 ? status["code"].get<int>()
                 : 2;
  std::string message = Cut(Str(status, "message"));
  NodeResult res;
  res.details = {{"rpcCode", code}};
  std::string lower = Lower(message);
  bool blocked = lower.find("safety") != std::string::npos || lower.find("blocked") != std::string::npos ||
                 lower.find("policy") != std::string::npos || lower.find("filtered") != std::string::npos;
  // google.rpc.Code numbers; some services put the HTTP status there instead.
  switch (code) {
    case 3:
    case 400:
    case 9:
    case 11:
    case 404:
    case 5:
      res.error = blocked ? ErrorType::kContentBlocked : ErrorType::kInvalidInput;
      break;
    case 7:
    case 16:
    case 401:
    case 403:
      res.error = ErrorType::kAuth;
      break;
    case 8:
    case 429:
      res.error = ErrorType::kRateLimited;
      break;
    case 4:
    case 504:
      res.error = ErrorType::kTimeout;
      break;
    case 13:
    case 14:
    case 10:
    case 500:
    case 503:
      res.error = ErrorType::kUnavailable;
      break;
    default:
      res.error = blocked ? ErrorType::kContentBlocked : ErrorType::kExecution;
  }
  res.message = fmt::format("{}: the job failed (code {}{})", what, code, message.empty() ? "" : ": " + message);
  return res;
}

bool ParseVideoRequest(const Json& in, VideoRequest* req, std::string* err) {
  auto str = [&](const char* key) -> std::string {
    return in.contains(key) && in[key].is_string() ? in[key].get<std::string>() : std::string();
  };
  req->prompt = str("prompt");
  if (Trim(req->prompt).empty()) {
    *err = "prompt is empty";
    return false;
  }
  if (in.contains("duration") && !in["duration"].is_null()) {
    if (!in["duration"].is_number()) {
      *err = "duration is a number of seconds";
      return false;
    }
    double d = in["duration"].get<double>();
    if (!(d >= 1 && d <= 60)) {
      *err = fmt::format("duration {} is outside 1..60 seconds", d);
      return false;
    }
    req->seconds = int(std::lround(d));
  }
  if (auto a = str("aspectRatio"); !a.empty()) req->aspect_ratio = a;
  if (auto r = str("resolution"); !r.empty()) req->resolution = r;
  req->size = str("size");
  req->negative_prompt = str("negativePrompt");
  req->image_path = str("characterImagePath");
  if (req->image_path.empty()) req->image_path = str("imagePath");
  if (!req->image_path.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(req->image_path, ec)) {
      *err = fmt::format("image {} does not exist", Quote(req->image_path));
      return false;
    }
  }
  return ReadPollInterval(in, &req->poll_interval, err);
}

bool ReadPollInterval(const Json& in, double* interval, std::string* err) {
  if (in.contains("pollInterval") && !in["pollInterval"].is_null()) {
    const Json& p = in["pollInterval"];
    std::optional<double> s;
    if (p.is_number())
      s = p.get<double>();
    else if (p.is_string())
      s = ParseDelaySeconds(p.get<std::string>());
    if (!s || *s < 0) {
      *err = "pollInterval is a duration such as 5 or \"5s\"";
      return false;
    }
    *interval = *s;
  } else if (std::string env = GetConfigValue("COMFYRUN_POLL_INTERVAL"); !env.empty()) {
    // A default for every node that does not set pollInterval (tests against local fakes).
    if (auto s = ParseDelaySeconds(env); s && *s >= 0) *interval = *s;
  }
  return true;
}

std::string SoraSize(const VideoRequest& r) {
  if (!r.size.empty()) return r.size;
  bool portrait = r.aspect_ratio == "9:16";
  bool large = r.resolution == "1080p" || Lower(r.resolution) == "4k";
  if (large) return portrait ? "1024x1792" : "1792x1024";
  return portrait ? "720x1280" : "1280x720";
}

}  // namespace comfyrun
