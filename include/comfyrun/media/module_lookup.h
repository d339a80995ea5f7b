#pragma once
// Where the media module (module.h) is looked for, and what `comfyrun doctor` reports about
// it once loaded. Implemented in src/media_loader/loader.cc.
//
// Lookup order (docs/media.md):
//   1. $COMFYRUN_MEDIA_MODULE, when set and not empty;
//   2. comfyrun_media.so beside the running executable (/proc/self/exe): the build tree, or a
//      binary copied together with its module;
//   3. <exe dir>/../lib/<multiarch>/comfyrun/comfyrun_media.so: where `cmake --install` and
//      the .deb put it (kModuleInstallDir, fixed at configure time from GNUInstallDirs).
// The first of 2 and 3 that exists is loaded; when neither does, the error names 2.
#include <string>
#include <vector>

namespace comfyrun::media {

/// Places 2 and 3 above for an executable at `exe_path`, in order.
std::vector<std::string> ModuleSearchPath(const std::string& exe_path);

/// One libav library in the process, as `comfyrun doctor` shows it.
struct LibavVersion {
  std::string library;  ///< "libavcodec", ...; "ffmpeg" for av_version_info() (the release)
  std::string version;  ///< "59.37.100", or the release string for "ffmpeg"
  std::string file;     ///< the loaded file's name: "libavcodec.so.59"
};

/// The libav libraries loaded in this process (after LoadModule succeeded), in a fixed
/// order: libavutil, the release string, libavcodec, libavformat, libavfilter, libswscale,
/// libswresample. Empty when none is loaded (the unit tests link libav directly and find
/// them too).
std::vector<LibavVersion> LoadedLibavVersions();

/// "MAJOR.MINOR.MICRO" of an AV_VERSION_INT value.
std::string FormatLibavVersion(unsigned version);

}  // namespace comfyrun::media
