#pragma once
// Helpers shared by the provider clients: base64, MIME types, URL origins, typed errors from
// Gemini and OpenAI error bodies, and the checks a downloaded file passes before a node
// completes (decodes as an image; or as a video of the requested duration).
#include <optional>
#include <string>
#include <string_view>

#include "comfyrun/core/json.h"
#include "comfyrun/engine/node_result.h"
#include "comfyrun/net/http_loop.h"

namespace comfyrun {

std::string Base64Encode(std::string_view bytes);
/// Decodes standard or URL-safe base64, ignoring whitespace; nullopt on a bad character.
std::optional<std::string> Base64Decode(std::string_view text);

/// "image/png", "image/jpeg", "image/webp", "video/mp4" from the first bytes, else from the
/// file extension; "application/octet-stream" when neither tells.
std::string GuessMimeType(const std::string& path, std::string_view head);
/// File extension (with the dot) for an image MIME type: ".png" (default), ".jpg", ".webp".
std::string ImageExtensionFor(const std::string& mime_type);

/// "scheme://host:port" in lower case with the default port filled in ("" when unparsable).
/// Two URLs may share credentials only when their origins are equal.
std::string UrlOrigin(const std::string& url);
/// The URL without a trailing '/'.
std::string TrimTrailingSlash(std::string url);

/// Parses "53s", "1.5s", "250ms" or a bare number of seconds (google.protobuf.Duration and
/// Retry-After style). nullopt when unparsable.
std::optional<double> ParseDelaySeconds(const std::string& text);
/// A node's `pollInterval` input (seconds or a duration string) into *interval, else
/// COMFYRUN_POLL_INTERVAL when set (tests against local fakes); *interval is left alone when
/// neither is given. False with *err on a bad value.
bool ReadPollInterval(const Json& inputs, double* interval, std::string* err);

/// The failure a Gemini API reply maps to (PROVIDERS.md §1 Errors). `what` names the call for
/// the message ("generateContent gemini-3.1-flash-image"). Transport errors keep their type;
/// 400 API_KEY_INVALID, 401 and 403 -> Auth (naming GEMINI_API_KEY); 404 -> InvalidInput
/// naming `model`; 429 -> RateLimited with retry_after from RetryInfo.retryDelay (else the
/// Retry-After header); 504 -> Timeout; 408/5xx -> Unavailable; other 4xx -> InvalidInput.
/// The provider's status and reason go to details.
NodeResult GeminiHttpFailure(const HttpResponse& response, const std::string& what, const std::string& model);

/// The failure an OpenAI videos API reply maps to (PROVIDERS.md §3): 401/403 -> Auth (naming
/// OPENAI_API_KEY), 429 -> RateLimited with Retry-After / retry-after-ms (insufficient_quota
/// -> Auth), 404 -> InvalidInput, 408/409/5xx -> Unavailable, other 4xx -> InvalidInput.
NodeResult OpenAiHttpFailure(const HttpResponse& response, const std::string& what);

/// The failure for a google.rpc.Status {code, message} found in a finished operation.
NodeResult RpcStatusFailure(const Json& status, const std::string& what);

/// Parses JSON without throwing; nullopt when the text is not JSON.
std::optional<Json> ParseJsonBody(const std::string& text);
/// obj[key] when obj is an object and that value is a string, else "". Replies are read with
/// this rather than Json::value(), which throws when the provider sends another type.
std::string JsonStringField(const Json& obj, const char* key);

/// Checks that `path` is a non-empty image that decodes (one frame). Fills width/height.
bool CheckImageFile(const std::string& path, int* width, int* height, std::string* err);

/// Checks that `path` is a non-empty video whose packets reach its stated duration and whose
/// first frame decodes. Fills *duration (seconds). Does not compare against a request.
bool CheckVideoFile(const std::string& path, double* duration, std::string* err);

/// Video generation settings read from a node's resolved inputs.
struct VideoRequest {
  std::string prompt;
  int seconds = 8;
  std::string aspect_ratio = "16:9";
  std::string resolution = "720p";
  std::string size;        ///< Sora WIDTHxHEIGHT; "" = derived
  std::string image_path;  ///< first frame / reference image; "" = none
  std::string negative_prompt;
  double poll_interval = -1;  ///< seconds; < 0 = provider default
};

/// Reads a VideoRequest from resolved inputs (prompt, duration, aspectRatio, resolution,
/// size, characterImagePath/imagePath, negativePrompt, pollInterval). False with *err (an
/// InvalidInput message) on a bad value or a missing image file.
bool ParseVideoRequest(const Json& inputs, VideoRequest* request, std::string* err);

/// Sora's size for a request: the size input, else 1280x720 / 720x1280 by aspect ratio, or
/// 1792x1024 / 1024x1792 for resolution 1080p (sora-2-pro's larger sizes).
std::string SoraSize(const VideoRequest& request);

}  // namespace comfyrun
