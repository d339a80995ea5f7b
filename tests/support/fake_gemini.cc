#include "support/fake_gemini.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "comfyrun/core/util.h"
#include "comfyrun/providers/provider_util.h"
#include "support/fake_sora.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
}

namespace comfyrun::testing {
namespace {

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "fake media: " << what << "\n";
  std::abort();
}

/// Fills a YUV420P frame with a moving gradient.
void Paint(AVFrame* f, int index) {
  for (int y = 0; y < f->height; ++y)
    for (int x = 0; x < f->width; ++x) f->data[0][y * f->linesize[0] + x] = uint8_t(x * 3 + y * 2 + index * 9);
  for (int y = 0; y < f->height / 2; ++y)
    for (int x = 0; x < f->width / 2; ++x) {
      f->data[1][y * f->linesize[1] + x] = uint8_t(128 + index * 5);
      f->data[2][y * f->linesize[2] + x] = uint8_t(64 + x);
    }
}

std::string MakePng() {
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
  if (!codec) Die("no PNG encoder");
  AVCodecContext* c = avcodec_alloc_context3(codec);
  c->width = 64;
  c->height = 64;
  c->pix_fmt = AV_PIX_FMT_RGB24;
  c->time_base = {1, 1};
  if (avcodec_open2(c, codec, nullptr) < 0) Die("cannot open the PNG encoder");
  AVFrame* f = av_frame_alloc();
  f->format = c->pix_fmt;
  f->width = c->width;
  f->height = c->height;
  av_frame_get_buffer(f, 0);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x) {
      uint8_t* p = f->data[0] + y * f->linesize[0] + x * 3;
      p[0] = uint8_t(x * 4);
      p[1] = uint8_t(y * 4);
      p[2] = 160;
    }
  AVPacket* pkt = av_packet_alloc();
  std::string out;
  if (avcodec_send_frame(c, f) < 0) Die("PNG encode");
  avcodec_send_frame(c, nullptr);
  while (avcodec_receive_packet(c, pkt) >= 0) {
    out.append(reinterpret_cast<char*>(pkt->data), pkt->size);
    av_packet_unref(pkt);
  }
  av_packet_free(&pkt);
  av_frame_free(&f);
  avcodec_free_context(&c);
  if (out.empty()) Die("empty PNG");
  return out;
}

std::string MakeMp4(int seconds) {
  namespace fs = std::filesystem;
  std::string path = (fs::temp_directory_path() /
                      ("comfyrun-fake-" + std::to_string(getpid()) + "-" + std::to_string(seconds) + ".mp4"))
                         .string();
  const int fps = 4;
  AVFormatContext* oc = nullptr;
  if (avformat_alloc_output_context2(&oc, nullptr, "mp4", path.c_str()) < 0) Die("mp4 muxer");
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
  if (!codec) Die("no MPEG-4 encoder");
  AVStream* st = avformat_new_stream(oc, nullptr);
  AVCodecContext* c = avcodec_alloc_context3(codec);
  c->width = 64;
  c->height = 36;
  c->pix_fmt = AV_PIX_FMT_YUV420P;
  c->time_base = {1, fps};
  c->framerate = {fps, 1};
  c->gop_size = fps;
  c->bit_rate = 50000;
  if (oc->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (avcodec_open2(c, codec, nullptr) < 0) Die("cannot open the MPEG-4 encoder");
  avcodec_parameters_from_context(st->codecpar, c);
  st->time_base = c->time_base;
  if (avio_open(&oc->pb, path.c_str(), AVIO_FLAG_WRITE) < 0) Die("cannot write " + path);
  if (avformat_write_header(oc, nullptr) < 0) Die("mp4 header");
  AVFrame* f = av_frame_alloc();
  f->format = c->pix_fmt;
  f->width = c->width;
  f->height = c->height;
  av_frame_get_buffer(f, 0);
  AVPacket* pkt = av_packet_alloc();
  auto drain = [&] {
    while (avcodec_receive_packet(c, pkt) >= 0) {
      av_packet_rescale_ts(pkt, c->time_base, st->time_base);
      pkt->stream_index = st->index;
      av_interleaved_write_frame(oc, pkt);
    }
  };
  for (int i = 0; i < seconds * fps; ++i) {
    av_frame_make_writable(f);
    Paint(f, i);
    f->pts = i;
    avcodec_send_frame(c, f);
    drain();
  }
  avcodec_send_frame(c, nullptr);
  drain();
  av_write_trailer(oc);
  avio_closep(&oc->pb);
  av_packet_free(&pkt);
  av_frame_free(&f);
  avcodec_free_context(&c);
  avformat_free_context(oc);
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::error_code ec;
  fs::remove(path, ec);
  if (ss.str().empty()) Die("empty MP4");
  return ss.str();
}

std::mutex media_mu;

Json GoogleError(int code, const std::string& status, const std::string& message, Json details = Json::array()) {
  Json e = {{"error", {{"code", code}, {"message", message}, {"status", status}}}};
  if (!details.empty()) e["error"]["details"] = details;
  return e;
}

LocalResponse Reply(int status, const Json& body) { return LocalResponse::Json(status, body.dump()); }

bool Contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

}  // namespace

const char* FakeFaultName(FakeFault fault) {
  switch (fault) {
    case FakeFault::kRateLimit:
      return "rate_limit";
    case FakeFault::kServerError:
      return "server_error";
    case FakeFault::kReset:
      return "reset";
    case FakeFault::kStall:
      return "stall";
    case FakeFault::kTruncate:
      return "truncate";
    case FakeFault::kMalformedJson:
      return "malformed_json";
    case FakeFault::kBadKey:
      return "bad_key";
    case FakeFault::kNotFound:
      return "not_found";
    case FakeFault::kBlocked:
      return "blocked";
  }
  return "?";
}

bool ParseFakeFault(const std::string& name, FakeFault* fault) {
  for (FakeFault f :
       {FakeFault::kRateLimit, FakeFault::kServerError, FakeFault::kReset, FakeFault::kStall, FakeFault::kTruncate,
        FakeFault::kMalformedJson, FakeFault::kBadKey, FakeFault::kNotFound, FakeFault::kBlocked})
    if (name == FakeFaultName(f)) {
      *fault = f;
      return true;
    }
  return false;
}

const std::string& FakePngBytes() {
  std::lock_guard<std::mutex> lock(media_mu);
  static std::string* png = new std::string(MakePng());
  return *png;
}

const std::string& FakeMp4Bytes(int seconds) {
  std::lock_guard<std::mutex> lock(media_mu);
  static auto* cache = new std::map<int, std::string>;
  auto it = cache->find(seconds);
  if (it == cache->end()) it = cache->emplace(seconds, MakeMp4(seconds)).first;
  return it->second;
}

FakeGemini::FakeGemini() : FakeGemini(Options()) {}

FakeGemini::FakeGemini(Options options) : options_(std::move(options)) {
  server_.Handle("POST", "/*", [this](const LocalRequest& r) { return HandlePost(r); });
  server_.Handle("GET", "/*", [this](const LocalRequest& r) { return HandleGet(r); });
  redirect_target_.Handle("GET", "/blob/*", [](const LocalRequest& r) {
    int seconds = std::atoi(r.path.substr(r.path.rfind('/') + 1).c_str());
    LocalResponse resp = LocalResponse::Text(200, FakeMp4Bytes(seconds > 0 ? seconds : 8));
    resp.headers = {{"Content-Type", "video/mp4"}};
    return resp;
  });
}

FakeGemini::~FakeGemini() = default;

void FakeGemini::AddFault(Endpoint endpoint, FakeFaultSpec fault, int times) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < times; ++i) faults_[endpoint].push_back(fault);
}

void FakeGemini::set_polls_until_done(int n) {
  std::lock_guard<std::mutex> lock(mu_);
  options_.polls_until_done = n;
}

void FakeGemini::set_redirect_downloads(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  options_.redirect_downloads = on;
}

int FakeGemini::submissions(const std::string& part) const {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const auto& [prompt, count] : submissions_)
    if (prompt.find(part) != std::string::npos) n += count;
  return n;
}

int FakeGemini::total_submissions() const { return submissions(""); }

int FakeGemini::polls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return polls_;
}

int FakeGemini::downloads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return downloads_;
}

Json FakeGemini::last_generate_body() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_generate_;
}

Json FakeGemini::last_predict_body() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_predict_;
}

bool FakeGemini::redirect_target_saw_key() const {
  for (const LocalRequest& r : redirect_target_.requests()) {
    if (r.HasHeader("x-goog-api-key") || r.HasQueryParam("key")) return true;
    if (r.target.find(options_.api_key) != std::string::npos) return true;
    for (const auto& [name, value] : r.headers)
      if (value.find(options_.api_key) != std::string::npos) return true;
  }
  return false;
}

void FakeGemini::ForgetOperations() {
  std::lock_guard<std::mutex> lock(mu_);
  operations_.clear();
}

Json FakeGemini::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Json subs = Json::object();
  int total = 0;
  for (const auto& [prompt, count] : submissions_) {
    subs[prompt] = count;
    total += count;
  }
  return {{"submissions", subs},
          {"totalSubmissions", total},
          {"polls", polls_},
          {"downloads", downloads_},
          {"redirectSawKey", redirect_target_saw_key()}};
}

bool FakeGemini::TakeFault(Endpoint endpoint, FakeFaultSpec* fault) {
  auto it = faults_.find(endpoint);
  if (it == faults_.end() || it->second.empty()) return false;
  *fault = it->second.front();
  it->second.erase(it->second.begin());
  return true;
}

bool FakeGemini::FaultReply(const FakeFaultSpec& f, LocalResponse* reply) const {
  switch (f.fault) {
    case FakeFault::kRateLimit: {
      Json details =
          Json::array({{{"@type", "type.googleapis.com/google.rpc.QuotaFailure"},
                        {"violations",
                         Json::array({{{"quotaMetric", "generativelanguage.googleapis.com/generate_requests_per_model"},
                                       {"quotaId", "GenerateRequestsPerMinutePerProjectPerModel"}}})}},
                       {{"@type", "type.googleapis.com/google.rpc.Help"}, {"links", Json::array()}},
                       {{"@type", "type.googleapis.com/google.rpc.RetryInfo"},
                        {"retryDelay", std::to_string(int(f.retry_after)) + "s"}}});
      *reply = Reply(
          429, GoogleError(429, "RESOURCE_EXHAUSTED",
                           "You exceeded your current quota, please check your plan and billing details.", details));
      return true;
    }
    case FakeFault::kServerError:
      *reply = Reply(500, GoogleError(500, "INTERNAL", "An internal error has occurred."));
      return true;
    case FakeFault::kReset:
      *reply = LocalResponse::Text(200, "");
      reply->mode = LocalResponse::Mode::kCloseNoReply;
      return true;
    case FakeFault::kStall:
      *reply = Reply(500, GoogleError(500, "INTERNAL", "stalled reply"));
      reply->delay = f.retry_after > 0 ? f.retry_after : 30;
      return true;
    case FakeFault::kMalformedJson:
      *reply = LocalResponse::Json(200, R"({"candidates": [{"content": {"parts": [)");
      return true;
    case FakeFault::kBadKey:
      *reply = Reply(400, GoogleError(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                                      Json::array({{{"@type", "type.googleapis.com/google.rpc.ErrorInfo"},
                                                    {"reason", "API_KEY_INVALID"},
                                                    {"domain", "googleapis.com"}}})));
      return true;
    case FakeFault::kNotFound:
      *reply = Reply(404, GoogleError(404, "NOT_FOUND", "Requested entity was not found."));
      return true;
    case FakeFault::kTruncate:
    case FakeFault::kBlocked:
      return false;  // shape the normal reply instead
  }
  return false;
}

bool FakeGemini::RefuseKey(const LocalRequest& r, LocalResponse* reply) const {
  std::string key = r.Header("x-goog-api-key");
  if (key.empty()) key = r.QueryParam("key");
  if (key == options_.api_key) return false;
  if (key.empty()) {
    *reply = Reply(403, GoogleError(403, "PERMISSION_DENIED",
                                    "Method doesn't allow unregistered callers (callers without established identity). "
                                    "Please use API Key or other form of API consumer identity to call this API."));
  } else {
    FaultReply({FakeFault::kBadKey}, reply);
  }
  return true;
}

LocalResponse FakeGemini::HandlePost(const LocalRequest& r) {
  if (StartsWith(r.path, "/_fake/")) return Control(r);
  const std::string prefix = "/v1beta/models/";
  size_t colon = r.path.rfind(':');
  if (!StartsWith(r.path, prefix) || colon == std::string::npos || colon < prefix.size())
    return Reply(404, GoogleError(404, "NOT_FOUND", "no such method"));
  std::string model = r.path.substr(prefix.size(), colon - prefix.size());
  std::string method = r.path.substr(colon + 1);
  LocalResponse refused;
  if (RefuseKey(r, &refused)) return refused;
  if (method == "generateContent") return Generate(r, model);
  if (method == "predictLongRunning") return Predict(r, model);
  return Reply(404, GoogleError(404, "NOT_FOUND", "no such method " + method));
}

LocalResponse FakeGemini::HandleGet(const LocalRequest& r) {
  if (StartsWith(r.path, "/_fake/")) return Control(r);
  LocalResponse refused;
  if (StartsWith(r.path, "/v1beta/files/")) {
    std::string id = r.path.substr(std::string("/v1beta/files/").size());
    if (size_t c = id.find(':'); c != std::string::npos) id = id.substr(0, c);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++downloads_;
    }
    if (RefuseKey(r, &refused)) return refused;
    return Download(r, id);
  }
  if (StartsWith(r.path, "/v1beta/") && r.path.find("/operations/") != std::string::npos) {
    if (RefuseKey(r, &refused)) return refused;
    return Poll(r, r.path.substr(std::string("/v1beta/").size()));
  }
  return Reply(404, GoogleError(404, "NOT_FOUND", "Requested entity was not found."));
}

LocalResponse FakeGemini::Generate(const LocalRequest& r, const std::string& model) {
  std::lock_guard<std::mutex> lock(mu_);
  FakeFaultSpec fault{};
  bool faulted = TakeFault(Endpoint::kGenerateContent, &fault);
  LocalResponse reply;
  if (faulted && FaultReply(fault, &reply)) return reply;
  bool retired = model == "gemini-2.5-flash-image-preview" || model == "gemini-3.1-flash-image-preview" ||
                 model == "gemini-3-pro-image-preview";
  if (retired || model.find("image") == std::string::npos || !StartsWith(model, "gemini"))
    return Reply(404, GoogleError(404, "NOT_FOUND",
                                  "models/" + model +
                                      " is not found for API version v1beta, or is "
                                      "not supported for generateContent."));
  auto body = ParseJsonBody(r.body);
  if (!body || !body->is_object() || !body->contains("contents"))
    return Reply(400, GoogleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received."));
  last_generate_ = *body;
  std::string prompt;
  try {
    for (const Json& part : (*body)["contents"][0]["parts"]) {
      if (part.contains("text") && prompt.empty()) prompt = part["text"].get<std::string>();
      if (part.contains("inlineData")) {
        auto bytes = Base64Decode(part["inlineData"]["data"].get<std::string>());
        if (!bytes || bytes->empty())
          return Reply(400, GoogleError(400, "INVALID_ARGUMENT", "Unable to process input image."));
      }
    }
  } catch (const std::exception&) {
    return Reply(400, GoogleError(400, "INVALID_ARGUMENT", "Invalid value at 'contents'."));
  }
  bool blocked = (faulted && fault.fault == FakeFault::kBlocked) || Contains(prompt, "[blocked]");
  if (blocked)
    return Reply(200, {{"promptFeedback", {{"blockReason", "SAFETY"}, {"safetyRatings", Json::array()}}},
                       {"modelVersion", model}});
  if (Contains(prompt, "[image-safety]"))
    return Reply(200, {{"candidates", Json::array({{{"content", {{"role", "model"}, {"parts", Json::array()}}},
                                                    {"finishReason", "IMAGE_SAFETY"},
                                                    {"index", 0}}})},
                       {"modelVersion", model}});
  if (Contains(prompt, "[no-image]"))
    return Reply(200, {{"candidates", Json::array({{{"content",
                                                     {{"role", "model"},
                                                      {"parts", Json::array({{{"text",
                                                                               "I can only describe "
                                                                               "that in words."}}})}}},
                                                    {"finishReason", "NO_IMAGE"},
                                                    {"index", 0}}})},
                       {"modelVersion", model}});
  ++submissions_[prompt];
  Json reply_body = {
      {"candidates",
       Json::array(
           {{{"content",
              {{"role", "model"},
               {"parts",
                Json::array({{{"text", "Here is the image."}},
                             {{"inlineData", {{"mimeType", "image/png"}, {"data", Base64Encode(FakePngBytes())}}}}})}}},
             {"finishReason", "STOP"},
             {"index", 0}}})},
      {"usageMetadata", {{"candidatesTokensDetails", Json::array({{{"modality", "IMAGE"}, {"tokenCount", 1290}}})}}},
      {"modelVersion", model}};
  reply = Reply(200, reply_body);
  if (faulted && fault.fault == FakeFault::kTruncate) reply.mode = LocalResponse::Mode::kTruncate;
  return reply;
}

LocalResponse FakeGemini::Predict(const LocalRequest& r, const std::string& model) {
  std::lock_guard<std::mutex> lock(mu_);
  FakeFaultSpec fault{};
  bool faulted = TakeFault(Endpoint::kPredict, &fault);
  LocalResponse reply;
  if (faulted && FaultReply(fault, &reply)) return reply;
  if (!StartsWith(model, "veo-") || StartsWith(model, "veo-2.0") || StartsWith(model, "veo-3.0"))
    return Reply(404, GoogleError(404, "NOT_FOUND",
                                  "models/" + model +
                                      " is not found for API version v1beta, or is "
                                      "not supported for predictLongRunning. Call ListModels to see "
                                      "the list of available models and their supported methods."));
  auto body = ParseJsonBody(r.body);
  Operation op;
  op.model = model;
  try {
    if (!body || !body->is_object()) throw std::runtime_error("json");
    const Json& inst = (*body)["instances"].at(0);
    op.prompt = inst.at("prompt").get<std::string>();
    if (inst.contains("image")) {
      auto bytes = Base64Decode(inst["image"].at("bytesBase64Encoded").get<std::string>());
      if (!bytes || bytes->empty() || !StartsWith(inst["image"].at("mimeType").get<std::string>(), "image/"))
        return Reply(400, GoogleError(400, "INVALID_ARGUMENT", "Unable to process input image."));
    }
    const Json& params = (*body)["parameters"];
    if (params.contains("durationSeconds")) {
      if (!params["durationSeconds"].is_number_integer())
        return Reply(400, GoogleError(400, "INVALID_ARGUMENT", "durationSeconds must be an integer."));
      op.seconds = params["durationSeconds"].get<int>();
    }
  } catch (const std::exception&) {
    return Reply(400, GoogleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received."));
  }
  if (op.seconds != 4 && op.seconds != 6 && op.seconds != 8)
    return Reply(400, GoogleError(400, "INVALID_ARGUMENT",
                                  "The number value for `durationSeconds` is out of bound. "
                                  "Please provide a value between 4 and 8, inclusive."));
  last_predict_ = *body;
  std::string id = "op" + std::to_string(next_id_++);
  if (faulted && fault.fault == FakeFault::kBlocked) blocked_ops_[id] = true;
  ++submissions_[op.prompt];
  operations_[id] = op;
  reply = Reply(200, {{"name", "models/" + model + "/operations/" + id}});
  if (faulted && fault.fault == FakeFault::kTruncate) reply.mode = LocalResponse::Mode::kTruncate;
  return reply;
}

LocalResponse FakeGemini::Poll(const LocalRequest&, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  ++polls_;
  FakeFaultSpec fault{};
  bool faulted = TakeFault(Endpoint::kOperation, &fault);
  LocalResponse reply;
  if (faulted && FaultReply(fault, &reply)) return reply;
  std::string id = name.substr(name.rfind('/') + 1);
  auto it = operations_.find(id);
  if (it == operations_.end()) return Reply(404, GoogleError(404, "NOT_FOUND", "Operation " + name + " not found."));
  Operation& op = it->second;
  ++op.polls;
  Json out = {{"name", name}};
  if (op.polls < options_.polls_until_done) {
    out["metadata"] = {{"@type", "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningMetadata"}};
  } else if (Contains(op.prompt, "[op-error]")) {
    out["done"] = true;
    out["error"] = {{"code", 3}, {"message", "The prompt could not be processed: unsupported request."}};
  } else if (blocked_ops_.count(id) || Contains(op.prompt, "[blocked]") || Contains(op.prompt, "[rai]")) {
    out["done"] = true;
    out["response"] = {
        {"@type", "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"},
        {"generateVideoResponse",
         {{"raiMediaFilteredCount", 1},
          {"raiMediaFilteredReasons",
           Json::array({"We encountered an issue with the audio for your prompt. You have not been charged."})}}}};
  } else {
    Json video;
    if (options_.inline_video)
      video = {{"encodedVideo", Base64Encode(FakeMp4Bytes(op.seconds))}, {"encoding", "video/mp4"}};
    else
      video = {{"uri", server_.url() + "/v1beta/files/" + id + ":download?alt=media"}};
    out["done"] = true;
    out["response"] = {{"@type", "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"},
                       {"generateVideoResponse", {{"generatedSamples", Json::array({{{"video", video}}})}}}};
  }
  reply = Reply(200, out);
  if (faulted && fault.fault == FakeFault::kTruncate) reply.mode = LocalResponse::Mode::kTruncate;
  return reply;
}

LocalResponse FakeGemini::Download(const LocalRequest&, const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  FakeFaultSpec fault{};
  bool faulted = TakeFault(Endpoint::kDownload, &fault);
  LocalResponse reply;
  if (faulted && FaultReply(fault, &reply)) return reply;
  auto it = operations_.find(id);
  if (it == operations_.end()) return Reply(404, GoogleError(404, "NOT_FOUND", "File " + id + " not found."));
  if (options_.redirect_downloads)
    return LocalResponse::Redirect(302, redirect_target_.url() + "/blob/" + std::to_string(it->second.seconds));
  reply = LocalResponse::Text(200, FakeMp4Bytes(it->second.seconds));
  reply.headers = {{"Content-Type", "video/mp4"}};
  if (faulted && fault.fault == FakeFault::kTruncate) reply.mode = LocalResponse::Mode::kTruncate;
  return reply;
}

LocalResponse FakeGemini::Control(const LocalRequest& r) {
  if (r.method == "GET" && r.path == "/_fake/stats") return Reply(200, Stats());
  if (r.method == "POST" && r.path == "/_fake/fault") {
    auto body = ParseJsonBody(r.body);
    FakeFault fault;
    if (!body || !body->is_object() || !ParseFakeFault(body->value("fault", ""), &fault))
      return Reply(400, {{"error", "want {endpoint, fault, times?, retryAfter?}"}});
    std::string ep = body->value("endpoint", "");
    Endpoint endpoint;
    if (ep == "generateContent")
      endpoint = Endpoint::kGenerateContent;
    else if (ep == "predictLongRunning")
      endpoint = Endpoint::kPredict;
    else if (ep == "operation")
      endpoint = Endpoint::kOperation;
    else if (ep == "download")
      endpoint = Endpoint::kDownload;
    else
      return Reply(400, {{"error", "endpoint: generateContent, predictLongRunning, operation or download"}});
    AddFault(endpoint, {fault, body->value("retryAfter", 7.0)}, body->value("times", 1));
    return Reply(200, {{"ok", true}});
  }
  if (r.method == "POST" && r.path == "/_fake/redirect") {
    auto body = ParseJsonBody(r.body);
    set_redirect_downloads(body && body->value("on", true));
    return Reply(200, {{"ok", true}});
  }
  return Reply(404, {{"error", "unknown control path"}});
}

int RunFakeServersForever(int port_gemini, int port_sora) {
  if (port_gemini != 0 || port_sora != 0) {
    std::cerr << "RunFakeServersForever: only port 0 (a free port) is supported\n";
    return 2;
  }
  FakeGemini gemini;
  FakeSora sora;
  Json line = {{"gemini", gemini.base_url()},
               {"sora", sora.base_url()},
               {"geminiKey", gemini.api_key()},
               {"soraKey", sora.api_key()}};
  std::cout << line.dump() << std::endl;
  while (true) std::this_thread::sleep_for(std::chrono::hours(1));
}

}  // namespace comfyrun::testing
