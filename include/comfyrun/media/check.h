#pragma once
// Validation of generated media inside the media module (src/media/check.cc). The executable
// calls these through the module table: providers/provider_util.h CheckImageFile and
// CheckVideoFile load the module and forward here.
#include <string>

namespace comfyrun::media {

/// True when the first picture of `path` decodes; its size goes to *width, *height.
bool CheckImageFile(const std::string& path, int* width, int* height, std::string* err);

/// True when `path` is a video whose first frame decodes and whose packets reach (within a
/// second) the duration in its header; the duration goes to *duration.
bool CheckVideoFile(const std::string& path, double* duration, std::string* err);

}  // namespace comfyrun::media
