#pragma once
// The boundary between the comfyrun executable and its media module (comfyrun_media.so).
//
// Why a module: libavcodec/libavformat/libavfilter pull in ~150 shared libraries whose
// loading and symbol binding cost every process ~60 ms, also `status`, `validate` and shell
// completion that never touch media. So everything that uses libav (src/media/) is built as
// a shared module that the executable dlopen()s the first time a media operation runs: a
// video_stitch or media_probe node, --offline placeholder rendering, the validation of a
// downloaded image or video (providers/provider_util.h CheckImageFile / CheckVideoFile).
// `validate`, `plan`, `status`, ... never load it.
//
// The module exports one extern "C" function, comfyrun_media_module(), returning a table of
// entry points. The table passes C++ types (std::string, Json, NodeContext, NodeResult) by
// reference, which is only sound when the module and the executable come from the same
// build; the header (abi, version, layout) is checked on load so that a stale module from
// another build is refused with a message instead of crashing.
//
// Finding the module: $COMFYRUN_MEDIA_MODULE when set, else comfyrun_media.so in the folder
// of the running executable (/proc/self/exe), else in ../lib/<multiarch>/comfyrun from it
// (the installed layout; media/module_lookup.h). A binary that links the media code itself (the
// unit tests) registers the built-in table with UseBuiltinModule() and never dlopens.
#include <cstdint>
#include <string>
#include <string_view>

#include "comfyrun/engine/node_kind.h"
#include "comfyrun/media/thumbnail.h"

namespace comfyrun::media {

/// Bump when the meaning or order of Module's fields changes.
inline constexpr uint32_t kModuleAbi = 1;
/// The file looked for next to the executable.
inline constexpr const char* kModuleFileName = "comfyrun_media.so";
/// The environment variable that overrides where the module is.
inline constexpr const char* kModuleEnv = "COMFYRUN_MEDIA_MODULE";
/// The symbol the module exports (see comfyrun_media_module below).
inline constexpr const char* kModuleEntrySymbol = "comfyrun_media_module";

/// Sizes of the types that cross the boundary: a cheap guard against a module built from
/// other sources (a NodeContext with one more field) that an unchanged abi would not catch.
struct ModuleLayout {
  uint32_t module = 0, node_context = 0, node_result = 0, json = 0, string = 0;
  friend bool operator==(const ModuleLayout&, const ModuleLayout&) = default;
};

struct Module {
  // Header: checked before anything below is used. Never reorder.
  uint32_t abi = 0;          ///< kModuleAbi of the module's build
  const char* version = "";  ///< COMFYRUN_VERSION of the module's build
  ModuleLayout layout;       ///< CurrentLayout() of the module's build

  // Entry points, none null. They never throw.
  /// The video_stitch and media_probe node bodies (media/media_nodes.h).
  NodeResult (*run_video_stitch)(NodeContext& ctx) = nullptr;
  NodeResult (*run_media_probe)(NodeContext& ctx) = nullptr;
  /// media/render.h RenderOfflineImage / RenderOfflineVideo.
  bool (*render_offline_image)(const std::string& prompt, const std::string& aspect_ratio,
                               const std::string& output_png, std::string* err) = nullptr;
  bool (*render_offline_video)(const std::string& prompt, double seconds, const std::string& aspect_ratio,
                               const std::string& resolution, const std::string& first_frame_image,
                               const std::string& output_mp4, std::string* err) = nullptr;
  /// media/check.h CheckImageFile / CheckVideoFile (the validation of generated files).
  bool (*check_image_file)(const std::string& path, int* width, int* height, std::string* err) = nullptr;
  bool (*check_video_file)(const std::string& path, double* duration, std::string* err) = nullptr;
  /// media/thumbnail.h MakeThumbnail (the pictures of `comfyrun report`'s gallery).
  bool (*make_thumbnail)(const std::string& path, int max_width, Thumbnail* out, std::string* err) = nullptr;
};

/// This build's layout; inline, so the executable and the module each compile their own.
inline ModuleLayout CurrentLayout() {
  return {sizeof(Module), sizeof(NodeContext), sizeof(NodeResult), sizeof(Json), sizeof(std::string)};
}

/// The media module, loaded on the first call (thread-safe; later calls return the same
/// result, success or failure). Null with *err saying which file was looked for, why it did
/// not load and how to fix it.
const Module* LoadModule(std::string* err);

/// Where LoadModule looks: $COMFYRUN_MEDIA_MODULE, else the first of media/module_lookup.h's
/// ModuleSearchPath that exists (else kModuleFileName beside the executable, for the error).
std::string ModulePath();

/// Loads the module at `path` now, without caching (LoadModule's worker; tests). A module
/// that loads is never unloaded. Null with *err.
const Module* LoadModuleFrom(const std::string& path, std::string* err);

/// Checks a table's header against this build; false with *err naming `where`.
bool CheckModule(const Module& module, const std::string& where, std::string* err);

/// True for the node types whose attempts use the module: video_stitch, media_probe, and the
/// generation types (offline rendering; validation of a downloaded image or video). A run
/// with one can call LoadModule before it starts, so that a missing module stops it with
/// nothing spent instead of failing the check of an image that was already paid for.
bool NodeTypeNeedsModule(std::string_view type);

/// For binaries that link src/media/ directly (comfyrun_tests): LoadModule returns `module`
/// from now on instead of loading a file. Call before the first LoadModule.
void UseBuiltinModule(const Module* module);

}  // namespace comfyrun::media

/// Defined in src/media/module.cc (the module, or a binary linking the media code): the
/// entry table. The only symbol comfyrun_media.so exports.
extern "C" const comfyrun::media::Module* comfyrun_media_module();
