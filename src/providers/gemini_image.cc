// Gemini API image generation (PROVIDERS.md §1):
//   POST {base}/v1beta/models/{model}:generateContent   (x-goog-api-key)
//   {contents: [{role: "user", parts: [{text}, {inlineData: {mimeType, data}}...]}],
//    generationConfig: {responseModalities: ["TEXT", "IMAGE"], imageConfig: {aspectRatio, imageSize}}}
// The first image part of the first candidate is written to node_dir/image.{png,jpg,webp}.
// A reply without an image is ContentBlocked (promptFeedback.blockReason, or a safety
// finishReason) or NoImage (NO_IMAGE, text only), carrying the provider's reason.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "comfyrun/core/util.h"
#include "comfyrun/engine/retry.h"
#include "comfyrun/providers/jobs.h"
#include "comfyrun/providers/provider.h"
#include "comfyrun/providers/replies.h"

namespace comfyrun {
namespace {

/// finishReason values that mean the provider refused the content (FinishReason enum).
const std::set<std::string> kBlockedFinishReasons = {
    "SAFETY",    "IMAGE_SAFETY", "PROHIBITED_CONTENT", "IMAGE_PROHIBITED_CONTENT",
    "BLOCKLIST", "SPII",         "RECITATION",         "IMAGE_RECITATION"};

const char* kPreserveInstruction =
    "Keep the person's face, facial features, hairstyle and clothing exactly as in the reference image.";

class GeminiImageJob : public RemoteJob {
 public:
  GeminiImageJob(std::shared_ptr<NodeContext> ctx, ModelInfo model, ImageRequest request, Done done)
      : RemoteJob(std::move(ctx), std::move(done)), model_(std::move(model)), request_(std::move(request)) {}

 protected:
  void Begin() override {
    base_ = ProviderBaseUrl(*ctx_->config, "gemini");
    key_ = ProviderKey(*ctx_->config, "gemini");
    if (key_.empty()) {
      Finish(Tag(NodeResult::Failure(ErrorType::kAuth, fmt::format("no Gemini API key: set {} in the environment or "
                                                                   ".env, or run with --offline",
                                                                   ProviderKeyVariable("gemini")))));
      return;
    }
    auto self = std::static_pointer_cast<GeminiImageJob>(shared_from_this());
    OffLoop([self] {
      Json parts = Json::array({{{"text", self->request_.prompt}}});
      for (const std::string& path : self->request_.reference_images) {
        std::string bytes, err;
        if (!ReadFile(path, &bytes, &err)) {
          self->Finish(self->Tag(NodeResult::Failure(ErrorType::kInvalidInput,
                                                     fmt::format("reading reference image {}: {}", Quote(path), err))));
          return;
        }
        parts.push_back(
            {{"inlineData", {{"mimeType", GuessMimeType(path, bytes.substr(0, 16))}, {"data", Base64Encode(bytes)}}}});
      }
      Json generation = {{"responseModalities", Json::array({"TEXT", "IMAGE"})}};
      Json image_config = Json::object();
      if (!self->request_.aspect_ratio.empty()) image_config["aspectRatio"] = self->request_.aspect_ratio;
      if (!self->request_.image_size.empty()) image_config["imageSize"] = self->request_.image_size;
      if (!image_config.empty()) generation["imageConfig"] = image_config;
      Json body = {{"contents", Json::array({{{"role", "user"}, {"parts", parts}}})}, {"generationConfig", generation}};
      std::string text = body.dump();
      self->OnLoop([self, text = std::move(text)]() mutable { self->Submit(std::move(text)); });
    });
  }

 private:
  NodeResult Tag(NodeResult r, bool charged = false) const {
    r.provider = "gemini";
    r.model = model_.id;
    r.cost = charged ? EstimateGenerationCost(model_, 0, "") : 0;
    return r;
  }

  void Submit(std::string body) {
    HttpRequest r;
    r.method = "POST";
    r.url = fmt::format("{}/v1beta/models/{}:generateContent", base_, model_.id);
    r.headers = {{"x-goog-api-key", key_}, {"Content-Type", "application/json"}};
    r.secret_headers = {"x-goog-api-key"};
    r.secret_query_params = {"key"};
    r.body = std::move(body);
    // The reply comes when the image is made: allow a slow model, but not a dead connection.
    r.timeout = RequestTimeout(300);
    r.stall_timeout = RequestTimeout(180);
    ctx_->Progress("gemini: generating");
    auto self = std::static_pointer_cast<GeminiImageJob>(shared_from_this());
    Send(std::move(r), [self](HttpResponse resp) {
      if (!resp.ok()) {
        self->Finish(self->Tag(GeminiHttpFailure(resp, "gemini generateContent " + self->model_.id, self->model_.id)));
        return;
      }
      // Parsing and base64-decoding megabytes of image is blocking work: off the loop.
      self->OffLoop([self, body = std::move(resp.body)] { self->HandleReply(body); });
    });
  }

  /// Worker thread.
  void HandleReply(const std::string& text) {
    std::string what = "gemini generateContent " + model_.id;
    GeminiImageReply reply = ParseGeminiImageReply(text, what);
    if (reply.data.empty()) {
      Finish(Tag(std::move(reply.failure)));
      return;
    }
    const std::string& mime = reply.mime_type;
    auto bytes = Base64Decode(reply.data);
    if (!bytes || bytes->empty()) {
      NodeResult f = NodeResult::Failure(ErrorType::kOutputInvalid, what + ": the image data is not base64");
      MarkRegenerates(&f, !SeedFixed(ctx_->inputs));  // a new call makes a new image
      Finish(Tag(std::move(f), true));
      return;
    }
    std::string path = (std::filesystem::path(ctx_->node_dir) / ("image" + ImageExtensionFor(mime))).string();
    std::string err;
    if (!WriteFileAtomic(path, *bytes, &err)) {
      Finish(Tag(NodeResult::Failure(ErrorType::kInternal, fmt::format("writing {}: {}", path, err)), true));
      return;
    }
    int width = 0, height = 0;
    if (!CheckImageFile(path, &width, &height, &err)) {
      NodeResult f =
          NodeResult::Failure(ErrorType::kOutputInvalid, fmt::format("{}: the image does not decode: {}", what, err));
      MarkRegenerates(&f, !SeedFixed(ctx_->inputs));
      Finish(Tag(std::move(f), true));
      return;
    }
    std::error_code ec;
    std::string abs = std::filesystem::absolute(path, ec).string();
    NodeResult r =
        Tag(NodeResult::Success({{"characterImagePath", abs}, {"imagePath", abs}, {"mimeType", mime}}), true);
    r.outputs["cost"] = r.cost;
    r.outputs["model"] = r.model;
    r.outputs["provider"] = r.provider;
    r.details = {{"width", width}, {"height", height}};
    Finish(std::move(r));
  }

  ModelInfo model_;
  ImageRequest request_;
  std::string base_;
  std::string key_;
};

}  // namespace

GeminiImageReply ParseGeminiImageReply(const std::string& text, const std::string& what) {
  GeminiImageReply out;
  auto body = ParseJsonBody(text);
  if (!body || !body->is_object()) {
    out.failure = NodeResult::Failure(ErrorType::kUnavailable, what + ": malformed JSON in the reply");
    return out;
  }
  const Json& reply = *body;
  if (reply.contains("promptFeedback") && reply["promptFeedback"].is_object() &&
      reply["promptFeedback"].contains("blockReason")) {
    std::string reason = reply["promptFeedback"]["blockReason"].is_string()
                             ? reply["promptFeedback"]["blockReason"].get<std::string>()
                             : "unspecified";
    NodeResult f = NodeResult::Failure(ErrorType::kContentBlocked,
                                       fmt::format("{}: the prompt was blocked (blockReason {})", what, reason));
    f.details = {{"blockReason", reason}};
    out.failure = std::move(f);
    return out;
  }
  std::string finish_reason, texts, mime, data;
  if (reply.contains("candidates") && reply["candidates"].is_array()) {
    for (const Json& cand : reply["candidates"]) {
      if (!cand.is_object()) continue;
      if (finish_reason.empty() && cand.contains("finishReason") && cand["finishReason"].is_string())
        finish_reason = cand["finishReason"].get<std::string>();
      if (!cand.contains("content") || !cand["content"].is_object() || !cand["content"].contains("parts") ||
          !cand["content"]["parts"].is_array())
        continue;
      for (const Json& part : cand["content"]["parts"]) {
        if (!part.is_object()) continue;
        const Json* inline_data = part.contains("inlineData")    ? &part["inlineData"]
                                  : part.contains("inline_data") ? &part["inline_data"]
                                                                 : nullptr;
        if (inline_data && inline_data->is_object() && data.empty()) {
          // Not value(): it throws when mimeType is not a string (found by tests/fuzz).
          std::string m = JsonStringField(*inline_data, "mimeType");
          if (m.empty()) m = JsonStringField(*inline_data, "mime_type");
          if (StartsWith(m, "image/") && (*inline_data).contains("data") && (*inline_data)["data"].is_string()) {
            mime = m;
            data = (*inline_data)["data"].get<std::string>();
          }
        } else if (part.contains("text") && part["text"].is_string()) {
          const std::string& t = part["text"].get_ref<const std::string&>();
          // Some relays return the image as a data URL in a text part.
          if (data.empty() && StartsWith(t, "data:image/") && t.find(";base64,") != std::string::npos) {
            mime = t.substr(5, t.find(';') - 5);
            data = t.substr(t.find(";base64,") + 8);
          } else {
            texts += (texts.empty() ? "" : " ") + t;
          }
        }
      }
    }
  }
  if (data.empty()) {
    std::string said = texts.size() > 200 ? texts.substr(0, 200) + "..." : texts;
    NodeResult f;
    if (kBlockedFinishReasons.count(finish_reason)) {
      f = NodeResult::Failure(ErrorType::kContentBlocked,
                              fmt::format("{}: the image was blocked (finishReason {}){}", what, finish_reason,
                                          said.empty() ? "" : ": " + said));
    } else {
      f = NodeResult::Failure(ErrorType::kNoImage,
                              fmt::format("{}: the model answered without an image{}{}", what,
                                          finish_reason.empty() ? "" : " (finishReason " + finish_reason + ")",
                                          said.empty() ? "" : ": " + said));
    }
    f.details = {{"finishReason", finish_reason}};
    if (!texts.empty()) f.details["text"] = said;
    out.failure = std::move(f);
    return out;
  }
  out.mime_type = std::move(mime);
  out.data = std::move(data);
  return out;
}

bool ParseImageRequest(const Json& in, ImageRequest* req, std::string* err) {
  auto str = [&](const char* key) -> std::string {
    return in.contains(key) && in[key].is_string() ? in[key].get<std::string>() : std::string();
  };
  req->prompt = str("characterPrompt");
  if (Trim(req->prompt).empty()) req->prompt = str("prompt");
  if (Trim(req->prompt).empty()) {
    *err = "characterPrompt (or prompt) is empty";
    return false;
  }
  auto add = [&](const std::string& path) {
    if (path.empty()) return;
    for (const auto& p : req->reference_images)
      if (p == path) return;
    req->reference_images.push_back(path);
  };
  if (in.contains("referenceImages") && in["referenceImages"].is_array()) {
    for (const Json& r : in["referenceImages"]) {
      if (r.is_string())
        add(r.get<std::string>());
      else if (r.is_object() && r.contains("path") && r["path"].is_string())
        add(r["path"].get<std::string>());
      else if (r.is_object() && r.contains("imagePath") && r["imagePath"].is_string())
        add(r["imagePath"].get<std::string>());
    }
  }
  for (const char* key : {"referenceImage", "characterImagePath", "imagePath"}) add(str(key));
  for (const auto& path : req->reference_images) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      *err = fmt::format("reference image {} does not exist", Quote(path));
      return false;
    }
  }
  if (in.value("preserveFeatures", false) == true && !req->reference_images.empty())
    req->prompt += std::string("\n\n") + kPreserveInstruction;
  req->aspect_ratio = str("aspectRatio");
  req->image_size = str("imageSize");
  return true;
}

std::shared_ptr<RemoteJob> MakeGeminiImageJob(std::shared_ptr<NodeContext> ctx, ModelInfo model, ImageRequest request,
                                              RemoteJob::Done done) {
  return std::make_shared<GeminiImageJob>(std::move(ctx), std::move(model), std::move(request), std::move(done));
}

}  // namespace comfyrun
