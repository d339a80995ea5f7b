#include "http_rules.h"

#include <algorithm>
#include <cctype>
#include <ctime>

#include "comfyrun/net/http_loop.h"
#include "curl_url.h"

namespace comfyrun {
namespace http_rules {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string TrimView(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

bool ContainsIgnoreCase(const std::vector<std::string>& names, std::string_view name) {
  std::string n = Lower(name);
  return std::any_of(names.begin(), names.end(), [&](const std::string& s) { return Lower(s) == n; });
}

bool GetOrigin(const std::string& url, Origin* origin) {
  CurlUrl h;
  if (curl_url_set(h.u, CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return false;
  origin->scheme = Lower(h.Get(CURLUPART_SCHEME));
  origin->host = Lower(h.Get(CURLUPART_HOST));
  origin->port = h.Get(CURLUPART_PORT, CURLU_DEFAULT_PORT);
  return true;
}

// `location` resolved against `base` (it may be relative); "" when either is malformed.
std::string ResolveUrl(const std::string& base, const std::string& location) {
  CurlUrl h;
  if (curl_url_set(h.u, CURLUPART_URL, base.c_str(), 0) != CURLUE_OK) return "";
  if (curl_url_set(h.u, CURLUPART_URL, location.c_str(), 0) != CURLUE_OK) return "";
  return h.Get(CURLUPART_URL);
}

// `url` without the named query parameters (names compared after percent-decoding).
std::string RemoveQueryParams(const std::string& url, const std::vector<std::string>& names) {
  if (names.empty()) return url;
  CurlUrl h;
  if (curl_url_set(h.u, CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return url;
  std::string query = h.Get(CURLUPART_QUERY);
  if (query.empty()) return url;
  std::string kept;
  size_t start = 0;
  while (start <= query.size()) {
    size_t amp = query.find('&', start);
    if (amp == std::string::npos) amp = query.size();
    std::string pair = query.substr(start, amp - start);
    start = amp + 1;
    std::string key = pair.substr(0, pair.find('='));
    int len = 0;
    char* decoded = curl_easy_unescape(nullptr, key.c_str(), static_cast<int>(key.size()), &len);
    std::string name = decoded ? std::string(decoded, static_cast<size_t>(len)) : key;
    curl_free(decoded);
    if (pair.empty() || std::find(names.begin(), names.end(), name) != names.end()) continue;
    if (!kept.empty()) kept += '&';
    kept += pair;
  }
  curl_url_set(h.u, CURLUPART_QUERY, kept.empty() ? nullptr : kept.c_str(), 0);
  return h.Get(CURLUPART_URL);
}

bool IsRedirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

ErrorType MapCurlError(CURLcode rc) {
  switch (rc) {
    case CURLE_OK:
      return ErrorType::kNone;
    case CURLE_OPERATION_TIMEDOUT:
      return ErrorType::kTimeout;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return ErrorType::kInvalidInput;
    case CURLE_WRITE_ERROR:
    case CURLE_READ_ERROR:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FAILED_INIT:
      return ErrorType::kInternal;
    default:
      // Refused, reset, DNS, TLS handshake, empty or truncated reply: the far side may be
      // back later.
      return ErrorType::kUnavailable;
  }
}

}  // namespace http_rules

using namespace http_rules;  // NOLINT(google-build-using-namespace): this module's own helpers

ErrorType ClassifyHttpError(const HttpResponse& response) {
  if (response.transport_error != ErrorType::kNone) return response.transport_error;
  int s = response.status;
  if (s >= 200 && s < 300) return ErrorType::kNone;
  if (s == 401 || s == 403) return ErrorType::kAuth;
  if (s == 429) return ErrorType::kRateLimited;
  if (s == 408 || (s >= 500 && s < 600)) return ErrorType::kUnavailable;
  if (s >= 300 && s < 500) return ErrorType::kInvalidInput;
  return ErrorType::kUnavailable;  // 0, 1xx or nonsense: no usable reply
}

double ParseRetryAfter(std::string_view value, int64_t now_unix) {
  std::string v = TrimView(value);
  if (v.empty()) return -1;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (v.size() > 9) return -1;  // absurd; also keeps stod exact
    return std::stod(v);
  }
  time_t when = curl_getdate(v.c_str(), nullptr);
  if (when == -1) return -1;
  return std::max<double>(0, static_cast<double>(when - now_unix));
}

}  // namespace comfyrun
