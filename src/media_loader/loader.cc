// Finds, loads and checks the media module (comfyrun/media/module.h). This is the only place
// that calls dlopen; the rest of the executable asks LoadModule() for the entry table.
#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "comfyrun/media/module.h"

namespace comfyrun::media {
namespace {

std::atomic<const Module*> g_builtin{nullptr};

/// How to fix a module that does not load; appended to every load error.
std::string HowToFix(bool from_env) {
  if (from_env)
    return fmt::format("{} points at it: set it to the {} built with this comfyrun, or unset it to use the one "
                       "next to the comfyrun binary",
                       kModuleEnv, kModuleFileName);
  return fmt::format("{} is built together with comfyrun (ninja target comfyrun_media): keep it next to the "
                     "comfyrun binary, or set {} to its path",
                     kModuleFileName, kModuleEnv);
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

std::string ModulePath() {
  if (FromEnv()) return std::getenv(kModuleEnv);
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return kModuleFileName;  // no /proc: let dlopen search its usual path
  buf[n] = '\0';
  return (std::filesystem::path(buf).parent_path() / kModuleFileName).string();
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

void UseBuiltinModule(const Module* module) { g_builtin.store(module, std::memory_order_release); }

}  // namespace comfyrun::media
