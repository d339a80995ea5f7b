#pragma once
// ProviderDescriptor: what comfyrun knows about one remote provider, as one row of one table,
// Providers() (src/providers/provider_registry.cc). Everything that used to switch on a
// provider's name reads the rows instead:
//   - the node-type table and the node-kind lookup (nodes/node_table.h) take each row's
//     node types, with the row's pool, depth and rate written into their specs;
//   - Config reads the rows' variables (ProviderConfigVariables) and registers the secrets;
//   - the preflight key check (providers/preflight.h) and `comfyrun doctor` name the row's
//     key variable;
//   - `comfyrun plan` prices a node through its spec's estimate_cost, set from the row.
// The protocol itself (submit, poll, parse, cancel) lives in the provider's own file; the
// row points at it (make_job, queue_protocol, or the node kind for ComfyUI).
//
// The registry is the providers' composition root: it is the one file under src/providers/
// that includes node-kind headers (nodes/, comfyui/), for the rows' kinds and specs.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "comfyrun/core/config.h"
#include "comfyrun/core/json.h"
#include "comfyrun/core/node_type.h"
#include "comfyrun/engine/node_kind.h"
#include "comfyrun/providers/remote_job.h"

namespace comfyrun {

struct ModelInfo;
struct QueueProtocol;

/// A node type a provider declares: its declaration and who runs it.
struct ProviderNodeType {
  NodeTypeSpec (*spec)();
  NodeKind* (*kind)();
};

/// One attempt of a catalog model (Gemini image, Veo, Sora): reads ctx->inputs (checked
/// against the spec) and builds the job; null with *err (InvalidInput) on bad inputs.
using MakeCatalogJob = std::shared_ptr<RemoteJob> (*)(std::shared_ptr<NodeContext> ctx, const ModelInfo& model,
                                                      RemoteJob::Done done, std::string* err);

struct ProviderDescriptor {
  /// "gemini", "veo", "sora", "comfyui", "fal", "replicate": the journal's "provider", the
  /// model table's "provider", the pool its node types run in, and what messages call it.
  std::string name;
  /// The node types this row declares.
  std::vector<ProviderNodeType> node_types;
  /// Types declared by another row that also run this provider's models, chosen by model
  /// (sora: video_generation). A node of such a type whose model is not known before the run
  /// needs the key of any of the providers that can run it.
  std::vector<std::string> also_runs;

  /// Default concurrency of the pool (workflows override it in "pools"); 0 = the pool is
  /// bounded by something else (ComfyUI: the servers' slots, #slots=N) and -j.
  int pool_depth = 0;
  /// Documented request rate (starts per second); 0 = none documented (a 429 teaches one).
  double pool_rate = 0;

  /// The API key: name, synonyms. name "" = the provider needs none (ComfyUI).
  ConfigVariable key;
  /// Where the API lives: name, synonyms and default (kind kUrl). name "" = none.
  ConfigVariable base_url;
  /// The variable listing servers, for providers that are servers (ComfyUI: COMFYUI_URL,
  /// read by Config itself because --comfyui adds to it).
  std::string servers_variable;
  /// What `comfyrun doctor` says needs the key ("character_image and Veo video_generation
  /// nodes"); "" = doctor does not check this key (rows sharing a key: the first one's text).
  std::string doctor_needed_by;

  /// Whether its models are rows of the model catalog (models.h: aliases, prices, retired
  /// ids; `comfyrun models` lists them) under this provider's name.
  bool catalog_models = false;
  /// Expected USD of one node run, for `comfyrun plan` (copied into its specs).
  double (*estimate_cost)(const NodeTypeSpec& spec, const Json& inputs, std::string* model) = nullptr;

  /// How an attempt is made: a catalog provider's job (the generation node kinds pick the
  /// row by the resolved model); a queue provider's protocol (the queue node kind runs it);
  /// both null for ComfyUI, whose node kind drives its ComfyuiJob.
  MakeCatalogJob make_job = nullptr;
  const QueueProtocol* (*queue_protocol)() = nullptr;

  /// Re-attaching: the field of a journaled submission ({"provider": name, ...}) that names
  /// the remote job ("operation", "videoId", "requestId", "promptId"); "" = nothing to
  /// re-attach to (a Gemini image is one synchronous request).
  std::string submission_id;
};

/// The registry: every provider, in a fixed order. Built once; read-only after.
const std::vector<ProviderDescriptor>& Providers();

/// The row named `name`; nullptr when unknown.
const ProviderDescriptor* FindProvider(std::string_view name);

/// The row that declares node type `type` (by canonical name); nullptr for a built-in type.
const ProviderDescriptor* ProviderOfType(std::string_view type);

/// Every variable the rows declare (keys and base URLs), each once, in row order: what
/// Config::FromEnvironment reads.
std::vector<ConfigVariable> ProviderConfigVariables();

/// The row's API key in `config` ("" when unset or the row needs none).
std::string ProviderKey(const Config& config, const ProviderDescriptor& provider);
/// The row's base URL in `config`, else its default; without trailing slashes.
std::string ProviderBaseUrl(const Config& config, const ProviderDescriptor& provider);

/// The same, by row name ("" when no row has that name): what a provider's job calls.
std::string ProviderKey(const Config& config, std::string_view provider);
std::string ProviderBaseUrl(const Config& config, std::string_view provider);
/// The name of the row's key variable ("GEMINI_API_KEY"), for messages; "" when unknown.
std::string ProviderKeyVariable(std::string_view provider);

/// The id of the remote job a journaled submission names for `provider` (its
/// submission_id field), or "" when the submission is not one of this provider's.
std::string JournaledSubmissionId(const ProviderDescriptor& provider, const Json& submission);

/// The preflight message for a node that needs a key that is not set:
///   node 'x' (fal) needs FAL_KEY; set it in the environment or .env, or run with --offline
/// `providers` is what the node may run on; several when its model is not known yet ("veo or
/// sora" needs "GEMINI_API_KEY or OPENAI_API_KEY").
std::string MissingKeyMessage(const std::string& node_id, const std::vector<const ProviderDescriptor*>& providers);

}  // namespace comfyrun
