// Implementation details: servers live in a vector (a handful), waiters in a FIFO deque.
// Dispatch() walks the waiters in order and gives each the least-loaded up server among its
// candidates; a waiter whose candidates are all down (and not being checked) fails at once so
// the node can report Unavailable and the executor's retry policy takes over. Callbacks are
// delivered through HttpLoop::Post so that no caller sees a callback inside its own call.
#include "comfyrun/comfyui/pool.h"

#include <algorithm>
#include <chrono>

#include "comfyrun/core/json.h"
#include "comfyrun/core/util.h"

namespace comfyrun {
namespace {

double NowSeconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string ComfyuiPool::NormalizeUrl(const std::string& url) {
  std::string u = Trim(url);
  size_t hash = u.find('#');
  if (hash != std::string::npos) u.resize(hash);
  while (!u.empty() && u.back() == '/') u.pop_back();
  return u;
}

std::optional<ComfyuiServerSpec> ParseComfyuiServer(const std::string& entry, std::string* err) {
  std::string text = Trim(entry);
  ComfyuiServerSpec spec;
  spec.url = ComfyuiPool::NormalizeUrl(text);
  if (!StartsWith(spec.url, "http://") && !StartsWith(spec.url, "https://")) {
    *err = "ComfyUI server " + Quote(text) + " must start with http:// or https://";
    return std::nullopt;
  }
  size_t scheme_end = spec.url.find("://") + 3;
  if (spec.url.size() <= scheme_end || spec.url[scheme_end] == '/') {
    *err = "ComfyUI server " + Quote(text) + " has no host";
    return std::nullopt;
  }
  size_t hash = text.find('#');
  if (hash != std::string::npos) {
    std::string frag = text.substr(hash + 1);
    // Options are "key=value" separated by '&' (a comma separates servers); only "slots"
    // exists today.
    size_t pos = 0;
    while (pos <= frag.size()) {
      size_t end = frag.find('&', pos);
      if (end == std::string::npos) end = frag.size();
      std::string opt = Trim(frag.substr(pos, end - pos));
      pos = end + 1;
      if (opt.empty()) continue;
      size_t eq = opt.find('=');
      std::string key = opt.substr(0, eq);
      std::string value = eq == std::string::npos ? "" : opt.substr(eq + 1);
      if (key != "slots") {
        *err = "ComfyUI server " + Quote(text) + ": unknown option " + Quote(key) + " (expected #slots=N)";
        return std::nullopt;
      }
      int n = 0;
      bool digits = !value.empty() && value.size() < 6 &&
                    std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (digits) n = std::stoi(value);
      if (n < 1) {
        *err = "ComfyUI server " + Quote(text) + ": slots must be a positive integer";
        return std::nullopt;
      }
      spec.slots = n;
    }
  }
  return spec;
}

bool ParseComfyuiServers(const std::vector<std::string>& entries, std::vector<ComfyuiServerSpec>* out,
                         std::string* err) {
  out->clear();
  for (const std::string& entry : entries) {
    size_t pos = 0;
    while (pos <= entry.size()) {
      size_t comma = entry.find(',', pos);
      // A comma always separates servers, even after a fragment: "http://a#slots=2,http://b".
      if (comma == std::string::npos) comma = entry.size();
      std::string part = Trim(entry.substr(pos, comma - pos));
      pos = comma + 1;
      if (part.empty()) continue;
      auto spec = ParseComfyuiServer(part, err);
      if (!spec) return false;
      auto same =
          std::find_if(out->begin(), out->end(), [&](const ComfyuiServerSpec& s) { return s.url == spec->url; });
      if (same != out->end()) {
        same->slots = std::max(same->slots, spec->slots);
      } else {
        out->push_back(*spec);
      }
    }
  }
  return true;
}

ComfyuiPool::ComfyuiPool(HttpLoop* loop, const std::vector<ComfyuiServerSpec>& servers, ComfyuiPoolOptions options)
    : loop_(loop), options_(std::move(options)) {
  for (auto& spec : servers) {
    auto s = std::make_unique<Server>();
    s->spec = spec;
    s->spec.url = NormalizeUrl(spec.url);
    s->spec.slots = std::max(1, spec.slots);
    s->backoff = options_.initial_backoff;
    servers_.push_back(std::move(s));
  }
  if (options_.websocket) {
    events_ = std::make_unique<ComfyuiEvents>(loop_, ComfyuiClientId(), options_.events);
    // Open the configured servers' sockets now, before any prompt: they are up when the first
    // one runs, and their setup never competes with a submission for the CPU.
    std::weak_ptr<bool> alive = alive_;
    std::vector<std::string> urls;
    for (auto& s : servers_) urls.push_back(s->spec.url);
    loop_->Post([this, alive, urls] {
      auto a = alive.lock();
      if (!a || !*a) return;
      for (const std::string& url : urls) events_->Connect(url);
    });
  }
}

// Touches no HttpLoop: the loop is normally gone already (see Lifetime in pool.h), and any
// timer or check still queued finds alive_ false and does nothing.
ComfyuiPool::~ComfyuiPool() {
  StopEvents();
  *alive_ = false;
}

void ComfyuiPool::StopEvents() {
  if (events_) events_->Stop();
}

std::unique_ptr<ComfyuiPool> ComfyuiPool::FromConfig(const Config& config, HttpLoop* loop, std::string* err,
                                                     ComfyuiPoolOptions options) {
  err->clear();
  std::vector<ComfyuiServerSpec> specs;
  if (!ParseComfyuiServers(config.comfyui_servers, &specs, err)) return nullptr;
  if (specs.empty()) return nullptr;
  if (std::string env = GetConfigValue("COMFYRUN_POLL_INTERVAL"); !env.empty()) {
    std::string ignored;
    if (auto seconds = ParseDuration(env, &ignored); seconds && *seconds > 0) options.poll_interval = *seconds;
  }
  if (std::string ws = GetConfigValue("COMFYRUN_COMFYUI_WS"); !ws.empty()) {
    std::string v = ws;
    for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (v == "0" || v == "off" || v == "false" || v == "no") options.websocket = false;
  }
  return std::make_unique<ComfyuiPool>(loop, std::move(specs), options);
}

ComfyuiPool::Server* ComfyuiPool::Find(const std::string& url) {
  std::string u = NormalizeUrl(url);
  for (auto& s : servers_)
    if (s->spec.url == u) return s.get();
  return nullptr;
}

const ComfyuiPool::Server* ComfyuiPool::Find(const std::string& url) const {
  return const_cast<ComfyuiPool*>(this)->Find(url);
}

ComfyuiPool::Server* ComfyuiPool::FindOrAdd(const std::string& url) {
  if (Server* s = Find(url)) return s;
  auto s = std::make_unique<Server>();
  s->spec.url = NormalizeUrl(url);
  s->spec.slots = 1;
  s->backoff = options_.initial_backoff;
  servers_.push_back(std::move(s));
  return servers_.back().get();
}

ComfyuiPool::WaiterId ComfyuiPool::Acquire(const std::string& preferred, SlotCallback done) {
  WaiterId id = next_waiter_++;
  std::string pin;
  if (!preferred.empty()) pin = FindOrAdd(preferred)->spec.url;
  waiters_.push_back(Waiter{id, pin, std::move(done), false});
  Dispatch();
  return id;
}

void ComfyuiPool::CancelAcquire(WaiterId id) {
  auto it = std::find_if(waiters_.begin(), waiters_.end(), [&](const Waiter& w) { return w.id == id; });
  if (it != waiters_.end()) {
    waiters_.erase(it);
    return;
  }
  auto g = granted_.find(id);
  if (g != granted_.end()) {
    std::string server = g->second;
    granted_.erase(g);
    Release(server);
  }
}

void ComfyuiPool::Release(const std::string& server) {
  Server* s = Find(server);
  if (!s || s->in_use == 0) return;
  s->in_use--;
  Dispatch();
}

void ComfyuiPool::MarkDown(const std::string& server, const std::string& reason) {
  Server* s = Find(server);
  if (!s) return;
  if (s->health != Health::kDown) SetDown(s, reason);
  Dispatch();
}

void ComfyuiPool::SetDown(Server* s, const std::string& reason) {
  s->health = Health::kDown;
  s->last_error = reason;
  s->down_until = NowSeconds() + s->backoff;
  double wait = s->backoff;
  s->backoff = std::min(options_.max_backoff, s->backoff * 2);
  // Re-check when the back-off ends if someone is still waiting then: a server coming back
  // adds capacity for waiters queued behind busy servers.
  if (s->recheck_timer) loop_->CancelTimer(s->recheck_timer);
  std::weak_ptr<bool> alive = alive_;
  std::string url = s->spec.url;
  s->recheck_timer = loop_->After(wait + 0.001, [this, alive, url] {
    if (alive.expired() || !*alive.lock()) return;
    if (Server* srv = Find(url)) srv->recheck_timer = 0;
    if (!waiters_.empty()) Dispatch();
  });
}

void ComfyuiPool::StartCheck(Server* s) {
  s->health = Health::kChecking;
  HttpRequest req;
  req.url = s->spec.url + "/system_stats";
  req.timeout = options_.health_timeout;
  req.connect_timeout = std::min(options_.health_timeout, 10.0);
  req.max_redirects = 0;
  std::weak_ptr<bool> alive = alive_;
  std::string url = s->spec.url;
  s->check_request = loop_->Send(std::move(req), [this, alive, url](const HttpResponse& r) {
    auto a = alive.lock();
    if (!a || !*a) return;
    OnChecked(url, r);
  });
}

void ComfyuiPool::OnChecked(const std::string& url, const HttpResponse& r) {
  Server* s = Find(url);
  if (!s) return;
  s->check_request = 0;
  bool up = false;
  std::string why;
  if (r.transport_error != ErrorType::kNone) {
    why = r.error.empty() ? std::string(ErrorTypeName(r.transport_error)) : r.error;
  } else if (r.status != 200) {
    why = "GET /system_stats answered HTTP " + std::to_string(r.status);
  } else {
    Json body = Json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    up = body.is_object() && body.contains("system");
    if (!up) why = "GET /system_stats did not answer a ComfyUI system_stats object";
  }
  s->auth_refused = r.transport_error == ErrorType::kNone && (r.status == 401 || r.status == 403);
  if (up) {
    s->health = Health::kUp;
    s->backoff = options_.initial_backoff;
    s->last_error.clear();
  } else {
    SetDown(s, why);
  }
  Dispatch();
}

void ComfyuiPool::Grant(Waiter w, Server* s) {
  s->in_use++;
  s->last_granted = ++grant_seq_;
  granted_[w.id] = s->spec.url;
  std::weak_ptr<bool> alive = alive_;
  loop_->Post([this, alive, id = w.id, url = s->spec.url, done = std::move(w.done)] {
    auto a = alive.lock();
    if (!a || !*a) return;
    auto g = granted_.find(id);
    if (g == granted_.end()) return;  // withdrawn; CancelAcquire gave the slot back
    granted_.erase(g);
    done(url, "");
  });
}

void ComfyuiPool::Dispatch() {
  // Callbacks are posted, so Dispatch can only re-enter through SetDown/Release called from
  // inside itself; the flag turns that into one more pass.
  if (dispatching_) {
    dispatch_again_ = true;
    return;
  }
  dispatching_ = true;
  do {
    dispatch_again_ = false;
    double now = NowSeconds();
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      std::vector<Server*> candidates;
      if (it->preferred.empty()) {
        for (auto& s : servers_) candidates.push_back(s.get());
      } else {
        candidates.push_back(Find(it->preferred));
      }
      Server* best = nullptr;
      bool pending = false;  // some candidate is up-but-full or being checked
      for (Server* s : candidates) {
        if (s->health == Health::kDown && !it->preferred.empty() && !it->forced_check) {
          it->forced_check = true;
          StartCheck(s);
        }
        if (s->health == Health::kDown && now >= s->down_until) StartCheck(s);
        if (s->health == Health::kUnknown) StartCheck(s);
        if (s->health == Health::kChecking) pending = true;
        if (s->health != Health::kUp) continue;
        if (s->in_use >= s->spec.slots) {
          pending = true;
          continue;
        }
        auto load = [](const Server* x) { return double(x->in_use) / x->spec.slots; };
        if (!best || load(s) < load(best) || (load(s) == load(best) && s->last_granted < best->last_granted)) {
          best = s;
        }
      }
      if (best) {
        Waiter w = std::move(*it);
        it = waiters_.erase(it);
        Grant(std::move(w), best);
      } else if (!pending) {
        std::string why;
        for (Server* s : candidates) {
          if (!why.empty()) why += "; ";
          why += s->spec.url + ": " + (s->last_error.empty() ? "down" : s->last_error);
        }
        Waiter w = std::move(*it);
        it = waiters_.erase(it);
        std::weak_ptr<bool> alive = alive_;
        std::string msg =
            (candidates.size() == 1 ? "ComfyUI server is down (" : "every ComfyUI server is down (") + why + ")";
        loop_->Post([alive, done = std::move(w.done), msg] {
          auto a = alive.lock();
          if (a && *a) done("", msg);
        });
      } else {
        ++it;
      }
    }
  } while (dispatch_again_);
  dispatching_ = false;
}

int ComfyuiPool::in_use(const std::string& server) const {
  const Server* s = Find(server);
  return s ? s->in_use : 0;
}

ComfyuiPool::Health ComfyuiPool::health(const std::string& server) const {
  const Server* s = Find(server);
  return s ? s->health : Health::kUnknown;
}

bool ComfyuiPool::RefusesAuth(const std::string& preferred) const {
  bool any = false;
  for (const auto& s : servers_) {
    if (!preferred.empty() && s.get() != Find(preferred)) continue;
    if (!s->auth_refused) return false;
    any = true;
  }
  return any;
}

double ComfyuiPool::SecondsUntilRecheck(const std::string& preferred) const {
  double now = NowSeconds(), wait = -1;
  for (const auto& s : servers_) {
    if (!preferred.empty() && s.get() != Find(preferred)) continue;
    if (s->health != Health::kDown) return 0;
    double left = std::max(0.0, s->down_until - now);
    wait = wait < 0 ? left : std::min(wait, left);
  }
  return std::max(0.0, wait);
}

std::vector<ComfyuiServerSpec> ComfyuiPool::servers() const {
  std::vector<ComfyuiServerSpec> out;
  for (auto& s : servers_) out.push_back(s->spec);
  return out;
}

}  // namespace comfyrun
