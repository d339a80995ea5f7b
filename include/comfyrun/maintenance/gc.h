#pragma once
// `comfyrun gc`: removes old runs from an output directory (DESIGN.md §6 layout).
//
// A run is what its journal names: journals/<runId>.jsonl, its lock journals/<runId>.jsonl.lock,
// runs/<runId>/ and metrics/<runId>.json. gc walks journals/ only, so it never touches:
//   - ab-tests/ (A/B results are small and are the record of a decision; they name the
//     journal, which may be gone afterwards), a cache, or anything else under the directory;
//   - runs/ folders and metrics files whose journal is not in journals/ (a run given
//     --journal elsewhere, or leftovers): gc cannot tell whether they are live.
//
// Age: now minus the journal's last record time ("t" of its newest record), which is when
// the run last did anything, whatever later copying did to the file's mtime. A journal that
// cannot be read (no valid header) is aged by its file mtime instead, and counts as
// unfinished.
//
// Never removed: a live run (its journal lock is held: gc takes that lock itself, without
// waiting, and holds it while it deletes, so a `resume` cannot start in the middle; a run
// already resuming holds it and is skipped). Removed only with force: an unfinished run (no
// run_finished record after its last run_started), which `resume` could still continue.
#include <cstdint>
#include <string>
#include <vector>

namespace comfyrun {

struct GcOptions {
  std::string out_dir = "generated";
  double older_than_seconds = 0;  ///< remove runs whose last activity is at least this old
  bool dry_run = false;           ///< report what would be removed, remove nothing
  bool force = false;             ///< also remove unfinished (but never live) runs
  int64_t now_ms = 0;             ///< "now" in unix ms; 0 = the clock (tests may set it)
};

struct GcRun {
  enum class Action {
    kRemoved,         ///< removed (or, with dry_run, would be)
    kKeptLive,        ///< its journal lock is held by a running comfyrun
    kKeptUnfinished,  ///< old, but has no run_finished record and force was not given
    kKeptRecent,      ///< newer than the limit
    kFailed,          ///< was to be removed, but removing failed (error says why)
  };
  std::string run_id;
  std::string journal;  ///< path
  Action action = Action::kKeptRecent;
  int64_t last_activity_ms = 0;  ///< unix ms
  bool age_from_mtime = false;   ///< the journal was unreadable: age is the file's mtime
  std::string status;            ///< the journal's last run_finished status, "" if unfinished
  uint64_t bytes = 0;            ///< bytes of its files (freed, or that would be)
  std::string error;
};

struct GcReport {
  std::vector<GcRun> runs;   ///< one per journal, in name order
  size_t removed = 0;        ///< runs removed (would be, with dry_run)
  uint64_t bytes_freed = 0;  ///< their bytes
  size_t failed = 0;         ///< removals that failed
};

/// Collects garbage per the options. False with *err when out_dir does not exist or
/// journals/ cannot be listed; a missing journals/ is an empty report. Per-run failures are
/// in the report (GcRun::kFailed), not in *err.
bool CollectGarbage(const GcOptions& options, GcReport* report, std::string* err);

/// "12.3 MiB", "850 B": for messages.
std::string FormatBytes(uint64_t bytes);

}  // namespace comfyrun
