// Implementation details: the queue advances lazily. Every request first calls Advance(now),
// which completes the running prompts whose end time has passed (in end-time order) and
// starts pending ones at the moment a slot freed, so the result is the same as a server with
// a real clock, without a background thread.
#include "support/fake_comfyui.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "comfyrun/core/util.h"
#include "support/fake_comfyui_internal.h"
#include "support/local_server.h"
#include "support/local_websocket.h"

namespace comfyrun::testing {
namespace fake_comfyui_internal {

double Now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string ContentTypeFor(const std::string& name) {
  if (EndsWith(name, ".png")) return "image/png";
  if (EndsWith(name, ".mp4")) return "video/mp4";
  if (EndsWith(name, ".flac")) return "audio/flac";
  if (EndsWith(name, ".webp")) return "image/webp";
  return "application/octet-stream";
}

Json ErrorObj(const std::string& type, const std::string& message, const std::string& details, Json extra) {
  return Json{{"type", type}, {"message", message}, {"details", details}, {"extra_info", extra}};
}

const std::map<std::string, ClassSpec>& Classes() {
  using K = InputSpec::Kind;
  static const std::map<std::string, ClassSpec> classes = {
      {"EmptyImage",
       {{{"width", K::kInt, 1, 16384},
         {"height", K::kInt, 1, 16384},
         {"batch_size", K::kInt, 1, 4096},
         {"color", K::kInt, 0, 16777215}}}},
      {"ImageInvert", {{{"image", K::kLink}}}},
      {"ImageBlur", {{{"image", K::kLink}, {"blur_radius", K::kInt, 1, 31}, {"sigma", K::kFloat, 0.1, 10.0}}}},
      {"ImageScale",
       {{{"image", K::kLink},
         {"upscale_method", K::kString},
         {"width", K::kInt, 0, 16384},
         {"height", K::kInt, 0, 16384},
         {"crop", K::kString}}}},
      {"LoadImage", {{{"image", K::kUploadedFile}}}},
      {"LoadAudio", {{{"audio", K::kUploadedFile}}}},
      {"ReActorFaceSwap", {{{"input_image", K::kLink}, {"source_image", K::kLink}}}},
      {"CreateVideo", {{{"images", K::kLink}, {"fps", K::kFloat, 1, 120}}}},
      {"SaveImage", {{{"images", K::kLink}, {"filename_prefix", K::kString}}, true}},
      {"PreviewImage", {{{"images", K::kLink}}, true}},
      {"SaveVideo", {{{"video", K::kLink}, {"filename_prefix", K::kString}}, true}},
      {"SaveAudio", {{{"audio", K::kLink}, {"filename_prefix", K::kString}}, true}},
  };
  return classes;
}

std::string NewUuidForFake() {
  std::string h = RandomHex(32);
  h[12] = '4';
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

std::string FormatNumber(const Json& v) {
  if (v.is_number_float()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.1f", v.get<double>());
    return buf;
  }
  return v.dump();
}

LocalResponse JsonReply(int status, const Json& body) {
  LocalResponse r;
  r.status = status;
  r.headers = {{"Content-Type", "application/json; charset=utf-8"}};
  r.body = body.dump();
  return r;
}

LocalResponse Bare(int status) {
  LocalResponse r;
  r.status = status;
  return r;
}

}  // namespace fake_comfyui_internal

using namespace fake_comfyui_internal;

FakeComfyui::FakeComfyui() : FakeComfyui(Options{}) {}
FakeComfyui::FakeComfyui(Options options) : options_(options) {}

FakeComfyui::~FakeComfyui() {
  Stop();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ticker_ = true;
  }
  ticker_cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  std::vector<std::shared_ptr<LocalWebSocket>> retired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    retired.swap(retired_);
  }
  retired.clear();  // joins their threads, outside mu_
}

bool FakeComfyui::Start() {
  if (server_) return true;
  server_ = std::make_unique<LocalServer>();
  port_ = server_->port();
  Install(*server_);
  return true;
}

void FakeComfyui::Stop() {
  server_.reset();
  // A server that is down has no sockets either.
  std::vector<std::shared_ptr<LocalWebSocket>> retired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!sockets_.empty()) RetireSocket(sockets_.begin()->first, /*drop=*/true);
    retired.swap(retired_);
  }
  retired.clear();
}

void FakeComfyui::Forget() {
  std::lock_guard<std::mutex> lock(mu_);
  pending_.clear();
  running_.clear();
  finishing_.clear();
  history_.clear();
  history_order_.clear();
  cache_.clear();
  // A restarted server has dropped its WebSocket connections too.
  while (!sockets_.empty()) RetireSocket(sockets_.begin()->first, /*drop=*/true);
}

bool FakeComfyui::running() const { return server_ != nullptr; }

void FakeComfyui::SetRunSeconds(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  options_.run_seconds = seconds;
}

void FakeComfyui::SetFault(Fault fault, int count) {
  std::lock_guard<std::mutex> lock(mu_);
  fault_ = fault;
  fault_count_ = count;
}

void FakeComfyui::SetPromptReplyDelay(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_reply_delay_ = seconds;
}

void FakeComfyui::LosePrompts(int count) {
  std::lock_guard<std::mutex> lock(mu_);
  lose_prompts_ = count;
}

void FakeComfyui::SetWebSocketEnabled(bool enabled) {
  std::lock_guard<std::mutex> lock(mu_);
  ws_enabled_ = enabled;
}

void FakeComfyui::DropWebSocketMidPrompt(int count) {
  std::lock_guard<std::mutex> lock(mu_);
  drop_mid_prompt_ = count;
}

void FakeComfyui::DropWebSockets() {
  std::lock_guard<std::mutex> lock(mu_);
  while (!sockets_.empty()) RetireSocket(sockets_.begin()->first, /*drop=*/true);
}

void FakeComfyui::BroadcastWs(const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [sid, ws] : sockets_) ws->SendText(text);
}

void FakeComfyui::SetHistoryLag(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  history_lag_ = seconds;
}

int FakeComfyui::ws_open() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(sockets_.size());
}

#define FAKE_COUNTER(name)                 \
  int FakeComfyui::name() const {          \
    std::lock_guard<std::mutex> lock(mu_); \
    return name##_;                        \
  }
FAKE_COUNTER(prompts_submitted)
FAKE_COUNTER(prompts_rejected)
FAKE_COUNTER(max_running)
FAKE_COUNTER(max_outstanding)
FAKE_COUNTER(interrupts)
FAKE_COUNTER(queue_deletes)
FAKE_COUNTER(uploads)
FAKE_COUNTER(ws_connections)
FAKE_COUNTER(ws_events)
FAKE_COUNTER(history_requests)
FAKE_COUNTER(prompts_lost)
#undef FAKE_COUNTER

int FakeComfyui::running_now() const {
  std::lock_guard<std::mutex> lock(mu_);
  const_cast<FakeComfyui*>(this)->Advance(Now());
  return static_cast<int>(running_.size());
}

int FakeComfyui::pending_now() const {
  std::lock_guard<std::mutex> lock(mu_);
  const_cast<FakeComfyui*>(this)->Advance(Now());
  return static_cast<int>(pending_.size());
}

std::vector<std::string> FakeComfyui::prompt_ids() const {
  std::lock_guard<std::mutex> lock(mu_);
  return prompt_ids_;
}

Json FakeComfyui::last_prompt() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_prompt_;
}

std::vector<std::string> FakeComfyui::uploaded_names() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (auto& [name, bytes] : inputs_) names.push_back(name);
  return names;
}

// ---- queue simulation (mu_ held) ----

void FakeComfyui::StartPending(double at) {
  while (static_cast<int>(running_.size()) < options_.slots && !pending_.empty()) {
    auto it = std::min_element(pending_.begin(), pending_.end(),
                               [](const Prompt& a, const Prompt& b) { return a.number < b.number; });
    Prompt p = std::move(*it);
    pending_.erase(it);
    p.start = at;
    p.end = at + options_.run_seconds;
    if (fault_ != Fault::kNone && fault_count_ != 0) {
      p.fault = fault_;
      if (fault_count_ > 0 && --fault_count_ == 0) fault_ = Fault::kNone;
    }
    if (drop_mid_prompt_ > 0) {
      p.ws_drop = true;
      --drop_mid_prompt_;
    }
    running_.push_back(std::move(p));
    max_running_ = std::max(max_running_, static_cast<int>(running_.size()));
    // The transcript's opening: status, execution_start, execution_cached, executing.
    Prompt& r = running_.back();
    int64_t ts = NowUnixMs();
    EmitStatus(r);
    Emit(r, "execution_start", Json{{"prompt_id", r.id}, {"timestamp", ts}});
    bool cached = r.fault == Fault::kNone && cache_.count(r.graph.dump());
    Json nodes = Json::array();
    for (auto it = r.graph.begin(); it != r.graph.end(); ++it) {
      if (cached) nodes.push_back(it.key());
      std::string cls = it.value().value("class_type", "");
      if (r.ws_node.empty() && Classes().count(cls) && !Classes().at(cls).output) r.ws_node = it.key();
    }
    Emit(r, "execution_cached", Json{{"nodes", nodes}, {"prompt_id", r.id}, {"timestamp", ts}});
    if (!cached && !r.ws_node.empty())
      Emit(r, "executing", Json{{"node", r.ws_node}, {"display_node", r.ws_node}, {"prompt_id", r.id}});
  }
}

void FakeComfyui::Advance(double now) {
  for (;;) {
    auto first = std::min_element(running_.begin(), running_.end(),
                                  [](const Prompt& a, const Prompt& b) { return a.end < b.end; });
    if (first == running_.end() || first->end > now) break;
    Prompt p = std::move(*first);
    running_.erase(first);
    Complete(p, p.end);
    StartPending(p.end);
  }
  StartPending(now);
  while (!finishing_.empty() && finishing_.front().visible_at <= now) {
    Finishing f = std::move(finishing_.front());
    finishing_.pop_front();
    Commit(f.prompt, std::move(f.entry));
  }
  Tick(now);
}

void FakeComfyui::Emit(const Prompt& p, const std::string& type, Json data) {
  // Like the real server: per-prompt events go only to the socket of the prompt's client_id.
  if (p.ws_muted || !p.extra.is_object() || !p.extra.contains("client_id") || !p.extra["client_id"].is_string()) return;
  auto it = sockets_.find(p.extra["client_id"].get<std::string>());
  if (it == sockets_.end()) return;
  it->second->SendText(Json{{"type", type}, {"data", std::move(data)}}.dump());
  ws_events_++;
}

void FakeComfyui::EmitStatus(const Prompt& p) {
  if (p.ws_muted) return;
  // A broadcast, to every socket (no sid).
  size_t remaining = running_.size() + pending_.size() + finishing_.size();
  std::string text =
      Json{{"type", "status"}, {"data", {{"status", {{"exec_info", {{"queue_remaining", remaining}}}}}}}}.dump();
  for (auto& [sid, ws] : sockets_) ws->SendText(text);
}

void FakeComfyui::Tick(double now) {
  for (Prompt& p : running_) {
    if (p.ws_muted || p.ws_node.empty()) continue;
    double span = p.end - p.start;
    double frac = span > 0 ? (now - p.start) / span : 1;
    if (p.ws_drop && frac >= 0.5) {
      p.ws_muted = true;
      if (p.extra.contains("client_id") && p.extra["client_id"].is_string())
        RetireSocket(p.extra["client_id"].get<std::string>(), /*drop=*/true);
      continue;
    }
    int steps = std::max(1, options_.progress_steps);
    int value = std::clamp(static_cast<int>(frac * steps), 0, steps);
    if (value <= p.ws_step) continue;
    p.ws_step = value;
    Emit(p, "progress", Json{{"value", value}, {"max", steps}, {"prompt_id", p.id}, {"node", p.ws_node}});
    Emit(p, "progress_state",
         Json{{"prompt_id", p.id},
              {"nodes",
               {{p.ws_node,
                 {{"value", value},
                  {"max", steps},
                  {"state", "running"},
                  {"node_id", p.ws_node},
                  {"prompt_id", p.id},
                  {"display_node_id", p.ws_node},
                  {"parent_node_id", nullptr},
                  {"real_node_id", p.ws_node}}}}}});
  }
}

void FakeComfyui::RetireSocket(const std::string& sid, bool drop) {
  auto it = sockets_.find(sid);
  if (it == sockets_.end()) return;
  if (drop) it->second->Drop();
  retired_.push_back(std::move(it->second));
  sockets_.erase(it);
}

void FakeComfyui::AcceptSocket(int fd, const LocalRequest& request, std::string leftover, const std::string& sid) {
  std::lock_guard<std::mutex> lock(mu_);
  // The socket's thread may close before this returns: its on_close waits for mu_, and finds
  // itself registered by then.
  auto self = std::make_shared<LocalWebSocket*>(nullptr);
  LocalWebSocket::Handlers h;
  h.on_close = [this, sid, self] {
    std::lock_guard<std::mutex> l(mu_);
    auto it = sockets_.find(sid);
    // The real server pops the sid whatever socket holds it now (server.py's `finally`);
    // here only its own registration goes, which keeps tests free of that race.
    if (it != sockets_.end() && it->second.get() == *self) RetireSocket(sid, /*drop=*/false);
  };
  auto ws = std::make_shared<LocalWebSocket>(fd, request, std::move(leftover), std::move(h));
  *self = ws.get();
  // A second connection with the same clientId replaces the first, which stays open but
  // gets nothing more (as in server.py).
  if (sockets_.count(sid)) RetireSocket(sid, /*drop=*/false);
  sockets_[sid] = ws;
  ws_connections_++;
  Advance(Now());
  size_t remaining = running_.size() + pending_.size() + finishing_.size();
  ws->SendText(
      Json{{"type", "status"}, {"data", {{"status", {{"exec_info", {{"queue_remaining", remaining}}}}}, {"sid", sid}}}}
          .dump());
  if (!ticker_.joinable()) ticker_ = std::thread([this] { TickerLoop(); });
}

void FakeComfyui::TickerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_ticker_) {
    Advance(Now());
    std::vector<std::shared_ptr<LocalWebSocket>> retired;
    retired.swap(retired_);
    lock.unlock();
    retired.clear();  // joins closed sockets' threads without holding mu_
    lock.lock();
    ticker_cv_.wait_for(lock, std::chrono::milliseconds(10), [this] { return stop_ticker_; });
  }
}

Json FakeComfyui::QueueItem(const Prompt& p) const {
  return Json::array({p.number, p.id, p.graph, p.extra, p.outputs_to_execute});
}

Json FakeComfyui::RunOutputs(const Prompt& p, bool* cached) {
  std::string key = p.graph.dump();
  *cached = false;
  if (p.fault == Fault::kNone) {
    auto hit = cache_.find(key);
    if (hit != cache_.end()) {
      *cached = true;
      return hit->second;
    }
  }
  int width = 64, height = 48;
  uint32_t color = 0x336699;
  for (auto it = p.graph.begin(); it != p.graph.end(); ++it) {
    if (it.value().value("class_type", "") != "EmptyImage") continue;
    const Json& in = it.value()["inputs"];
    if (in.value("width", Json()).is_number()) width = std::clamp(in["width"].get<int>(), 1, 512);
    if (in.value("height", Json()).is_number()) height = std::clamp(in["height"].get<int>(), 1, 512);
    if (in.value("color", Json()).is_number()) color = in["color"].get<uint32_t>() ^ 0xFFFFFF;  // inverted
  }
  bool tiny = p.fault == Fault::kTinyOutput;
  bool lose = p.fault == Fault::kLoseOutput;
  Json outputs = Json::object();
  for (const Json& id_json : p.outputs_to_execute) {
    std::string id = id_json.get<std::string>();
    const Json& node = p.graph[id];
    std::string cls = node.value("class_type", "");
    const Json& in = node.contains("inputs") ? node["inputs"] : Json::object();
    std::string default_prefix = cls == "SaveVideo"   ? "video/ComfyUI"
                                 : cls == "SaveAudio" ? "audio/ComfyUI"
                                                      : "ComfyUI";
    std::string prefix = in.value("filename_prefix", default_prefix);
    std::string subfolder, base = prefix;
    if (size_t slash = prefix.rfind('/'); slash != std::string::npos) {
      subfolder = prefix.substr(0, slash);
      base = prefix.substr(slash + 1);
    }
    std::string type = "output";
    std::string ext = cls == "SaveVideo" ? ".mp4" : cls == "SaveAudio" ? ".flac" : ".png";
    if (cls == "PreviewImage") {
      type = "temp";
      subfolder.clear();
      base = "ComfyUI_temp_" + RandomHex(5);
    }
    char num[16];
    std::snprintf(num, sizeof num, "%05d", ++counters_[type + "/" + prefix]);
    std::string filename = base + "_" + num + "_" + ext;
    std::string bytes;
    if (ext == ".png") bytes = tiny ? MakeUncompressedPng(2, 2, color) : MakeUncompressedPng(width, height, color);
    if (ext == ".png" && p.fault == Fault::kSmallPng) bytes = MakeCompressedPng(64, 64, color, 438);
    if (ext == ".mp4") bytes = tiny ? FixtureMp4().substr(0, 500) : FixtureMp4();
    if (p.fault == Fault::kCorruptOutput) {
      // Well above any old byte floor, and no decoder takes it: only decoding catches it.
      if (ext == ".png") bytes = MakeUncompressedPng(width, height, color).substr(0, 2048) + std::string(2048, '\x5a');
      if (ext == ".mp4") bytes = FixtureMp4().substr(0, 64) + std::string(20000, '\x5a');
    }
    if (ext == ".flac") bytes = "fLaC" + std::string(tiny ? 10 : 4000, '\x01');
    if (!lose) files_[type + "/" + subfolder + "/" + filename] = bytes;
    Json item = {{"filename", filename}, {"subfolder", subfolder}, {"type", type}};
    if (cls == "SaveVideo") {
      outputs[id] = Json{{"images", Json::array({item})}, {"animated", Json::array({true})}};
    } else if (cls == "SaveAudio") {
      outputs[id] = Json{{"audio", Json::array({item})}};
    } else {
      outputs[id] = Json{{"images", Json::array({item})}};
    }
  }
  if (p.fault == Fault::kNone) cache_[key] = outputs;
  return outputs;
}

void FakeComfyui::Complete(const Prompt& p, double at) {
  (void)at;
  int64_t ts = NowUnixMs();
  Json messages = Json::array();
  messages.push_back(Json::array({"execution_start", Json{{"prompt_id", p.id}, {"timestamp", ts}}}));
  bool cached = false;
  Json outputs = Json::object();
  Json status;
  Json meta = Json::object();
  std::vector<std::string> ids;
  for (auto it = p.graph.begin(); it != p.graph.end(); ++it) ids.push_back(it.key());
  if (p.interrupted || p.fault == Fault::kExecutionError || p.fault == Fault::kNoFace) {
    messages.push_back(
        Json::array({"execution_cached", Json{{"nodes", Json::array()}, {"prompt_id", p.id}, {"timestamp", ts}}}));
    // The node that fails: a face node for no-face, else the first non-output node.
    std::string node = ids.empty() ? "" : ids.front();
    for (const std::string& id : ids) {
      std::string cls = p.graph[id].value("class_type", "");
      bool is_output = Classes().count(cls) && Classes().at(cls).output;
      if (p.fault == Fault::kNoFace ? cls.find("Face") != std::string::npos : !is_output) {
        node = id;
        break;
      }
    }
    std::string node_type = node.empty() ? "" : p.graph[node].value("class_type", "");
    if (p.interrupted) {
      messages.push_back(Json::array({"execution_interrupted", Json{{"prompt_id", p.id},
                                                                    {"node_id", node},
                                                                    {"node_type", node_type},
                                                                    {"executed", Json::array()},
                                                                    {"timestamp", ts}}}));
    } else {
      bool face = p.fault == Fault::kNoFace;
      messages.push_back(
          Json::array({"execution_error",
                       Json{{"prompt_id", p.id},
                            {"node_id", node},
                            {"node_type", node_type},
                            {"executed", Json::array()},
                            {"exception_message", face ? "No face detected in the source image"
                                                       : "CUDA out of memory. Tried to allocate 2.00 GiB"},
                            {"exception_type", face ? "Exception" : "torch.OutOfMemoryError"},
                            {"traceback", Json::array({"  File \"comfyui/execution.py\", line 496, in execute\n"})},
                            {"current_inputs", Json::object()},
                            {"current_outputs", Json::object()},
                            {"timestamp", ts}}}));
    }
    status = Json{{"status_str", "error"}, {"completed", false}, {"messages", messages}};
  } else {
    outputs = RunOutputs(p, &cached);
    Json cached_nodes = Json::array();
    if (cached)
      for (const std::string& id : ids) cached_nodes.push_back(id);
    messages.push_back(
        Json::array({"execution_cached", Json{{"nodes", cached_nodes}, {"prompt_id", p.id}, {"timestamp", ts}}}));
    messages.push_back(Json::array({"execution_success", Json{{"prompt_id", p.id}, {"timestamp", ts}}}));
    status = Json{{"status_str", "success"}, {"completed", true}, {"messages", messages}};
    for (auto it = outputs.begin(); it != outputs.end(); ++it) {
      meta[it.key()] =
          Json{{"node_id", it.key()}, {"display_node", it.key()}, {"parent_node", nullptr}, {"real_node_id", it.key()}};
    }
  }
  // Events, in the real server's order: executed per output node, then the outcome.
  if (status.value("status_str", "") == "success") {
    for (auto it = outputs.begin(); it != outputs.end(); ++it)
      Emit(p, "executed",
           Json{{"node", it.key()}, {"display_node", it.key()}, {"output", it.value()}, {"prompt_id", p.id}});
  }
  const Json& last = messages.back();  // execution_success / execution_error / execution_interrupted
  Emit(p, last[0].get<std::string>(), last[1]);
  Json entry = Json{{"prompt", QueueItem(p)}, {"outputs", outputs}, {"status", status}, {"meta", meta}};
  if (history_lag_ > 0) {
    finishing_.push_back(Finishing{p, std::move(entry), at + history_lag_});
  } else {
    Commit(p, std::move(entry));
  }
}

void FakeComfyui::Commit(const Prompt& p, Json entry) {
  history_[p.id] = std::move(entry);
  history_order_.push_back(p.id);
  EmitStatus(p);
  // `executing` with node null: the prompt is done and its history is there.
  Emit(p, "executing", Json{{"node", nullptr}, {"prompt_id", p.id}});
}

}  // namespace comfyrun::testing
