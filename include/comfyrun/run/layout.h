#pragma once
// The layout of everything a run writes below --out (default ./generated):
//   <out>/runs/<runId>/<node>/...     the nodes' files
//   <out>/journals/<runId>.jsonl      the journal (run/header.h has its header's format)
//   <out>/metrics/<runId>.json        the metrics, written when the run ends
// and the run id that names them. Pure path functions, plus the check that the output
// directory can be written before anything is spent.
#include <string>

namespace comfyrun {

/// generated/runs/<runId>, generated/journals/<runId>.jsonl, generated/metrics/<runId>.json
std::string RunDirectory(const std::string& out_dir, const std::string& run_id);
std::string DefaultJournalPath(const std::string& out_dir, const std::string& run_id);
std::string MetricsPath(const std::string& out_dir, const std::string& run_id);

/// "<workflowId>-<UTC stamp>-<6 hex>"
std::string NewRunId(const std::string& workflow_id);

/// Whether `run_id` can name folders and files under --out: a plain name that cannot lead
/// out of it (no '/', not "." or ".."), as a damaged or hand-made journal might hold.
bool IsPlainRunId(const std::string& run_id);

/// A path given on the command line (--out, --journal, -o) that is empty or only white
/// space would name the working directory's root or the filesystem's ("" + "/runs"): refused.
/// False with *err naming `what` ("--out").
bool CheckPathArgument(const std::string& path, const std::string& what, std::string* err);

/// Creates runs/, journals/ and metrics/ below out_dir and checks that they can be written.
bool PrepareOutputDirectory(const std::string& out_dir, std::string* err);

}  // namespace comfyrun
