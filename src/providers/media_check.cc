// CheckImageFile / CheckVideoFile (declared in providers/provider_util.h): the validation a
// generated file passes before a generation node completes. The decoding is libav's, so it
// lives in the media module (src/media/check.cc); these load the module on first use and
// forward. When the module cannot load, the check fails with the loader's message (which
// file, how to fix it).
#include "comfyrun/media/module.h"
#include "comfyrun/providers/provider_util.h"

namespace comfyrun {

bool CheckImageFile(const std::string& path, int* width, int* height, std::string* err) {
  const media::Module* module = media::LoadModule(err);
  return module && module->check_image_file(path, width, height, err);
}

bool CheckVideoFile(const std::string& path, double* duration, std::string* err) {
  const media::Module* module = media::LoadModule(err);
  return module && module->check_video_file(path, duration, err);
}

}  // namespace comfyrun
