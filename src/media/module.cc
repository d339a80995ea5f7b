// The media module's entry table (media/module.h): the one symbol comfyrun_media.so exports.
// Everything else in the module is compiled with -fvisibility=hidden.
#include "comfyrun/media/module.h"

#include "comfyrun/media/check.h"
#include "comfyrun/media/media_nodes.h"
#include "comfyrun/media/render.h"
#include "comfyrun/media/thumbnail.h"

namespace comfyrun::media {
namespace {

const Module kModule{
    .abi = kModuleAbi,
    .version = COMFYRUN_VERSION,
    .layout = CurrentLayout(),
    .run_video_stitch = &RunVideoStitch,
    .run_media_probe = &RunMediaProbe,
    .render_offline_image = &RenderOfflineImage,
    .render_offline_video = &RenderOfflineVideo,
    .check_image_file = &CheckImageFile,
    .check_video_file = &CheckVideoFile,
    .make_thumbnail = &MakeThumbnail,
};

}  // namespace
}  // namespace comfyrun::media

extern "C" __attribute__((visibility("default"))) const comfyrun::media::Module* comfyrun_media_module() {
  return &comfyrun::media::kModule;
}
