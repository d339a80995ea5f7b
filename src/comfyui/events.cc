// Implementation details: the socket thread only parses (JSON parsing stays off the HttpLoop
// thread, which also runs every transfer) and posts ComfyEvents; routing, link state and
// reconnect timers live on the HttpLoop thread. Every posted closure carries the socket's
// generation, so events and closes of a socket that was replaced are ignored.
#include "comfyrun/comfyui/events.h"

#include <algorithm>
#include <random>
#include <vector>

#include "comfyrun/core/json.h"
#include "comfyrun/core/util.h"

namespace comfyrun {
namespace {

std::string IdText(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return v.dump();
  return "";
}

double Number(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number() ? it->get<double>() : 0;
}

std::string RouteKey(const std::string& server, const std::string& prompt_id) { return server + '\n' + prompt_id; }

/// ws:// form of a server's base URL (http://h:8188/prefix -> ws://h:8188/prefix/ws?clientId=).
std::string SocketUrl(const std::string& server, const std::string& client_id) {
  std::string base = server;
  if (StartsWith(base, "https://"))
    base = "wss://" + base.substr(8);
  else if (StartsWith(base, "http://"))
    base = "ws://" + base.substr(7);
  return base + "/ws?clientId=" + PercentEncode(client_id);
}

}  // namespace

std::optional<ComfyEvent> ParseComfyEvent(std::string_view text) {
  Json msg = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!msg.is_object() || !msg.contains("type") || !msg["type"].is_string()) return std::nullopt;
  const Json& data = msg.contains("data") && msg["data"].is_object() ? msg["data"] : Json::object();
  const std::string type = msg["type"].get<std::string>();
  ComfyEvent e;
  e.prompt_id = data.contains("prompt_id") ? IdText(data["prompt_id"]) : "";
  if (e.prompt_id.empty()) return std::nullopt;  // status broadcasts, `executing` on reconnect
  using K = ComfyEvent::Kind;
  if (type == "execution_start") {
    e.kind = K::kStart;
  } else if (type == "execution_cached") {
    e.kind = K::kCached;
  } else if (type == "executing") {
    const Json& node = data.contains("node") ? data["node"] : Json();
    e.kind = node.is_null() ? K::kDone : K::kExecuting;
    e.node = IdText(node);
  } else if (type == "progress") {
    e.kind = K::kProgress;
    e.node = data.contains("node") ? IdText(data["node"]) : "";
    e.value = Number(data, "value");
    e.max = Number(data, "max");
  } else if (type == "progress_state") {
    // {nodes: {id: {value, max, state}}}: report the node that is running, if any.
    if (!data.contains("nodes") || !data["nodes"].is_object()) return std::nullopt;
    for (auto it = data["nodes"].begin(); it != data["nodes"].end(); ++it) {
      const Json& n = it.value();
      if (!n.is_object() || n.value("state", "") != "running") continue;
      e.kind = K::kProgress;
      e.node = it.key();
      e.value = Number(n, "value");
      e.max = Number(n, "max");
      return e;
    }
    return std::nullopt;
  } else if (type == "executed") {
    e.kind = K::kExecuted;
    e.node = data.contains("node") ? IdText(data["node"]) : "";
  } else if (type == "execution_success") {
    e.kind = K::kSuccess;
  } else if (type == "execution_error") {
    e.kind = K::kError;
    e.node = data.contains("node_id") ? IdText(data["node_id"]) : "";
  } else if (type == "execution_interrupted") {
    e.kind = K::kInterrupted;
    e.node = data.contains("node_id") ? IdText(data["node_id"]) : "";
  } else {
    return std::nullopt;
  }
  return e;
}

const std::string& ComfyuiClientId() {
  static const std::string id = "comfyrun-" + RandomHex(16);
  return id;
}

// The socket thread starts here, on the caller's thread, so that the HttpLoop thread never
// pays for starting it in the middle of submitting prompts.
ComfyuiEvents::ComfyuiEvents(HttpLoop* loop, std::string client_id, ComfyuiEventsOptions options)
    : loop_(loop),
      client_id_(std::move(client_id)),
      options_(std::move(options)),
      ws_(std::make_unique<WebSocketLoop>()) {}

ComfyuiEvents::~ComfyuiEvents() {
  Stop();
  *alive_ = false;
}

void ComfyuiEvents::Stop() {
  std::unique_ptr<WebSocketLoop> ws;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    ws = std::move(ws_);
  }
  // Joined outside the lock; its handlers never take mu_ anyway.
  if (ws) ws->Stop();
}

ComfyuiEvents::Server& ComfyuiEvents::Get(const std::string& server) {
  Server& s = servers_[server];
  if (s.url.empty()) {
    s.url = server;
    s.backoff = options_.initial_backoff;
  }
  return s;
}

void ComfyuiEvents::Connect(const std::string& server) {
  Server& s = Get(server);
  if (s.link == Link::kDown && !s.reopen_timer) Open(s);
}

void ComfyuiEvents::Open(Server& s) {
  // Held through ws_->Open (which only queues a command) so that Stop, on another thread,
  // cannot take the WebSocketLoop away meanwhile.
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_ || !ws_) return;
  s.link = Link::kOpening;
  uint64_t gen = ++s.generation;
  std::string server = s.url;
  HttpLoop* loop = loop_;
  std::weak_ptr<bool> alive = alive_;
  // The handlers run on the socket thread: they only parse and post.
  auto post = [loop, alive](std::function<void()> fn) {
    loop->Post([alive, fn = std::move(fn)] {
      auto a = alive.lock();
      if (a && *a) fn();
    });
  };
  WebSocketLoop::Handlers h;
  h.on_open = [post, server, gen, this] { post([=, this] { OnOpen(server, gen); }); };
  h.on_message = [post, server, gen, this](WsMessage&& m) {
    if (m.opcode != WsOpcode::kText) return;  // binary frames are previews; not needed
    auto event = ParseComfyEvent(m.payload);
    if (!event) return;
    post([=, this, e = *event] { OnEvent(server, gen, e); });
  };
  h.on_close = [post, server, gen, this](const WsCloseInfo& info) { post([=, this] { OnClosed(server, gen, info); }); };
  s.conn = ws_->Open(SocketUrl(server, client_id_), options_.socket, h);
}

void ComfyuiEvents::OnOpen(const std::string& server, uint64_t generation) {
  Server& s = Get(server);
  if (generation != s.generation) return;
  s.link = Link::kUp;
  s.backoff = options_.initial_backoff;
  s.opens++;
  NotifyLink(server, true);
}

void ComfyuiEvents::OnClosed(const std::string& server, uint64_t generation, const WsCloseInfo& info) {
  Server& s = Get(server);
  if (generation != s.generation) return;
  bool was_up = s.link == Link::kUp;
  s.link = Link::kDown;
  s.conn = 0;
  if (was_up) NotifyLink(server, false);
  // Reopen only while someone listens; the next Connect opens it otherwise.
  if (s.watchers == 0 || s.reopen_timer) return;
  double wait = s.backoff;
  if (info.http_status != 0) wait = std::max(wait, options_.refused_backoff);
  s.backoff = std::min(options_.max_backoff, s.backoff * 2);
  // Jitter spreads the reconnects of many comfyrun processes after a server restart.
  thread_local std::mt19937 rng{std::random_device{}()};
  wait *= std::uniform_real_distribution<double>(0.8, 1.2)(rng);
  std::weak_ptr<bool> alive = alive_;
  s.reopen_timer = loop_->After(wait, [this, alive, server] {
    auto a = alive.lock();
    if (!a || !*a) return;
    Server& srv = Get(server);
    srv.reopen_timer = 0;
    if (srv.link == Link::kDown && srv.watchers > 0) Open(srv);
  });
}

void ComfyuiEvents::OnEvent(const std::string& server, uint64_t generation, const ComfyEvent& event) {
  if (generation != Get(server).generation) return;
  auto range = by_prompt_.equal_range(RouteKey(server, event.prompt_id));
  // Copy the ids first: a watcher may Unwatch (or Watch) from its callback.
  std::vector<WatchId> ids;
  for (auto it = range.first; it != range.second; ++it) ids.push_back(it->second);
  for (WatchId id : ids) {
    auto w = watches_.find(id);
    if (w != watches_.end() && w->second.watcher.on_event) {
      auto fn = w->second.watcher.on_event;
      fn(event);
    }
  }
}

void ComfyuiEvents::NotifyLink(const std::string& server, bool up) {
  std::vector<std::function<void(bool)>> fns;
  for (auto& [id, w] : watches_)
    if (w.server == server && w.watcher.on_link) fns.push_back(w.watcher.on_link);
  for (auto& fn : fns) fn(up);
}

ComfyuiEvents::WatchId ComfyuiEvents::Watch(const std::string& server, const std::string& prompt_id, Watcher watcher) {
  WatchId id = next_watch_++;
  watches_[id] = Watch_{server, prompt_id, std::move(watcher)};
  by_prompt_.emplace(RouteKey(server, prompt_id), id);
  Get(server).watchers++;
  return id;
}

void ComfyuiEvents::Unwatch(WatchId id) {
  auto it = watches_.find(id);
  if (it == watches_.end()) return;
  auto range = by_prompt_.equal_range(RouteKey(it->second.server, it->second.prompt_id));
  for (auto r = range.first; r != range.second; ++r) {
    if (r->second == id) {
      by_prompt_.erase(r);
      break;
    }
  }
  Get(it->second.server).watchers--;
  watches_.erase(it);
}

bool ComfyuiEvents::up(const std::string& server) const {
  auto it = servers_.find(server);
  return it != servers_.end() && it->second.link == Link::kUp;
}

int ComfyuiEvents::opens(const std::string& server) const {
  auto it = servers_.find(server);
  return it == servers_.end() ? 0 : it->second.opens;
}

}  // namespace comfyrun
