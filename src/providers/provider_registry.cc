// The provider registry: one row per provider (see providers/provider.h for what a row says
// and who reads it). To add a provider, write its file (protocol, job, spec) and add a row.
#include <fmt/format.h>

#include "comfyrun/comfyui/comfyui_node.h"
#include "comfyrun/core/util.h"
#include "comfyrun/nodes/generation_nodes.h"
#include "comfyrun/nodes/node_table.h"
#include "comfyrun/nodes/queue_nodes.h"
#include "comfyrun/providers/jobs.h"
#include "comfyrun/providers/models.h"
#include "comfyrun/providers/provider.h"
#include "comfyrun/providers/queue_job.h"

namespace comfyrun {
namespace {

using Kind = ConfigVariable::Kind;

// --- How each row makes one attempt (the protocol is in the provider's own file) ---------

std::shared_ptr<RemoteJob> GeminiImageJob(std::shared_ptr<NodeContext> ctx, const ModelInfo& model,
                                          RemoteJob::Done done, std::string* err) {
  ImageRequest request;
  if (!ParseImageRequest(ctx->inputs, &request, err)) return nullptr;
  return MakeGeminiImageJob(std::move(ctx), model, std::move(request), std::move(done));
}

std::shared_ptr<RemoteJob> VeoJob(std::shared_ptr<NodeContext> ctx, const ModelInfo& model, RemoteJob::Done done,
                                  std::string* err) {
  VideoRequest request;
  if (!ParseVideoRequest(ctx->inputs, &request, err)) return nullptr;
  return MakeVeoJob(std::move(ctx), model, std::move(request), std::move(done));
}

std::shared_ptr<RemoteJob> SoraJob(std::shared_ptr<NodeContext> ctx, const ModelInfo& model, RemoteJob::Done done,
                                   std::string* err) {
  VideoRequest request;
  if (!ParseVideoRequest(ctx->inputs, &request, err)) return nullptr;
  return MakeSoraJob(std::move(ctx), model, std::move(request), std::move(done));
}

const QueueProtocol* Fal() { return &FalProtocol(); }
const QueueProtocol* Replicate() { return &ReplicateProtocol(); }

// --- Prices, for `comfyrun plan` ----------------------------------------------------------

/// A catalog model: the input's model (or the type's default) resolved through the catalog,
/// priced per image or per second of video at the requested resolution.
double CatalogCost(const NodeTypeSpec& spec, const Json& inputs, std::string* model_id) {
  const InputSpec* model_input = spec.FindInput("model");
  Json model = inputs.contains("model") ? inputs["model"] : model_input ? model_input->default_value : Json();
  if (!model.is_string()) return 0;
  std::string err;
  const ModelInfo* info = ActiveModelCatalog().Resolve(model.get<std::string>(), &err);
  if (!info) return 0;
  *model_id = info->id;
  double seconds = 8;
  if (inputs.contains("duration") && inputs["duration"].is_number()) seconds = inputs["duration"].get<double>();
  std::string resolution = inputs.value("resolution", std::string("720p"));
  if (inputs.contains("size") && inputs["size"].is_string()) resolution = inputs["size"].get<std::string>();
  return EstimateGenerationCost(*info, seconds, resolution);
}

/// Any hosted model (no catalog entry): costPerRun, else the queue model table's price.
double QueueCost(const NodeTypeSpec& spec, const Json& inputs, std::string* model_id) {
  if (inputs.contains("model") && inputs["model"].is_string()) *model_id = inputs["model"].get<std::string>();
  if (inputs.contains("costPerRun") && inputs["costPerRun"].is_number()) return inputs["costPerRun"].get<double>();
  const QueueModelInfo* m = FindQueueModel(spec.name, *model_id);
  return m ? m->usd_per_run : 0;
}

// --- The rows -----------------------------------------------------------------------------

const ConfigVariable kGeminiKey{"GEMINI_API_KEY", {"GOOGLE_API_KEY"}, Kind::kSecret, ""};
const ConfigVariable kGeminiBase{"GEMINI_BASE_URL", {}, Kind::kUrl, "https://generativelanguage.googleapis.com"};

std::vector<ProviderDescriptor> BuildRows() {
  std::vector<ProviderDescriptor> rows;
  {
    ProviderDescriptor p;  // Gemini image models (Nano Banana): PROVIDERS.md §1
    p.name = "gemini";
    p.node_types = {{ImageGenerationSpec, ImageGenerationNodeKind}};
    p.pool_depth = 8;
    p.key = kGeminiKey;
    p.base_url = kGeminiBase;
    p.doctor_needed_by = "character_image and Veo video_generation nodes";
    p.catalog_models = true;
    p.estimate_cost = CatalogCost;
    p.make_job = GeminiImageJob;
    rows.push_back(std::move(p));
  }
  {
    ProviderDescriptor p;  // Veo through the Gemini API: PROVIDERS.md §2
    p.name = "veo";
    p.node_types = {{VideoGenerationSpec, VideoGenerationNodeKind}};
    p.pool_depth = 8;
    p.key = kGeminiKey;
    p.base_url = kGeminiBase;
    p.catalog_models = true;
    p.estimate_cost = CatalogCost;
    p.make_job = VeoJob;
    p.submission_id = "operation";
    rows.push_back(std::move(p));
  }
  {
    ProviderDescriptor p;  // Sora, OpenAI's videos API: PROVIDERS.md §3
    p.name = "sora";
    p.node_types = {{Sora2VideoSpec, Sora2VideoNodeKind}};
    p.also_runs = {"video_generation"};
    p.pool_depth = 8;
    p.key = {"OPENAI_API_KEY", {"SORA2_API_KEY"}, Kind::kSecret, ""};
    p.base_url = {"OPENAI_BASE_URL", {"SORA2_ENDPOINT"}, Kind::kUrl, "https://api.openai.com/v1"};
    p.doctor_needed_by = "sora2_video and Sora video_generation nodes";
    p.catalog_models = true;
    p.estimate_cost = CatalogCost;
    p.make_job = SoraJob;
    p.submission_id = "videoId";
    rows.push_back(std::move(p));
  }
  {
    ProviderDescriptor p;  // ComfyUI servers: PROVIDERS.md §4; depth comes from their slots
    p.name = "comfyui";
    p.node_types = {{ComfyuiSpec, ComfyuiNodeKind}};
    p.servers_variable = "COMFYUI_URL";
    p.submission_id = "promptId";
    rows.push_back(std::move(p));
  }
  // fal and Replicate accounts start with about 10 requests running at once. Replicate
  // allows 600 prediction creates a minute; fal documents no request rate (its limit is on
  // running requests; queued ones are accepted).
  {
    ProviderDescriptor p;  // fal.ai queue API: docs/queue-providers.md
    p.name = "fal";
    p.node_types = {{FalSpec, FalNodeKind}};
    p.pool_depth = 10;
    p.key = {FalProtocol().key_variable, {}, Kind::kSecret, ""};
    p.base_url = {"FAL_BASE_URL", {}, Kind::kUrl, "https://queue.fal.run"};
    p.estimate_cost = QueueCost;
    p.queue_protocol = Fal;
    p.submission_id = "requestId";
    rows.push_back(std::move(p));
  }
  {
    ProviderDescriptor p;  // Replicate predictions API: docs/queue-providers.md
    p.name = "replicate";
    p.node_types = {{ReplicateSpec, ReplicateNodeKind}};
    p.pool_depth = 10;
    p.pool_rate = 600.0 / 60;
    p.key = {ReplicateProtocol().key_variable, {}, Kind::kSecret, ""};
    p.base_url = {"REPLICATE_BASE_URL", {}, Kind::kUrl, "https://api.replicate.com"};
    p.estimate_cost = QueueCost;
    p.queue_protocol = Replicate;
    p.submission_id = "requestId";
    rows.push_back(std::move(p));
  }
  return rows;
}

}  // namespace

const std::vector<ProviderDescriptor>& Providers() {
  static const std::vector<ProviderDescriptor> kRows = BuildRows();
  return kRows;
}

const ProviderDescriptor* FindProvider(std::string_view name) {
  for (const ProviderDescriptor& p : Providers())
    if (p.name == name) return &p;
  return nullptr;
}

const ProviderDescriptor* ProviderOfType(std::string_view type) {
  // Per node of a workflow (preflight): the type names are read from the specs once.
  static const std::vector<std::pair<std::string, const ProviderDescriptor*>> kTypes = [] {
    std::vector<std::pair<std::string, const ProviderDescriptor*>> types;
    for (const ProviderDescriptor& p : Providers())
      for (const ProviderNodeType& t : p.node_types) types.emplace_back(t.spec().name, &p);
    return types;
  }();
  for (const auto& [name, row] : kTypes)
    if (name == type) return row;
  return nullptr;
}

std::vector<ConfigVariable> ProviderConfigVariables() {
  std::vector<ConfigVariable> out;
  auto add = [&](const ConfigVariable& v) {
    if (v.name.empty()) return;
    for (const ConfigVariable& o : out)
      if (o.name == v.name) return;
    out.push_back(v);
  };
  for (const ProviderDescriptor& p : Providers()) {
    add(p.key);
    add(p.base_url);
  }
  return out;
}

std::string ProviderKey(const Config& config, const ProviderDescriptor& provider) {
  return provider.key.name.empty() ? "" : config.Get(provider.key.name);
}

std::string ProviderBaseUrl(const Config& config, const ProviderDescriptor& provider) {
  if (provider.base_url.name.empty()) return "";
  std::string url = config.Get(provider.base_url.name);
  return TrimTrailingSlash(url.empty() ? provider.base_url.default_value : url);
}

std::string ProviderKey(const Config& config, std::string_view provider) {
  const ProviderDescriptor* p = FindProvider(provider);
  return p ? ProviderKey(config, *p) : "";
}

std::string ProviderBaseUrl(const Config& config, std::string_view provider) {
  const ProviderDescriptor* p = FindProvider(provider);
  return p ? ProviderBaseUrl(config, *p) : "";
}

std::string ProviderKeyVariable(std::string_view provider) {
  const ProviderDescriptor* p = FindProvider(provider);
  return p ? p->key.name : "";
}

std::string JournaledSubmissionId(const ProviderDescriptor& provider, const Json& submission) {
  if (provider.submission_id.empty() || !submission.is_object()) return "";
  if (JsonStringField(submission, "provider") != provider.name) return "";
  return JsonStringField(submission, provider.submission_id.c_str());
}

std::string MissingKeyMessage(const std::string& node_id, const std::vector<const ProviderDescriptor*>& providers) {
  std::string names, variables;
  for (const ProviderDescriptor* p : providers) {
    names += (names.empty() ? "" : " or ") + p->name;
    if (variables.find(p->key.name) == std::string::npos) variables += (variables.empty() ? "" : " or ") + p->key.name;
  }
  return fmt::format("node '{}' ({}) needs {}; set it in the environment or .env, or run with --offline", node_id,
                     names, variables);
}

}  // namespace comfyrun
