#pragma once
// The ComfyUI server protocol as comfyrun speaks it (PROVIDERS.md §4, checked against the
// ComfyUI 0.3.64 transcript): loading API-format graphs, applying `set` overrides, building
// the /prompt body, and reading the replies of /prompt, /history/{id} and /queue.
//
// Pure functions: no I/O except LoadComfyGraph reading the workflow file. Safe on any thread.
// nlohmann::json exceptions are contained here (parsing uses allow_exceptions=false).
//
// Wire summary:
//   POST /prompt {prompt, client_id, prompt_id}  -> 200 {prompt_id, number, node_errors}
//                                                 -> 400 {error:{type,message,details},
//                                                         node_errors:{id:{errors:[...],class_type}}}
//   GET /history/{id} -> {} while queued/running AND for unknown ids; {id: {outputs, status}}
//   GET /queue        -> {queue_running:[[n,id,graph,extra,outs]...], queue_pending:[...]}
//   GET /view?filename=&subfolder=&type=          -> the file bytes
//   POST /upload/image (multipart "image")         -> {name, subfolder, type}
//   POST /interrupt {prompt_id}, POST /queue {delete:[id]} -> bare 200
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "comfyrun/core/error_type.h"
#include "comfyrun/core/json.h"
#include "comfyrun/net/http_loop.h"

namespace comfyrun {

/// The `workflow` input as an API-format graph: an object is taken as is; a string is the path
/// of a workflow_api.json (relative to the working directory). Checks the shape
/// ({id: {class_type, inputs}}) and rejects UI-format exports ("nodes"/"links") with a hint.
bool LoadComfyGraph(const Json& workflow, Json* graph, std::string* err);

/// Applies `set` overrides {"<comfy node id>.<input>": value} (the id is everything before the
/// last '.'). An unknown node id or input name is an error naming it, with the known ones.
bool ApplyComfyOverrides(Json* graph, const Json& set, std::string* err);

/// A local file that must be uploaded before the prompt: graph[node_id].inputs[input] names it.
struct ComfyUpload {
  std::string node_id;
  std::string input;
  std::string local_path;  ///< as written in the graph
};

/// Inputs to upload: on nodes whose class_type contains "Load" (LoadImage, LoadImageMask,
/// LoadAudio, LoadVideo, VHS_LoadVideo...), inputs named image, mask, video, audio or file
/// whose string value names an existing local regular file (absolute or relative to the
/// working directory). Other values are taken as names already on the server.
std::vector<ComfyUpload> FindComfyUploads(const Json& graph);

/// True when another run of `graph` would make the same outputs as far as comfyrun can tell:
/// every sampler seed in it is a literal. Sampler seeds are the inputs named `seed` or
/// `noise_seed` (KSampler, KSamplerAdvanced, SamplerCustom, RandomNoise and custom nodes that
/// follow the same names); one fed by a link to another node (a random-seed node, say) is not
/// fixed. A graph without any seed input (EmptyImage -> SaveImage) is fixed: ComfyUI even
/// serves such a graph again from its cache. Used by the retry rule for OutputInvalid
/// (engine/retry.h).
bool ComfySeedsFixed(const Json& graph);

/// The server-side value for an uploaded file from the /upload/image reply ({name, subfolder,
/// type}): "name" or "subfolder/name". nullopt with *err when the reply is not that shape.
std::optional<std::string> ParseUploadReply(const std::string& body, std::string* err);

/// POST /prompt body.
Json BuildPromptBody(const Json& graph, const std::string& client_id, const std::string& prompt_id);

/// Outcome of POST /prompt.
struct ComfyPromptReply {
  std::string prompt_id;               ///< set when accepted
  ErrorType error = ErrorType::kNone;  ///< kInvalidInput for a 400 validation reply
  std::string message;
  Json details = Json::object();  ///< {comfyError, nodeErrors, comfyNodeIds} on 400
};
ComfyPromptReply ParsePromptReply(const HttpResponse& response);

/// One file an output node produced.
struct ComfyOutputFile {
  std::string node;  ///< ComfyUI node id
  std::string kind;  ///< "image", "video", "audio" or "file"
  std::string filename;
  std::string subfolder;
  std::string type;  ///< "output", "temp" or "input"
};

/// What /history/{id} says about one prompt.
struct ComfyHistory {
  enum class State { kAbsent, kSuccess, kFailed };
  State state = State::kAbsent;        ///< kAbsent: {} (queued, running, or unknown)
  std::vector<ComfyOutputFile> files;  ///< on success, in the server's output order
  ErrorType error = ErrorType::kNone;  ///< on kFailed: kExecution, kNoFace
  std::string message;
  Json details = Json::object();  ///< {node, nodeType, exceptionType, ...}
};
/// nullopt with *err when the body is not a JSON object.
std::optional<ComfyHistory> ParseHistoryReply(const std::string& body, const std::string& prompt_id, std::string* err);

/// Where a prompt is in GET /queue.
struct ComfyQueuePosition {
  enum class State { kAbsent, kRunning, kPending };
  State state = State::kAbsent;
  int ahead = 0;  ///< kPending: prompts running or pending before it
};
std::optional<ComfyQueuePosition> ParseQueueReply(const std::string& body, const std::string& prompt_id,
                                                  std::string* err);

/// True when an exception message says that no face was found or detected (InsightFace,
/// ReActor, FaceDetailer, IPAdapter FaceID phrasing).
bool IsNoFaceMessage(std::string_view message);

/// Kind of an output file from the ui-dict key it came under, its `animated` flag and its
/// extension.
std::string ClassifyComfyFile(const std::string& key, bool animated, const std::string& filename);

/// `server`/view?filename=..&subfolder=..&type=.. with percent-encoding.
std::string ComfyViewUrl(const std::string& server, const ComfyOutputFile& file);

/// A local file name for `file` that no other output of this node uses: "<node>_<filename>"
/// made safe for file systems, with "-2", "-3" before the extension on clashes. `used` holds
/// the names taken so far and gets the new one.
std::string LocalOutputName(const ComfyOutputFile& file, std::set<std::string>* used);

/// A random lowercase RFC 4122 version-4 UUID (the prompt_id form newer servers require).
std::string NewUuid4();

}  // namespace comfyrun
