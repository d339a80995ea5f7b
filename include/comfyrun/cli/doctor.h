#pragma once
// `comfyrun doctor [--json]`: checks what a run will need before anything is spent, one line
// per check, each ok, warning or error with how to fix it (src/cli/cmd_doctor.cc runs the
// command; src/cli/doctor_checks.cc holds the checks that need no network).
//
// Exit 0 when every check is ok or a warning (something not configured, such as a missing
// key: runs that need it fail, --offline runs work), 1 when a check is an error (something
// configured does not work: a ComfyUI server down, the media module missing, an output
// directory that cannot be written, a model alias pointing to a retired model).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "comfyrun/core/json.h"

namespace CLI {
class App;
}

namespace comfyrun {

struct ModelCatalog;  // comfyrun/models.h

struct DoctorOptions {
  std::string out_dir = "generated";  ///< -o/--out: the output directory a run would use
  std::vector<std::string> comfyui;   ///< --comfyui URL (repeatable; adds to COMFYUI_URL)
  bool json = false;                  ///< --json: the checks as JSON on stdout
  double timeout = 2;                 ///< seconds for each network check (bounded: a down server must not hang)
};

int DoctorCommand(const DoctorOptions& options);

enum class CheckStatus { kOk, kWarning, kError };
const char* CheckStatusName(CheckStatus status);  ///< "ok", "warning", "error"

struct DoctorCheck {
  std::string check;  ///< what was checked: "key GEMINI_API_KEY", "comfyui http://gpu1:8188", ...
  CheckStatus status = CheckStatus::kOk;
  std::string message;  ///< what was found (never a secret)
  std::string fix;      ///< how to fix it; "" when ok
};

/// "ok       media module: ..." or "error    comfyui URL: ...; fix: ...": one line per check.
std::string FormatCheckLine(const DoctorCheck& check);
/// {"ok": bool, "checks": [{check, status, message, fix?}], "summary": {ok, warning, error}}.
Json DoctorReportJson(const std::vector<DoctorCheck>& checks);
/// 1 when a check is an error, else 0.
int DoctorExitCode(const std::vector<DoctorCheck>& checks);

/// What GET /system_stats and GET /queue of a ComfyUI server say (PROVIDERS.md, ComfyUI).
struct ComfyuiStatus {
  std::string version;                 ///< system.comfyui_version ("" when absent)
  std::vector<std::string> devices;    ///< devices[].name: the GPU names ("cpu" in CPU mode)
  int64_t vram_free = -1;              ///< devices[0].vram_free in bytes, -1 when absent
  int64_t running = -1, pending = -1;  ///< queue_running / queue_pending lengths
};
/// Parses a /system_stats body into *status; false with *err when it is not ComfyUI's JSON.
bool ParseSystemStats(std::string_view body, ComfyuiStatus* status, std::string* err);
/// Parses a /queue body; false with *err.
bool ParseQueue(std::string_view body, ComfyuiStatus* status, std::string* err);

/// A server's clock compared with ours: `server_unix` from its Date header, `local_unix`
/// the local time when the reply arrived.
struct ClockSample {
  std::string source;  ///< the server (a URL, without credentials)
  double skew = 0;     ///< local minus server, in seconds
};
/// An HTTP-date ("Sun, 06 Nov 1994 08:49:37 GMT", and the two obsolete forms) as Unix
/// seconds; false when unparseable.
bool ParseHttpDate(std::string_view value, int64_t* unix_seconds);
/// The clock check. Signed URLs (a Veo download, a cloud bucket) are refused when the clock
/// is off by minutes: |skew| over 30 s is a warning, over 300 s an error. The Date header has
/// 1 s resolution, so 2 s are noise. Without any sample, the kernel's NTP state decides:
/// synchronized is ok, else a warning (nothing to compare with). `ntp_state` is "synchronized",
/// "unsynchronized" or "" (unknown).
DoctorCheck ClockCheck(const std::vector<ClockSample>& samples, const std::string& ntp_state);
/// "synchronized" / "unsynchronized" from the kernel (adjtimex), "" when it cannot tell.
std::string KernelNtpState();

/// The output directory: writable (probed by creating and removing a file in it, or in its
/// nearest existing parent when it does not exist yet: a run creates it), and its free space
/// (a warning under 1 GiB, an error under 64 MiB).
DoctorCheck OutputDirectoryCheck(const std::string& dir);
/// The free-space verdict alone (unit tests): `free_bytes` available to an unprivileged user.
CheckStatus FreeSpaceStatus(uint64_t free_bytes);

/// One check for the model table in force: an error for every alias whose model is retired
/// (with its successor) or not in the table; ok when none. `load_error` is what loading the
/// COMFYRUN_MODELS file said ("" when fine).
std::vector<DoctorCheck> ModelTableChecks(const ModelCatalog& catalog, const std::string& load_error);

/// The media module: loadable (the path it was found at), and the libav versions it brought.
DoctorCheck MediaModuleCheck();

/// "slurm": when Slurm is configured here (sbatch in PATH and SLURM_CONF or
/// /etc/slurm/slurm.conf), whether its controller answers (`sinfo`) and which partitions are
/// up; an error when it does not answer. Nothing otherwise: only Slurm pools and --executor
/// slurm need it (docs/slurm.md), and doctor's output stays the same without it.
std::optional<DoctorCheck> SlurmCheck();

}  // namespace comfyrun
