// The checks of `comfyrun doctor` that need no network (doctor.h): output directory, clock
// verdict, model table, media module, and the parsing of ComfyUI's replies.
#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/statvfs.h>
#include <sys/timex.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "comfyrun/backends/slurm/slurm_client.h"
#include "comfyrun/cli/doctor.h"
#include "comfyrun/core/util.h"
#include "comfyrun/maintenance/gc.h"  // FormatBytes
#include "comfyrun/media/module.h"
#include "comfyrun/media/module_lookup.h"
#include "comfyrun/providers/models.h"

namespace comfyrun {

const char* CheckStatusName(CheckStatus status) {
  switch (status) {
    case CheckStatus::kOk:
      return "ok";
    case CheckStatus::kWarning:
      return "warning";
    case CheckStatus::kError:
      return "error";
  }
  return "error";
}

std::string FormatCheckLine(const DoctorCheck& c) {
  std::string line = fmt::format("{:<8} {}: {}", CheckStatusName(c.status), c.check, c.message);
  if (c.status != CheckStatus::kOk && !c.fix.empty()) line += "; fix: " + c.fix;
  return line;
}

Json DoctorReportJson(const std::vector<DoctorCheck>& checks) {
  Json list = Json::array();
  int counts[3] = {0, 0, 0};
  for (const auto& c : checks) {
    Json j = {{"check", c.check}, {"status", CheckStatusName(c.status)}, {"message", c.message}};
    if (c.status != CheckStatus::kOk && !c.fix.empty()) j["fix"] = c.fix;
    list.push_back(std::move(j));
    ++counts[static_cast<int>(c.status)];
  }
  return {{"ok", counts[2] == 0},
          {"checks", list},
          {"summary", {{"ok", counts[0]}, {"warning", counts[1]}, {"error", counts[2]}}}};
}

int DoctorExitCode(const std::vector<DoctorCheck>& checks) {
  for (const auto& c : checks)
    if (c.status == CheckStatus::kError) return 1;
  return 0;
}

// --- ComfyUI replies ---------------------------------------------------------------------

bool ParseSystemStats(std::string_view body, ComfyuiStatus* status, std::string* err) {
  Json j = Json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("system") || !j["system"].is_object()) {
    *err = "/system_stats is not ComfyUI's JSON (no \"system\" object)";
    return false;
  }
  const Json& sys = j["system"];
  if (sys.contains("comfyui_version") && sys["comfyui_version"].is_string())
    status->version = sys["comfyui_version"].get<std::string>();
  if (j.contains("devices") && j["devices"].is_array()) {
    for (const auto& d : j["devices"]) {
      if (!d.is_object()) continue;
      if (d.contains("name") && d["name"].is_string()) status->devices.push_back(d["name"].get<std::string>());
      if (status->vram_free < 0 && d.contains("vram_free") && d["vram_free"].is_number_integer())
        status->vram_free = d["vram_free"].get<int64_t>();
    }
  }
  return true;
}

bool ParseQueue(std::string_view body, ComfyuiStatus* status, std::string* err) {
  Json j = Json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("queue_running") || !j["queue_running"].is_array() ||
      !j.contains("queue_pending") || !j["queue_pending"].is_array()) {
    *err = "/queue is not ComfyUI's JSON (no queue_running and queue_pending lists)";
    return false;
  }
  status->running = static_cast<int64_t>(j["queue_running"].size());
  status->pending = static_cast<int64_t>(j["queue_pending"].size());
  return true;
}

// --- clock -------------------------------------------------------------------------------

bool ParseHttpDate(std::string_view value, int64_t* unix_seconds) {
  // curl_getdate reads RFC 1123, RFC 850 and asctime dates (what RFC 9110 asks a client to
  // accept); it also reads looser forms, so require the weekday comma or asctime's shape.
  std::string v(value);
  if (v.size() < 20 || v.size() > 64) return false;
  time_t t = curl_getdate(v.c_str(), nullptr);
  if (t == -1) return false;
  *unix_seconds = static_cast<int64_t>(t);
  return true;
}

DoctorCheck ClockCheck(const std::vector<ClockSample>& samples, const std::string& ntp_state) {
  DoctorCheck c{"clock", CheckStatus::kOk, "", ""};
  const std::string fix = "synchronize the clock (timedatectl set-ntp true, or install systemd-timesyncd or chrony)";
  if (samples.empty()) {
    if (ntp_state == "synchronized") {
      c.message = "synchronized by NTP (kernel status); no configured server answered with a Date header to compare";
    } else {
      c.status = CheckStatus::kWarning;
      c.message = ntp_state == "unsynchronized"
                      ? "not synchronized by NTP (kernel status), and no configured server answered with a Date "
                        "header to compare with"
                      : "not checked: no configured server answered with a Date header";
      c.fix = fix;
    }
    return c;
  }
  const ClockSample* worst = &samples.front();
  for (const auto& s : samples)
    if (std::fabs(s.skew) > std::fabs(worst->skew)) worst = &s;
  double off = std::fabs(worst->skew);
  std::string direction = worst->skew > 0 ? "ahead of" : "behind";
  if (off <= 2) {
    c.message = fmt::format("within 2 s of {} (its Date header){}", worst->source,
                            samples.size() > 1 ? fmt::format(" and {} other server(s)", samples.size() - 1) : "");
    return c;
  }
  c.message = fmt::format("{:.0f} s {} {} (its Date header)", off, direction, worst->source);
  if (off > 300) {
    c.status = CheckStatus::kError;
    c.message += "; signed URLs (downloads of generated videos) will be refused";
  } else if (off > 30) {
    c.status = CheckStatus::kWarning;
    c.message += "; signed URLs may be refused";
  } else {
    return c;  // a few seconds: harmless
  }
  c.fix = fix;
  return c;
}

std::string KernelNtpState() {
  struct timex tx;
  std::memset(&tx, 0, sizeof tx);  // modes 0: read only
  int state = adjtimex(&tx);
  if (state == -1) return "";
  return (state == TIME_ERROR || (tx.status & STA_UNSYNC)) ? "unsynchronized" : "synchronized";
}

// --- output directory --------------------------------------------------------------------

CheckStatus FreeSpaceStatus(uint64_t free_bytes) {
  if (free_bytes < (64ull << 20)) return CheckStatus::kError;
  if (free_bytes < (1ull << 30)) return CheckStatus::kWarning;
  return CheckStatus::kOk;
}

DoctorCheck OutputDirectoryCheck(const std::string& dir) {
  namespace fs = std::filesystem;
  DoctorCheck c{"output directory " + dir, CheckStatus::kOk, "", ""};
  std::error_code ec;
  fs::path path = fs::absolute(dir.empty() ? "." : dir, ec);
  // The folder itself, or the nearest parent that exists (a run creates the rest).
  fs::path probe_dir = path;
  while (!fs::exists(probe_dir, ec) && probe_dir.has_parent_path() && probe_dir != probe_dir.parent_path())
    probe_dir = probe_dir.parent_path();
  bool exists = probe_dir == path;
  if (fs::exists(probe_dir, ec) && !fs::is_directory(probe_dir, ec)) {
    c.status = CheckStatus::kError;
    c.message = fmt::format("{} is not a directory", probe_dir.string());
    c.fix = "choose another folder with -o/--out";
    return c;
  }
  // A real probe, not access(2): root passes access() on a read-only file system.
  std::string probe = (probe_dir / ".comfyrun-doctor-XXXXXX").string();
  int fd = mkstemp(probe.data());
  if (fd < 0) {
    int e = errno;
    c.status = CheckStatus::kError;
    c.message = exists ? fmt::format("cannot write in {}: {}", path.string(), std::strerror(e))
                       : fmt::format("cannot create {}: {} cannot be written ({})", path.string(), probe_dir.string(),
                                     std::strerror(e));
    c.fix = fmt::format("make {} writable for this user (chmod u+w), or choose another folder with -o/--out",
                        probe_dir.string());
    return c;
  }
  close(fd);
  unlink(probe.c_str());
  struct statvfs st;
  std::string where = exists ? "writable" : fmt::format("does not exist yet; {} is writable", probe_dir.string());
  if (statvfs(probe_dir.c_str(), &st) != 0) {
    c.message = where + "; free space unknown";
    return c;
  }
  uint64_t free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  c.status = FreeSpaceStatus(free_bytes);
  c.message = fmt::format("{}, {} free", where, FormatBytes(free_bytes));
  if (c.status != CheckStatus::kOk)
    c.fix =
        "free some space (comfyrun gc --older-than 7d, comfyrun cache prune --older-than 30d) or choose "
        "another folder with -o/--out";
  return c;
}

// --- model table -------------------------------------------------------------------------

std::vector<DoctorCheck> ModelTableChecks(const ModelCatalog& catalog, const std::string& load_error) {
  std::vector<DoctorCheck> out;
  if (!load_error.empty()) {
    out.push_back({"model table", CheckStatus::kError, load_error,
                   "fix the file named by COMFYRUN_MODELS, or unset it to use the table shipped with comfyrun"});
  }
  size_t bad = 0;
  for (const auto& [alias, id] : catalog.aliases) {
    std::string err;
    if (catalog.Resolve(alias, &err)) continue;
    ++bad;
    out.push_back({"model alias " + alias, CheckStatus::kError, err,
                   "point the alias at a current model in the file named by COMFYRUN_MODELS (\"aliases\")"});
  }
  if (bad == 0 && load_error.empty())
    out.push_back({"model table", CheckStatus::kOk,
                   fmt::format("{} aliases, none pointing to a retired or unknown model", catalog.aliases.size()), ""});
  return out;
}

// --- media module ------------------------------------------------------------------------

DoctorCheck MediaModuleCheck() {
  DoctorCheck c{"media module", CheckStatus::kOk, "", ""};
  std::string err;
  if (!media::LoadModule(&err)) {
    c.status = CheckStatus::kError;
    c.message = err;
    c.fix =
        "video_stitch, media_probe and --offline runs need it: install the comfyrun package again, or keep "
        "comfyrun_media.so from the same build beside the binary (docs/media.md)";
    return c;
  }
  std::string libs;
  std::string release;
  for (const auto& v : media::LoadedLibavVersions()) {
    if (v.library == "ffmpeg") {
      release = v.version;
      continue;
    }
    libs += fmt::format("{}{} {}", libs.empty() ? "" : ", ", v.library, v.version);
  }
  c.message = fmt::format("{} loads", media::ModulePath());
  if (!release.empty()) c.message += "; FFmpeg " + release;
  if (!libs.empty()) c.message += " (" + libs + ")";
  return c;
}

std::optional<DoctorCheck> SlurmCheck() {
  DoctorCheck c;
  c.check = "slurm";
  const char* conf = getenv("SLURM_CONF");
  std::string conf_path = conf && *conf ? conf : "/etc/slurm/slurm.conf";
  bool has_sbatch = false;
  if (const char* path = getenv("PATH"))
    for (std::string_view rest = path; !rest.empty();) {
      size_t colon = rest.find(':');
      std::string dir(rest.substr(0, colon));
      if (!dir.empty() && access((dir + "/sbatch").c_str(), X_OK) == 0) has_sbatch = true;
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    }
  if (!has_sbatch || access(conf_path.c_str(), R_OK) != 0) return std::nullopt;
  SlurmClientOptions o;
  o.command_timeout = 10;
  SlurmClient client(o);
  std::string text;
  std::string err;
  if (!client.Info(&text, &err)) {
    c.status = CheckStatus::kError;
    c.message = "the controller does not answer: " + err;
    c.fix = fmt::format("check that slurmctld runs and that {} names it (`scontrol ping`)", conf_path);
    return c;
  }
  std::string parts;
  for (std::string_view rest = text; !rest.empty();) {
    size_t nl = rest.find('\n');
    std::string line = Trim(rest.substr(0, nl));
    if (!line.empty()) parts += (parts.empty() ? "" : ", ") + line;
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  c.message = fmt::format("the controller answers ({}); partitions (name, availability, nodes, state): {}", conf_path,
                          Abbreviate(parts, 300));
  return c;
}

}  // namespace comfyrun
