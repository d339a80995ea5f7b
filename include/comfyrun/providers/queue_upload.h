#pragma once
// Uploads of a queue node's large local files to the provider's storage, the way the
// provider's own clients do it (files up to kMaxInlineFileBytes go inline as data: URIs
// instead, queue_files.cc):
//
//   fal        POST {FAL_STORAGE_URL}/storage/upload/initiate?storage_type=fal-cdn-v3
//              {"content_type", "file_name"}, Authorization: Key -> {upload_url, file_url};
//              then PUT upload_url with the bytes and the Content-Type (a presigned URL: no
//              Authorization). file_url goes in the input. (fal-js, libs/client/src/storage.ts;
//              FAL_STORAGE_URL defaults to https://rest.fal.ai, what the client uses.)
//   Replicate  POST {REPLICATE_BASE_URL}/v1/files, multipart/form-data with the file in part
//              `content` (file name and content type), Authorization: Bearer -> a file object
//              whose urls.get goes in the input. (replicate-python, replicate/file.py.)
//
// Memory: Replicate's multipart body streams from disk (libcurl reads the file); fal's PUT
// body is read off the loop thread into one buffer that the request then owns (moved, never
// copied): the file is held once, never twice.
#include <string>

#include "comfyrun/core/config.h"
#include "comfyrun/net/http_loop.h"
#include "comfyrun/providers/queue_job.h"

namespace comfyrun {

/// The first request of an upload, without credentials: the caller adds its Authorization.
HttpRequest UploadStartRequest(UploadStyle style, const Config& config, const LocalUpload& file);
/// Reads the first request's 2xx reply: *file_url is what goes in the input; *put_url is where
/// the bytes go next, "" when the file is uploaded already (Replicate). False with *err.
bool ParseUploadStart(UploadStyle style, const std::string& body, std::string* file_url, std::string* put_url,
                      std::string* err);
/// fal: the PUT of the bytes to the presigned URL; `bytes` is moved into the request.
HttpRequest UploadPutRequest(const std::string& put_url, const LocalUpload& file, std::string bytes);

}  // namespace comfyrun
