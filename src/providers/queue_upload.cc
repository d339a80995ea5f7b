#include "comfyrun/providers/queue_upload.h"

#include <fmt/format.h>

#include <filesystem>

#include "comfyrun/core/util.h"
#include "comfyrun/providers/provider.h"
#include "comfyrun/providers/provider_util.h"

namespace comfyrun {

HttpRequest UploadStartRequest(UploadStyle style, const Config& config, const LocalUpload& file) {
  HttpRequest r;
  r.method = "POST";
  std::string name = std::filesystem::path(file.path).filename().string();
  std::string type = file.content_type.empty() ? "application/octet-stream" : file.content_type;
  if (style == UploadStyle::kFalStorage) {
    // storage_type as fal-js sends it (its default CDN for uploads).
    r.url = ProviderUrl(config, "FAL_STORAGE_URL") + "/storage/upload/initiate?storage_type=fal-cdn-v3";
    r.body = Json{{"content_type", type}, {"file_name", name}}.dump();
    r.headers.push_back({"Content-Type", "application/json"});
    r.timeout = 60;
    r.stall_timeout = 30;
  } else {
    r.url = ProviderBaseUrl(config, "replicate") + "/v1/files";
    MultipartPart part;
    part.name = "content";
    part.file_path = file.path;  // libcurl streams it from disk
    part.filename = name;
    part.content_type = type;
    r.multipart.push_back(std::move(part));
    // A large file at a slow uplink: the whole transfer may take long; a stall still ends it.
    r.timeout = 3600;
    r.stall_timeout = 60;
  }
  return r;
}

bool ParseUploadStart(UploadStyle style, const std::string& body, std::string* file_url, std::string* put_url,
                      std::string* err) {
  auto json = ParseJsonBody(body);
  if (!json || !json->is_object()) {
    *err = "the reply is not a JSON object";
    return false;
  }
  put_url->clear();
  if (style == UploadStyle::kFalStorage) {
    *file_url = JsonStringField(*json, "file_url");
    *put_url = JsonStringField(*json, "upload_url");
    if (file_url->empty() || put_url->empty()) {
      *err = "the reply has no file_url or upload_url";
      return false;
    }
    return true;
  }
  const Json& urls = json->contains("urls") && (*json)["urls"].is_object() ? (*json)["urls"] : Json::object();
  *file_url = JsonStringField(urls, "get");
  if (file_url->empty()) {
    *err = "the file object has no urls.get";
    return false;
  }
  return true;
}

HttpRequest UploadPutRequest(const std::string& put_url, const LocalUpload& file, std::string bytes) {
  HttpRequest r;
  r.method = "PUT";
  r.url = put_url;
  r.body = std::move(bytes);
  r.headers.push_back({"Content-Type", file.content_type.empty() ? "application/octet-stream" : file.content_type});
  r.timeout = 3600;
  r.stall_timeout = 60;
  return r;
}

}  // namespace comfyrun
