// comfyrun gc (maintenance/gc.h has the rules).
//
// Implementation details: the journal lock convention is journal.cc's: `<journal>.lock`,
// flock'ed exclusively by the writer for its lifetime. gc takes the same exclusive flock
// without blocking; failing to get it means a live run. The run's files are named after the
// journal's file name (journals/<runId>.jsonl), not after the header's runId, so a journal
// copied under another name can only take files of its own name with it.
#include "comfyrun/maintenance/gc.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "comfyrun/core/util.h"
#include "comfyrun/engine/journal.h"

namespace comfyrun {
namespace {

namespace fs = std::filesystem;

/// A status probe holds the lock (shared) for microseconds: retry briefly before calling a
/// run live.
constexpr int kLockTries = 5;
constexpr auto kLockRetryDelay = std::chrono::milliseconds(10);

/// Bytes of regular files under `p` (itself if a file); symlinks count as themselves and
/// are never followed.
uint64_t BytesUnder(const fs::path& p) {
  std::error_code ec;
  auto st = fs::symlink_status(p, ec);
  if (ec || !fs::exists(st)) return 0;
  if (fs::is_regular_file(st)) return fs::file_size(p, ec);
  if (!fs::is_directory(st)) return 0;
  uint64_t total = 0;
  for (fs::recursive_directory_iterator it(p, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
       it.increment(ec)) {
    auto s = it->symlink_status(ec);
    if (!ec && fs::is_regular_file(s)) {
      std::error_code size_ec;
      uint64_t n = it->file_size(size_ec);
      if (!size_ec) total += n;
    }
  }
  return total;
}

int64_t MtimeMs(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

/// A file name stem that can safely name files in runs/ and metrics/.
bool SafeRunId(const std::string& id) {
  return !id.empty() && id != "." && id != ".." && id.find('/') == std::string::npos;
}

/// Holds `<journal>.lock` exclusively, as a writer would (journal.h has the protocol: the lock
/// file exists only while someone holds it, and its holder removes it on release).
class RunLock {
 public:
  ~RunLock() {
    if (fd_ < 0) return;
    if (locked_ && IsCurrentLockFile(fd_, journal_)) unlink(lock_path_.c_str());
    close(fd_);
  }
  /// False when another process holds the lock (a live run).
  bool Acquire(const std::string& lock_path) {
    lock_path_ = lock_path;
    journal_ = lock_path.substr(0, lock_path.size() - std::string(".lock").size());
    for (int i = 0; i < kLockTries; ++i) {
      if (fd_ < 0) fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (fd_ < 0) fd_ = open(lock_path.c_str(), O_RDWR | O_CLOEXEC);  // a read-only folder
      if (fd_ < 0) return true;  // no lock file and none can be made: no writer can lock either
      if (flock(fd_, LOCK_EX | LOCK_NB) == 0) {
        if (IsCurrentLockFile(fd_, journal_)) return locked_ = true;
        close(fd_);  // a writer removed it as it ended: lock the file the path names now
        fd_ = -1;
        continue;
      }
      if (errno != EWOULDBLOCK && errno != EINTR) break;
      std::this_thread::sleep_for(kLockRetryDelay);
    }
    return false;
  }

 private:
  int fd_ = -1;
  bool locked_ = false;
  std::string lock_path_, journal_;
};

/// Removes a file or a folder tree; true when it is gone (or was never there).
bool RemovePath(const fs::path& p, std::string* err) {
  std::error_code ec;
  fs::remove_all(p, ec);
  if (ec) {
    *err = fmt::format("removing {}: {}", p.string(), ec.message());
    return false;
  }
  return true;
}

}  // namespace

std::string FormatBytes(uint64_t bytes) {
  static const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double v = static_cast<double>(bytes);
  int unit = -1;
  while (v >= 1024 && unit < 3) {
    v /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", v, kUnits[unit]);
}

bool CollectGarbage(const GcOptions& options, GcReport* report, std::string* err) {
  *report = GcReport();
  std::error_code ec;
  const fs::path out(options.out_dir);
  if (!fs::is_directory(out, ec)) {
    *err = fmt::format("output directory {} does not exist", options.out_dir);
    return false;
  }
  const fs::path journals = out / "journals";
  if (!fs::exists(journals, ec)) return true;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(journals, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".jsonl" && it->is_regular_file()) files.push_back(it->path());
  if (ec) {
    *err = fmt::format("listing {}: {}", journals.string(), ec.message());
    return false;
  }
  std::sort(files.begin(), files.end());
  const int64_t now = options.now_ms ? options.now_ms : NowUnixMs();
  const int64_t limit_ms = static_cast<int64_t>(options.older_than_seconds * 1000);

  for (const fs::path& journal : files) {
    GcRun run;
    run.run_id = journal.stem().string();
    run.journal = journal.string();
    if (!SafeRunId(run.run_id)) continue;
    const std::string lock_path = run.journal + ".lock";
    RunLock lock;
    if (!lock.Acquire(lock_path)) {
      run.action = GcRun::Action::kKeptLive;
      report->runs.push_back(std::move(run));
      continue;
    }
    // From here on no comfyrun can start writing this journal until `lock` is released.
    JournalReadOptions read;
    read.keep_events = false;  // only the folded state is needed: last record time, finished
    JournalReplay replay;
    std::string read_err;
    bool finished = false;
    if (ReadJournal(run.journal, read, &replay, &read_err) && replay.last_event_at > 0) {
      run.last_activity_ms = replay.last_event_at;
      finished = replay.finished;
      if (finished) run.status = replay.final_status;
    } else {
      run.last_activity_ms = MtimeMs(run.journal);
      run.age_from_mtime = true;
    }
    if (now - run.last_activity_ms < limit_ms) {
      run.action = GcRun::Action::kKeptRecent;
      report->runs.push_back(std::move(run));
      continue;
    }
    if (!finished && !options.force) {
      run.action = GcRun::Action::kKeptUnfinished;
      report->runs.push_back(std::move(run));
      continue;
    }
    const fs::path run_dir = out / "runs" / run.run_id;
    const fs::path metrics = out / "metrics" / (run.run_id + ".json");
    run.bytes = BytesUnder(run_dir) + BytesUnder(metrics) + BytesUnder(journal) + BytesUnder(lock_path);
    run.action = GcRun::Action::kRemoved;
    if (!options.dry_run) {
      // The journal goes last but one: if a removal fails, the run is still listed (and
      // still refused to a concurrent resume by the lock) next time. The lock file goes last,
      // while we still hold it.
      std::string rm_err;
      bool ok = RemovePath(run_dir, &rm_err) && RemovePath(metrics, &rm_err) && RemovePath(journal, &rm_err) &&
                RemovePath(lock_path, &rm_err);
      if (!ok) {
        run.action = GcRun::Action::kFailed;
        run.error = rm_err;
        ++report->failed;
        report->runs.push_back(std::move(run));
        continue;
      }
    }
    ++report->removed;
    report->bytes_freed += run.bytes;
    report->runs.push_back(std::move(run));
  }
  return true;
}

}  // namespace comfyrun
