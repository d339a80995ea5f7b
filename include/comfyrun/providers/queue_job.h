#pragma once
// QueueJob: one attempt of a generic asynchronous queue provider. fal.ai and Replicate put
// hundreds of hosted models behind one protocol each: submit JSON, poll a status URL, read
// the result, optionally cancel. The job is the same for both; a QueueProtocol table (fal.cc,
// replicate.cc) says how to build and read each call.
//
//   submit   protocol.build_submit -> reply parsed into a QueueHandle (request id, URLs)
//   journal  {provider, requestId, model, statusUrl, resultUrl, cancelUrl}, before any poll
//   poll     GET statusUrl -> QueueStatus (queued with position, running with logs, done)
//   result   GET resultUrl (fal) or the status reply's output (Replicate)
//   download every file URL of the result into node_dir, at once (results expire: fal keeps
//            them an hour or less, Replicate deletes API outputs after an hour)
//   cancel   on timeout or --cancel-remote: fal only while queued, Replicate always
//
// A resumed attempt re-attaches to the journaled request. When its result is gone it fails
// with OutputExpired naming the request id; with --resubmit-expired (Config) it submits anew
// and its cost counts both payments.
//
// Threading: as RemoteJob (loop thread; file reads and writes off the loop).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "comfyrun/core/config.h"
#include "comfyrun/core/json.h"
#include "comfyrun/net/http_loop.h"
#include "comfyrun/providers/remote_job.h"

namespace comfyrun {

/// What the submit reply identifies, and what the journal keeps for re-attaching.
struct QueueHandle {
  std::string request_id;
  std::string status_url;
  std::string result_url;  ///< "" when the status reply carries the output (Replicate)
  std::string cancel_url;
};

/// One status reply, read.
struct QueueStatus {
  enum class State { kQueued, kRunning, kCompleted, kFailed, kCanceled, kExpired };
  State state = State::kQueued;
  int queue_position = -1;     ///< fal IN_QUEUE; -1 when not given
  std::string last_log;        ///< the newest log line, for the status line
  std::string error;           ///< the provider's message when failed
  std::optional<Json> result;  ///< the output when the status reply carries it (Replicate)
  double cost = -1;            ///< USD when the provider reports it; -1 otherwise
};

/// How one provider speaks the queue protocol. Plain functions: the table is static data.
struct QueueProtocol {
  const char* provider;      ///< "fal", "replicate": journal, pool and messages
  const char* key_variable;  ///< "FAL_KEY"
  const char* auth_scheme;   ///< "Key" (fal) or "Bearer" (Replicate)
  // The key's value and the base URL come from the provider's registry row (provider.h).
  /// Fills url, method and body of the submit request. False with *err on a bad model name.
  bool (*build_submit)(const std::string& base, const std::string& model, const Json& input, HttpRequest* request,
                       std::string* err);
  /// Reads the submit reply. False with *err when it names no request.
  bool (*parse_submit)(const std::string& base, const std::string& model, const Json& reply, QueueHandle* handle,
                       std::string* err);
  /// Reads a status reply (any 2xx).
  QueueStatus (*parse_status)(const Json& reply);
  const char* cancel_method;  ///< "PUT" (fal) or "POST" (Replicate)
  bool cancel_only_queued;    ///< fal: a running request cannot be cancelled
};

const QueueProtocol& FalProtocol();
const QueueProtocol& ReplicateProtocol();

/// A queue node's resolved inputs.
struct QueueRequest {
  std::string model;
  Json input = Json::object();       ///< local files already inlined (InlineLocalFiles)
  std::vector<std::string> outputs;  ///< result fields that hold files; empty = every media URL
  std::string kind;                  ///< "image", "video", "audio" or "" (from the model table)
  double poll_interval = -1;         ///< seconds; < 0 = 2 s
  double cost_per_run = -1;          ///< the node's costPerRun; < 0 = unknown
};

/// Reads a QueueRequest from a fal or replicate node's inputs. False with *err (InvalidInput).
bool ParseQueueRequest(const Json& inputs, QueueRequest* request, std::string* err);

/// Replaces every string in `input` that names an existing local file (an absolute path, or
/// one starting with ./ or file://) by a data: URI of its bytes. A file over `max_bytes`
/// fails with *err (uploading larger files to the provider's storage is not implemented).
bool InlineLocalFiles(Json* input, size_t max_bytes, std::string* err);
/// Whether InlineLocalFiles would change anything (cheap: no file is read).
bool HasLocalFiles(const Json& input);
constexpr size_t kMaxInlineFileBytes = size_t{10} << 20;  // 10 MiB

/// A file the result points at.
struct ResultFile {
  std::string url;
  std::string kind;       ///< "image", "video", "audio" or "file"
  std::string extension;  ///< ".png", ... ("" when unknown)
};
/// The files to download from a result: the URLs under the named fields, or by default every
/// http(s) URL whose content_type or extension says image, video or audio.
std::vector<ResultFile> CollectResultFiles(const Json& result, const std::vector<std::string>& fields);

/// Known models of the queue providers: output kind and price (USD per run), for --offline
/// placeholders, plan estimates and the cost output. nullptr when unknown.
struct QueueModelInfo {
  const char* kind;  ///< "image", "video", "audio"
  double usd_per_run;
};
const QueueModelInfo* FindQueueModel(const std::string& provider, const std::string& model);

/// Cancels the queue job started for `ctx`: unless ctx->detach_remote, asks the provider to
/// cancel the request where it can (fal: only while queued). False when `ctx` has no running
/// queue job (then CancelJobFor applies). Executor thread.
bool CancelQueueJobFor(const NodeContext* ctx);

std::shared_ptr<RemoteJob> MakeQueueJob(std::shared_ptr<NodeContext> ctx, const QueueProtocol& protocol,
                                        QueueRequest request, RemoteJob::Done done);

}  // namespace comfyrun
