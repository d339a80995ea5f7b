// Finds, loads and checks the media module (comfyrun/media/module.h). This is the only place
// that calls dlopen; the rest of the executable asks LoadModule() for the entry table.
#include <dlfcn.h>
#include <fmt/format.h>
#include <link.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "comfyrun/media/module.h"
#include "comfyrun/media/module_lookup.h"
#include "comfyrun_build_info.h"

namespace comfyrun::media {
namespace {

std::atomic<const Module*> g_builtin{nullptr};

/// Where `cmake --install` puts the module, relative to the binary's folder (module_lookup.h).
constexpr const char* kModuleInstallDir = COMFYRUN_MODULE_RELDIR;

/// How to fix a module that does not load; appended to every load error.
std::string HowToFix(bool from_env) {
  if (from_env)
    return fmt::format(
        "{} points at it: set it to the {} built with this comfyrun, or unset it to use the one "
        "next to the comfyrun binary",
        kModuleEnv, kModuleFileName);
  return fmt::format(
      "{} is built together with comfyrun (ninja target comfyrun_media): keep it next to the "
      "comfyrun binary (or in {}/ relative to it, where `cmake --install` puts it), or set {} to "
      "its path",
      kModuleFileName, kModuleInstallDir, kModuleEnv);
}

bool FromEnv() {
  const char* env = std::getenv(kModuleEnv);
  return env && *env;
}

struct Loaded {
  const Module* module = nullptr;
  std::string error;
};

Loaded LoadOnce() {
  Loaded l;
  std::string path = ModulePath();
  l.module = LoadModuleFrom(path, &l.error);
  if (!l.module) l.error += "; " + HowToFix(FromEnv());
  return l;
}

}  // namespace

std::vector<std::string> ModuleSearchPath(const std::string& exe_path) {
  std::filesystem::path dir = std::filesystem::path(exe_path).parent_path();
  return {(dir / kModuleFileName).string(), (dir / kModuleInstallDir / kModuleFileName).lexically_normal().string()};
}

std::string ModulePath() {
  if (FromEnv()) return std::getenv(kModuleEnv);
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return kModuleFileName;  // no /proc: let dlopen search its usual path
  buf[n] = '\0';
  // The first place that has the file; when none has it, the first place, which the error
  // then names (a build tree or a copied binary keeps the module beside it).
  std::vector<std::string> places = ModuleSearchPath(buf);
  std::error_code ec;
  for (const auto& place : places)
    if (std::filesystem::exists(place, ec)) return place;
  return places.front();
}

bool CheckModule(const Module& m, const std::string& where, std::string* err) {
  if (m.abi != kModuleAbi) {
    *err = fmt::format("media module {} has interface version {}, this comfyrun needs {} (it comes from another build)",
                       where, m.abi, kModuleAbi);
    return false;
  }
  std::string version = m.version ? m.version : "";
  if (version != COMFYRUN_VERSION || !(m.layout == CurrentLayout())) {
    *err = fmt::format("media module {} comes from another build (comfyrun {}, this is {})", where,
                       version.empty() ? "?" : version, COMFYRUN_VERSION);
    return false;
  }
  if (!m.run_video_stitch || !m.run_media_probe || !m.render_offline_image || !m.render_offline_video ||
      !m.check_image_file || !m.check_video_file || !m.make_thumbnail) {
    *err = fmt::format("media module {} lacks an entry point", where);
    return false;
  }
  return true;
}

const Module* LoadModuleFrom(const std::string& path, std::string* err) {
  // RTLD_LAZY: functions are bound on first call, as they were when comfyrun linked libav;
  // RTLD_NOW would bind every function of the ~150 libraries at once. A missing library still
  // fails here (with dlerror's text); the module's own symbols come from this build.
  // RTLD_LOCAL: the module's symbols stay out of the global scope.
  // Never dlclose: libav keeps global state (log callback, codec tables) for the process.
  void* handle = dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    *err = fmt::format("cannot load the media module: {}", why ? why : path);
    return nullptr;
  }
  using Entry = const Module* (*)();
  auto entry = reinterpret_cast<Entry>(dlsym(handle, kModuleEntrySymbol));
  if (!entry) {
    *err = fmt::format("{} is not a comfyrun media module (no {} symbol)", path, kModuleEntrySymbol);
    return nullptr;
  }
  const Module* m = entry();
  if (!m) {
    *err = fmt::format("media module {} returned no entry table", path);
    return nullptr;
  }
  if (!CheckModule(*m, path, err)) return nullptr;
  return m;
}

const Module* LoadModule(std::string* err) {
  if (const Module* builtin = g_builtin.load(std::memory_order_acquire)) return builtin;
  // A function-local static: the first caller loads, concurrent callers wait for it, and a
  // failure is remembered (the file will not appear in the middle of a run).
  static const Loaded loaded = LoadOnce();
  if (!loaded.module) *err = loaded.error;
  return loaded.module;
}

namespace {

/// The version functions of the libav libraries, by the file-name prefix of each library.
struct LibavLibrary {
  const char* name;
  const char* version_symbol;
};
constexpr LibavLibrary kLibavLibraries[] = {
    {"libavutil", "avutil_version"},     {"libavcodec", "avcodec_version"}, {"libavformat", "avformat_version"},
    {"libavfilter", "avfilter_version"}, {"libswscale", "swscale_version"}, {"libswresample", "swresample_version"},
};

int CollectLoadedObject(struct dl_phdr_info* info, size_t, void* data) {
  if (info->dlpi_name && *info->dlpi_name) static_cast<std::vector<std::string>*>(data)->push_back(info->dlpi_name);
  return 0;
}

}  // namespace

std::vector<LibavVersion> LoadedLibavVersions() {
  // The module links libav, so once it is loaded the libraries are in the process: find
  // them among the loaded objects and ask each for its version (RTLD_NOLOAD: only a handle
  // to what is already there, never a second load). No libav header is needed here.
  std::vector<std::string> objects;
  dl_iterate_phdr(CollectLoadedObject, &objects);
  std::vector<LibavVersion> out;
  for (const LibavLibrary& lib : kLibavLibraries) {
    for (const auto& object : objects) {
      std::string file = std::filesystem::path(object).filename().string();
      if (file.rfind(std::string(lib.name) + ".so", 0) != 0) continue;
      void* handle = dlopen(object.c_str(), RTLD_LAZY | RTLD_NOLOAD);
      if (!handle) continue;
      using VersionFn = unsigned (*)();
      auto fn = reinterpret_cast<VersionFn>(dlsym(handle, lib.version_symbol));
      if (fn) out.push_back({lib.name, FormatLibavVersion(fn()), file});
      if (std::string(lib.name) == "libavutil") {
        using InfoFn = const char* (*)();
        auto info = reinterpret_cast<InfoFn>(dlsym(handle, "av_version_info"));
        if (info && info()) out.push_back({"ffmpeg", info(), file});
      }
      dlclose(handle);  // drops only the reference RTLD_NOLOAD added
      break;
    }
  }
  return out;
}

std::string FormatLibavVersion(unsigned version) {
  // AV_VERSION_INT(a, b, c) is a << 16 | b << 8 | c.
  return fmt::format("{}.{}.{}", version >> 16, (version >> 8) & 0xff, version & 0xff);
}

void UseBuiltinModule(const Module* module) { g_builtin.store(module, std::memory_order_release); }

}  // namespace comfyrun::media
