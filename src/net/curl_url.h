#pragma once
// RAII for libcurl's URL parser (CURLU), shared by the HTTP loop and the WebSocket client:
// both split URLs into parts (origin checks, redirects, handshakes) the same way.
#include <curl/curl.h>

#include <string>

namespace comfyrun {

struct CurlUrl {
  CURLU* u = curl_url();
  CurlUrl() = default;
  CurlUrl(const CurlUrl&) = delete;
  CurlUrl& operator=(const CurlUrl&) = delete;
  ~CurlUrl() { curl_url_cleanup(u); }
  /// One part of the URL, or "" when it has none.
  std::string Get(CURLUPart part, unsigned flags = 0) const {
    char* out = nullptr;
    if (curl_url_get(u, part, &out, flags) != CURLUE_OK) return "";
    std::string s(out);
    curl_free(out);
    return s;
  }
};

}  // namespace comfyrun
