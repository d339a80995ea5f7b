#pragma once
// The journal: a crash-safe, append-only record of a run (DESIGN.md §5).
//
// File format (version 1): JSON lines, one record per line, readable with jq. Every record
// has "type" and "t" (unix milliseconds). The first record is the header, whose fields and
// checks are documented with its codec in run/header.h (EncodeHeader, DecodeHeader).
// Then, in the order things happened:
//   run_started    {"pid", "resume": 0 for the first run, n for the n-th resume}
//   node_started   {"node", "attempt", "queueWaitMs"}  (not written for inline kinds such as
//                  value, which finish inside the scheduler loop: their completed record,
//                  with its startedAt, stands for the whole attempt)
//   submitted      {"node", "attempt", "submission": {provider id, server, ...}}      [proof]
//   completed      {"node", "attempt", "outputs", "cost", "provider", "model",
//                   "startedAt", "durationMs", "queueWaitMs", "cached"}                [proof]
//   attempt_failed {"node", "attempt", "error", "message", "cost", "retryIn" (seconds,
//                   absent when no retry follows), "submissionFinished"}
//   node_failed    {"node", "attempts", "error", "message"}
//   node_skipped   {"node", "because"}   (a node it depends on failed or the run stopped)
//   run_finished   {"status": "succeeded"|"failed"|"interrupted", "durationMs", "totalCost"}
//
// Proof records show work that was done or paid for; they reach the disk (per Durability)
// before Append returns, so that a crash after it can never make resume pay again.
// A torn last line (a crash mid-write) is ignored by readers and cut off by the next writer.
// Unknown record types and fields are ignored, so newer comfyruns can add them.
// A lock file beside the journal (<journal>.lock, flock + the holder's pid) stops a second
// process from writing the same journal. The writer removes it when it closes, still holding
// the lock; whoever takes a lock checks that the file it locked is still the one the path
// names (IsCurrentLockFile) and otherwise opens the path again, so a removal never lets two
// processes hold "the" lock.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "comfyrun/core/error_type.h"
#include "comfyrun/core/json.h"

namespace comfyrun {

constexpr int kJournalFormat = 1;

/// How hard Append works to get proof records onto the disk.
enum class Durability {
  kFull,   ///< fsync after every proof record: a crash loses nothing that was acknowledged
  kBatch,  ///< group commit: proof records wait for an fsync shared with others that arrive
           ///< within a few milliseconds; same guarantee, fewer fsyncs, a little latency
  kNone,   ///< no fsync: an OS crash or power loss (not a process crash) may lose the tail,
           ///< and resume may then pay again for a generation
};
bool ParseDurability(const std::string& name, Durability* out);
const char* DurabilityName(Durability d);

struct JournalReplay;
class JsonObjectText;
class NodeList;

class JournalWriter {
 public:
  /// Opens (creating if needed) the journal for appending and takes its lock. Fails with *err
  /// naming the other process ("journal is in use by comfyrun pid 1234 (started ...)") when
  /// another holds the lock. An existing torn last line is cut off first.
  static std::unique_ptr<JournalWriter> Open(const std::string& path, Durability durability, std::string* err);
  ~JournalWriter();  ///< flushes, fsyncs, releases the lock

  /// Appends one record (adds "t" if missing). Thread-safe. For proof records, returns after
  /// the record is durable per the Durability. False with *err on a write error (disk full):
  /// the caller must stop the run, since unrecorded work could be paid for twice.
  /// Taken by value: a record passed as a temporary is moved, not copied, into the mirror.
  bool Append(Json record, bool proof, std::string* err);
  /// The same for a record written as text (JsonObjectText), "t" included: the hot records
  /// (a completed node) skip building a nlohmann object, and the mirror folds the values
  /// the record remembers, through the same Fold as a record read back from the file.
  bool AppendText(JsonObjectText& record, bool proof, std::string* err);
  /// From now on, folds every record appended into *replay exactly as ReadJournal would
  /// (events not kept), so that at the end of a run the caller has the journal's state
  /// without reading the file back. *replay may already hold the journal's earlier records
  /// (resume). It must outlive the writer; read it only when no Append is in progress.
  void MirrorInto(JournalReplay* replay);
  /// Makes everything appended so far durable.
  bool Sync(std::string* err);
  const std::string& path() const;
  /// Number of fsync calls made (for tests and benchmarks).
  uint64_t sync_count() const;
  /// Bytes in the journal: 0 right after Open means a new (or wholly torn) journal that
  /// needs a header record first.
  uint64_t size() const;

 private:
  JournalWriter() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// One attempt of a node as the journal tells it: from its node_started record to the
/// completed / attempt_failed / node_failed record that ended it. Kept even without events,
/// so metrics, traces and reports need not hold every record in memory.
struct AttemptSpan {
  enum class Outcome { kOpen, kCompleted, kFailed };
  int attempt = 0;
  int64_t start = 0;  ///< unix ms of node_started
  int64_t end = 0;    ///< unix ms of the record that ended it; 0 while open
  Outcome outcome = Outcome::kOpen;
  std::string error;  ///< error type name of a failed attempt ("RateLimited")
  double cost = 0;    ///< USD charged for this attempt
  Json where;         ///< where it ran (the record's "where": {"executor", "jobId", "host"...}), or null
};

/// What the journal says about one node.
struct JournalNode {
  enum class Status { kPending, kRunning, kCompleted, kFailed, kSkipped };
  Status status = Status::kPending;
  int attempts = 0;  ///< attempts started, over all runs of the journal
  Json outputs;      ///< when completed
  double cost = 0;   ///< USD, over all attempts
  std::string provider, model;
  Json open_submission;  ///< the last submission with no terminal outcome, or null
  ErrorType last_error = ErrorType::kNone;
  std::string last_message;
  int64_t started_at = 0;   ///< unix ms of the first attempt's start
  int64_t finished_at = 0;  ///< unix ms of completion/failure
  int64_t duration_ms = 0;  ///< of the completed attempt
  int64_t queue_wait_ms = 0;
  bool cached = false;
  std::vector<AttemptSpan> spans;  ///< every attempt, in order (an attempt that a crash cut
                                   ///< short stays kOpen; a resume starts a new span)
  std::vector<Json> events;        ///< this node's records, in order, when keep_events
};

struct JournalReplay {
  Json header;                          ///< null when the file has no valid header
  std::vector<std::string> node_order;  ///< node ids in first-seen order
  std::unordered_map<std::string, JournalNode> nodes;
  bool finished = false;     ///< a run_finished record is the last run's end
  std::string final_status;  ///< of the last run_finished
  int runs = 0;              ///< run_started records
  int64_t first_started_at = 0, last_event_at = 0;
  double total_cost = 0;
  size_t records = 0;
  bool torn_tail = false;             ///< the last line was incomplete and was ignored
  std::vector<std::string> warnings;  ///< bad lines that were skipped, etc.
};

/// Reads a journal, tolerating a torn last line and skipping (with a warning) lines that are
/// not valid records. False with *err when the file cannot be read or has no header.
/// Safe to call while another process writes the journal (status of a live run).
bool ReadJournal(const std::string& path, JournalReplay* replay, std::string* err);

/// Each of `ids`' state in the journal, in the same order (nullptr: the journal does not name
/// it), into *nodes. Entries already set are kept: a second call after more records were
/// folded looks up only the nodes that were missing. The pointers stay valid while the replay
/// lives, through further folding. 100,000 hash lookups take ~25 ms (cache misses), and both
/// the executor's seed and the metrics need them, so a resume makes them once.
void FindJournalNodes(const JournalReplay& replay, const std::vector<std::string_view>& ids,
                      std::vector<const JournalNode*>* nodes);

/// A journal header's "workflow" as read, not yet a Json. Converting 100,000 nodes' document
/// is a large part of a resume, so resume converts it on the thread that builds the workflow
/// while the reader goes on folding records (JournalReadOptions::on_header).
class HeaderWorkflow {
 public:
  struct Parsed;  // the parsed header line (journal.cc)
  HeaderWorkflow();
  explicit HeaderWorkflow(std::unique_ptr<Parsed> parsed);
  HeaderWorkflow(HeaderWorkflow&&) noexcept;
  HeaderWorkflow& operator=(HeaderWorkflow&&) noexcept;
  ~HeaderWorkflow();
  /// Whether there is a workflow to take (the header has one and it was not taken).
  bool present() const;
  /// The workflow as compact JSON text, in the header's key order: what the header's hash
  /// was taken of (run/header.h). "" when not present.
  std::string Text() const;
  /// Whether the workflow is a JSON object (run/header.h checks the header with it).
  bool IsObject() const;
  /// The workflow document, converted on the calling thread (any thread); once. Frees the
  /// parsed line.
  Json Take();
  /// The workflow apart: everything but "nodes" converted into *rest, and the nodes left
  /// parsed, each converted when BuildWorkflow's threads read it (no document of every node,
  /// and each node's inputs are moved into it, not copied). The list owns the parsed line.
  /// Null, with nothing taken, when "nodes" is not an array (Take() then gives the document).
  std::unique_ptr<NodeList> TakeApart(Json* rest);

 private:
  std::unique_ptr<Parsed> parsed_;
};

/// What ReadJournal keeps beyond the folded state.
struct JournalReadOptions {
  /// Keep each node's records in JournalNode::events (for tools that show every record).
  /// Off, each parsed record is freed as soon as it is folded, so a large replay holds far
  /// less memory and costs little to destroy (100k records: 0.1 s instead of 0.7 s to free);
  /// the folded state, spans included, is the same either way.
  bool keep_events = false;
  /// Called once with the header, right after it is read and before any other record is
  /// folded, with the header's "workflow" apart and not yet converted. A callback that moves
  /// `workflow` out owns it (resume builds it on another thread while the records are folded)
  /// and replay.header has no "workflow"; otherwise the header is complete as usual.
  std::function<void(const Json& header, HeaderWorkflow& workflow)> on_header;
};
bool ReadJournal(const std::string& path, const JournalReadOptions& options, JournalReplay* replay, std::string* err);

/// Which process holds the journal's lock: its pid, or 0 when unlocked (a lock file left
/// behind without a live lock counts as unlocked), or -1 when it is locked but the holder's
/// pid cannot be read. Probes with a brief shared flock, so it never blocks.
int JournalLockHolder(const std::string& path);

/// Whether `fd`, a lock file just flock'ed, is still the file <journal_path>.lock names (not
/// one a finished writer removed meanwhile). Every process that takes the lock checks it.
bool IsCurrentLockFile(int fd, const std::string& journal_path);

/// True when every file a completed node produced (strings in `outputs` naming paths under
/// `root`) still exists; else false with the first missing one in *missing. Resume runs a
/// node again whose files are gone.
bool ReplayedOutputsExist(const Json& outputs, const std::string& root, std::string* missing);

}  // namespace comfyrun
