#include "comfyrun/providers/queue_reply.h"

#include <regex>

#include "comfyrun/core/util.h"
#include "comfyrun/providers/provider_util.h"

namespace comfyrun {

/// The provider's own words from an error body: fal and Replicate use `detail` (a string, or
/// a list of {msg} for validation errors); some replies use `error` or `title`.
std::string ProviderMessage(const std::string& body) {
  auto json = ParseJsonBody(body);
  if (!json || !json->is_object()) return Abbreviate(body, 300);
  const Json& j = *json;
  if (j.contains("detail")) {
    const Json& d = j["detail"];
    if (d.is_string()) return d.get<std::string>();
    if (d.is_array()) {
      std::string out;
      for (const auto& e : d) {
        std::string msg = e.is_object() ? JsonStringField(e, "msg") : e.is_string() ? e.get<std::string>() : "";
        if (msg.empty()) continue;
        if (!out.empty()) out += "; ";
        if (e.is_object() && e.contains("loc") && e["loc"].is_array()) {
          std::string loc;
          for (const auto& l : e["loc"])
            loc += (loc.empty() ? "" : ".") + (l.is_string() ? l.get<std::string>() : l.dump());
          out += loc + ": ";
        }
        out += msg;
      }
      if (!out.empty()) return out;
    }
  }
  for (const char* key : {"error", "title", "message"}) {
    std::string s = JsonStringField(j, key);
    if (!s.empty()) return s;
  }
  return Abbreviate(body, 300);
}

/// Retry-After, else Replicate's "Your rate limit resets in ~30s." in the body; -1 if neither.
double RetryAfterOf(const HttpResponse& resp) {
  if (resp.retry_after >= 0) return resp.retry_after;
  static const std::regex kResets(R"(resets in ~?(\d+(?:\.\d+)?)\s*s)");
  std::smatch m;
  if (std::regex_search(resp.body, m, kResets)) return std::stod(m[1]);
  return -1;
}

}  // namespace comfyrun
