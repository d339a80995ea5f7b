#pragma once
// Rules of HTTP that the loop applies and that need no transfer: which redirects to follow and
// where to (origins decide whether secret headers go along), query parameters that must not
// travel, and how a curl error maps to an ErrorType. Private to src/net.
#include <curl/curl.h>

#include <string>
#include <string_view>
#include <vector>

#include "comfyrun/core/error_type.h"

namespace comfyrun::http_rules {

std::string Lower(std::string_view s);
/// `s` without leading and trailing white space.
std::string TrimView(std::string_view s);
bool ContainsIgnoreCase(const std::vector<std::string>& names, std::string_view name);

/// Scheme, host and port of a URL (lower case; the port filled in from the scheme).
struct Origin {
  std::string scheme, host, port;
  bool operator==(const Origin& o) const { return scheme == o.scheme && host == o.host && port == o.port; }
};
/// False when `url` does not parse.
bool GetOrigin(const std::string& url, Origin* origin);
/// `location` resolved against `base` (it may be relative); "" when either is malformed.
std::string ResolveUrl(const std::string& base, const std::string& location);
/// `url` without the named query parameters (names compared after percent-decoding).
std::string RemoveQueryParams(const std::string& url, const std::vector<std::string>& names);
bool IsRedirect(long status);
ErrorType MapCurlError(CURLcode rc);

}  // namespace comfyrun::http_rules
