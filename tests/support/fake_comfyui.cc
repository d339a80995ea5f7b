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
#include "support/local_server.h"
#include "support/local_websocket.h"

namespace comfyrun::testing {
namespace {

double Now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

uint32_t Crc32(const std::string& data, uint32_t crc = 0) {
  static uint32_t table[256];
  static bool init = false;
  if (!init) {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    init = true;
  }
  crc = ~crc;
  for (unsigned char b : data) crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

void PutBe32(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>(v >> 24));
  out->push_back(static_cast<char>(v >> 16));
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

void PngChunk(std::string* png, const char* type, const std::string& data) {
  PutBe32(png, static_cast<uint32_t>(data.size()));
  std::string body = std::string(type, 4) + data;
  png->append(body);
  PutBe32(png, Crc32(body));
}

std::string FixtureMp4() {
  static std::string bytes = [] {
  // In the source tree (COMFYRUN_SOURCE_DIR, an absolute path: the tests change their
  // working directory, so a path relative to __FILE__ may not resolve), for every target.
#ifdef COMFYRUN_SOURCE_DIR
    std::string path = std::string(COMFYRUN_SOURCE_DIR) + "/tests/data/comfyui_clip.mp4";
#else
    std::string path =
        (std::filesystem::path(__FILE__).parent_path().parent_path() / "data" / "comfyui_clip.mp4").string();
#endif
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string b = ss.str();
    if (b.size() < 1000) {
      // Fallback: an ISO-BMFF header with a padded mdat, so the size checks still pass.
      b = std::string(
          "\0\0\0\x18"
          "ftypisom\0\0\x02\0isomiso2",
          24);
      std::string mdat(16000, '\0');
      PutBe32(&b, static_cast<uint32_t>(mdat.size() + 8));
      b += "mdat" + mdat;
    }
    return b;
  }();
  return bytes;
}

std::string ContentTypeFor(const std::string& name) {
  if (EndsWith(name, ".png")) return "image/png";
  if (EndsWith(name, ".mp4")) return "video/mp4";
  if (EndsWith(name, ".flac")) return "audio/flac";
  if (EndsWith(name, ".webp")) return "image/webp";
  return "application/octet-stream";
}

Json ErrorObj(const std::string& type, const std::string& message, const std::string& details,
              Json extra = Json::object()) {
  return Json{{"type", type}, {"message", message}, {"details", details}, {"extra_info", extra}};
}

struct InputSpec {
  std::string name;
  enum Kind { kLink, kInt, kFloat, kString, kUploadedFile } kind;
  double min = 0, max = 0;
};
struct ClassSpec {
  std::vector<InputSpec> required;
  bool output = false;
};

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

}  // namespace

std::string MakeUncompressedPng(int width, int height, uint32_t rgb) {
  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  PutBe32(&ihdr, width);
  PutBe32(&ihdr, height);
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB, no interlace
  PngChunk(&png, "IHDR", ihdr);
  std::string raw;
  for (int y = 0; y < height; ++y) {
    raw.push_back('\0');  // filter: none
    for (int x = 0; x < width; ++x) {
      raw.push_back(static_cast<char>(rgb >> 16));
      raw.push_back(static_cast<char>(rgb >> 8));
      raw.push_back(static_cast<char>(rgb));
    }
  }
  // zlib stream of stored deflate blocks.
  std::string z("\x78\x01", 2);
  size_t pos = 0;
  do {
    size_t n = std::min<size_t>(65535, raw.size() - pos);
    bool last = pos + n == raw.size();
    z.push_back(last ? 1 : 0);
    z.push_back(static_cast<char>(n & 0xFF));
    z.push_back(static_cast<char>(n >> 8));
    z.push_back(static_cast<char>(~n & 0xFF));
    z.push_back(static_cast<char>((~n >> 8) & 0xFF));
    z.append(raw, pos, n);
    pos += n;
  } while (pos < raw.size());
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  PutBe32(&z, (b << 16) | a);
  PngChunk(&png, "IDAT", z);
  PngChunk(&png, "IEND", "");
  return png;
}

namespace {

/// Writes deflate bits LSB first (RFC 1951 §3.1.1).
struct BitWriter {
  std::string out;
  uint32_t acc = 0;
  int n = 0;
  void Bits(uint32_t value, int count) {  // value's low `count` bits, LSB first
    for (int i = 0; i < count; ++i) {
      acc |= ((value >> i) & 1u) << n;
      if (++n == 8) {
        out.push_back(static_cast<char>(acc));
        acc = 0;
        n = 0;
      }
    }
  }
  void Code(uint32_t code, int len) {  // a Huffman code: most significant bit first
    for (int i = len - 1; i >= 0; --i) Bits((code >> i) & 1u, 1);
  }
  std::string Finish() {
    if (n > 0) out.push_back(static_cast<char>(acc));
    return out;
  }
};

void FixedLiteral(BitWriter* w, int sym) {  // RFC 1951 §3.2.6
  if (sym < 144)
    w->Code(0x30 + sym, 8);
  else if (sym < 256)
    w->Code(0x190 + sym - 144, 9);
  else if (sym < 280)
    w->Code(sym - 256, 7);
  else
    w->Code(0xC0 + sym - 280, 8);
}

void FixedMatch(BitWriter* w, int length, int distance) {
  static const int kLenBase[] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
  static const int kLenExtra[] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                  2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
  static const int kDistBase[] = {1,    2,    3,    4,    5,    7,    9,    13,    17,    25,
                                  33,   49,   65,   97,   129,  193,  257,  385,   513,   769,
                                  1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
  static const int kDistExtra[] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                   6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
  int l = 28;
  while (kLenBase[l] > length) --l;
  FixedLiteral(w, 257 + l);
  w->Bits(length - kLenBase[l], kLenExtra[l]);
  int d = 29;
  while (kDistBase[d] > distance) --d;
  w->Code(d, 5);
  w->Bits(distance - kDistBase[d], kDistExtra[d]);
}

/// zlib stream of `raw`: one fixed-Huffman block whose matches look back 1, 3 or `stride`
/// bytes (enough for a flat picture, row after row).
std::string ZlibFixed(const std::string& raw, size_t stride) {
  BitWriter w;
  w.Bits(1, 1);  // BFINAL
  w.Bits(1, 2);  // BTYPE = fixed Huffman
  size_t i = 0;
  while (i < raw.size()) {
    size_t best_len = 0, best_dist = 0;
    for (size_t d : {size_t{1}, size_t{3}, stride}) {
      if (d == 0 || d > i || d > 32768) continue;
      size_t len = 0;
      while (len < 258 && i + len < raw.size() && raw[i + len] == raw[i + len - d]) ++len;
      if (len > best_len) {
        best_len = len;
        best_dist = d;
      }
    }
    if (best_len >= 3) {
      FixedMatch(&w, static_cast<int>(best_len), static_cast<int>(best_dist));
      i += best_len;
    } else {
      FixedLiteral(&w, static_cast<unsigned char>(raw[i]));
      ++i;
    }
  }
  FixedLiteral(&w, 256);  // end of block
  std::string z("\x78\x01", 2);
  z += w.Finish();
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  PutBe32(&z, (b << 16) | a);
  return z;
}

}  // namespace

std::string MakeCompressedPng(int width, int height, uint32_t rgb, size_t pad_to) {
  std::string ihdr;
  PutBe32(&ihdr, width);
  PutBe32(&ihdr, height);
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB, no interlace
  std::string raw;
  for (int y = 0; y < height; ++y) {
    raw.push_back('\0');  // filter: none
    for (int x = 0; x < width; ++x) {
      raw.push_back(static_cast<char>(rgb >> 16));
      raw.push_back(static_cast<char>(rgb >> 8));
      raw.push_back(static_cast<char>(rgb));
    }
  }
  std::string idat = ZlibFixed(raw, 1 + 3 * static_cast<size_t>(width));
  std::string png("\x89PNG\r\n\x1a\n", 8);
  PngChunk(&png, "IHDR", ihdr);
  PngChunk(&png, "IDAT", idat);
  // A tEXt chunk (keyword, NUL, text) brings the file to `pad_to` bytes when it can.
  size_t without = png.size() + 12;  // + IEND
  const std::string keyword = std::string("Comment") + '\0';
  if (pad_to >= without + 12 + keyword.size()) {
    PngChunk(&png, "tEXt", keyword + std::string(pad_to - without - 12 - keyword.size(), 'x'));
  }
  PngChunk(&png, "IEND", "");
  return png;
}

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

Json FakeComfyui::ValidatePrompt(const Json& graph, int* status) const {
  *status = 400;
  auto bad = [](Json error) { return Json{{"error", std::move(error)}, {"node_errors", Json::object()}}; };
  if (!graph.is_object()) {
    return bad(ErrorObj("invalid_prompt", "Cannot execute because the prompt is not an object.", ""));
  }
  std::vector<std::string> outputs;
  for (auto it = graph.begin(); it != graph.end(); ++it) {
    const Json& node = it.value();
    if (!node.is_object() || !node.contains("class_type") || !node["class_type"].is_string()) {
      return bad(ErrorObj("invalid_prompt", "Cannot execute because a node is missing the class_type property.",
                          "Node ID '#" + it.key() + "'"));
    }
    std::string cls = node["class_type"].get<std::string>();
    auto spec = Classes().find(cls);
    if (spec == Classes().end()) {
      return bad(ErrorObj("invalid_prompt", "Cannot execute because node " + cls + " does not exist.",
                          "Node ID '#" + it.key() + "'"));
    }
    if (spec->second.output) outputs.push_back(it.key());
  }
  if (outputs.empty()) return bad(ErrorObj("prompt_no_outputs", "Prompt has no outputs", ""));

  Json node_errors = Json::object();
  for (const std::string& out : outputs) {
    std::set<std::string> seen;
    std::vector<std::string> stack = {out};
    while (!stack.empty()) {
      std::string id = stack.back();
      stack.pop_back();
      if (!seen.insert(id).second) continue;
      const Json& node = graph[id];
      const ClassSpec& spec = Classes().at(node["class_type"].get<std::string>());
      const Json inputs = node.contains("inputs") && node["inputs"].is_object() ? node["inputs"] : Json::object();
      Json errors = Json::array();
      for (const InputSpec& in : spec.required) {
        if (!inputs.contains(in.name)) {
          if (in.kind == InputSpec::kString) continue;  // widgets with defaults
          errors.push_back(
              ErrorObj("required_input_missing", "Required input is missing", in.name, Json{{"input_name", in.name}}));
          continue;
        }
        const Json& v = inputs[in.name];
        if (v.is_array() && v.size() == 2 && v[0].is_string()) {  // a link
          std::string src = v[0].get<std::string>();
          if (!graph.contains(src)) {
            errors.push_back(ErrorObj(
                "exception_during_inner_validation", "Exception when validating inner node", "'" + src + "'",
                Json{{"input_name", in.name},
                     {"exception_message", "'" + src + "'"},
                     {"exception_type", "KeyError"},
                     {"traceback", Json::array({"  File \"comfyui/execution.py\", line 788, in validate_inputs\n"})},
                     {"linked_node", v}}));
          } else {
            stack.push_back(src);
          }
          continue;
        }
        if ((in.kind == InputSpec::kInt || in.kind == InputSpec::kFloat) && v.is_number()) {
          Json config = Json::array({in.kind == InputSpec::kInt ? "INT" : "FLOAT", Json::object()});
          Json lo = in.kind == InputSpec::kInt ? Json(static_cast<int64_t>(in.min)) : Json(in.min);
          Json hi = in.kind == InputSpec::kInt ? Json(static_cast<int64_t>(in.max)) : Json(in.max);
          config[1] = Json{{"min", lo}, {"max", hi}};
          double d = v.get<double>();
          if (d > in.max) {
            errors.push_back(ErrorObj("value_bigger_than_max",
                                      "Value " + FormatNumber(v) + " bigger than max of " + FormatNumber(hi), in.name,
                                      Json{{"input_name", in.name}, {"input_config", config}, {"received_value", v}}));
          } else if (d < in.min) {
            errors.push_back(ErrorObj("value_smaller_than_min",
                                      "Value " + FormatNumber(v) + " smaller than min of " + FormatNumber(lo), in.name,
                                      Json{{"input_name", in.name}, {"input_config", config}, {"received_value", v}}));
          }
        }
        if (in.kind == InputSpec::kUploadedFile) {
          std::string name = v.is_string() ? v.get<std::string>() : v.dump();
          if (!inputs_.count(name)) {
            errors.push_back(
                ErrorObj("custom_validation_failed", "Custom validation failed for node",
                         in.name + " - Invalid " + (in.name == "image" ? "image" : in.name) + " file: " + name,
                         Json{{"input_name", in.name}}));
          }
        }
      }
      if (!errors.empty()) {
        if (!node_errors.contains(id)) {
          node_errors[id] =
              Json{{"errors", errors}, {"dependent_outputs", Json::array()}, {"class_type", node["class_type"]}};
        }
        Json& deps = node_errors[id]["dependent_outputs"];
        if (std::find(deps.begin(), deps.end(), Json(out)) == deps.end()) deps.push_back(out);
      }
    }
  }
  if (!node_errors.empty()) {
    return Json{{"error", ErrorObj("prompt_outputs_failed_validation", "Prompt outputs failed validation", "")},
                {"node_errors", node_errors}};
  }
  *status = 200;
  return nullptr;
}

// ---- routes ----

namespace {

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

}  // namespace

LocalResponse FakeComfyui::PostPrompt(const LocalRequest& req) {
  Json body = Json::parse(req.body, nullptr, false);
  std::lock_guard<std::mutex> lock(mu_);
  double now = Now();
  Advance(now);
  if (body.is_discarded()) {
    prompts_rejected_++;
    LocalResponse r;
    r.status = 500;
    r.headers = {{"Content-Type", "text/plain; charset=utf-8"}};
    r.body = "500 Internal Server Error\n\nServer got itself in trouble";
    return r;
  }
  if (!body.is_object() || !body.contains("prompt")) {
    prompts_rejected_++;
    return JsonReply(400, Json{{"error", ErrorObj("no_prompt", "No prompt provided", "No prompt provided")},
                               {"node_errors", Json::object()}});
  }
  int status = 0;
  Json error = ValidatePrompt(body["prompt"], &status);
  if (status != 200) {
    prompts_rejected_++;
    return JsonReply(status, error);
  }
  if (lose_prompts_ > 0) {
    // Read and validated, then lost before it was queued: the client waits in vain.
    --lose_prompts_;
    prompts_lost_++;
    LocalResponse r = JsonReply(500, Json{{"error", "lost"}});
    r.delay = std::max(prompt_reply_delay_, 60.0);
    return r;
  }
  Prompt p;
  p.id = body.contains("prompt_id") && body["prompt_id"].is_string() ? body["prompt_id"].get<std::string>()
                                                                     : NewUuidForFake();
  p.number = number_++;
  p.graph = body["prompt"];
  p.extra = body.value("extra_data", Json::object());
  if (body.contains("client_id")) p.extra["client_id"] = body["client_id"];
  p.outputs_to_execute = Json::array();
  for (auto it = p.graph.begin(); it != p.graph.end(); ++it) {
    if (Classes().at(it.value()["class_type"].get<std::string>()).output) p.outputs_to_execute.push_back(it.key());
  }
  prompts_submitted_++;
  prompt_ids_.push_back(p.id);
  last_prompt_ = p.graph;
  Json reply = {{"prompt_id", p.id}, {"number", p.number}, {"node_errors", Json::object()}};
  pending_.push_back(std::move(p));
  max_outstanding_ = std::max(max_outstanding_, static_cast<int>(pending_.size() + running_.size()));
  StartPending(now);
  LocalResponse r = JsonReply(200, reply);
  r.delay = prompt_reply_delay_;  // queued now, answered later (SetPromptReplyDelay)
  return r;
}

LocalResponse FakeComfyui::PostUpload(const LocalRequest& req) {
  std::vector<LocalPart> parts = ParseMultipart(req);
  const LocalPart* file = nullptr;
  std::string subfolder;
  bool overwrite = false;
  for (const auto& part : parts) {
    if (part.name == "image") file = &part;
    if (part.name == "subfolder") subfolder = part.data;
    if (part.name == "overwrite") overwrite = part.data == "true" || part.data == "1";
  }
  if (!file || file->filename.empty()) return Bare(400);
  std::lock_guard<std::mutex> lock(mu_);
  std::string name = file->filename;
  auto full = [&](const std::string& n) { return subfolder.empty() ? n : subfolder + "/" + n; };
  if (!overwrite) {
    // Same name, other content: " (n)" before the extension; same content: reuse.
    std::string stem = name, ext;
    if (size_t dot = name.rfind('.'); dot != std::string::npos) {
      stem = name.substr(0, dot);
      ext = name.substr(dot);
    }
    for (int n = 1; inputs_.count(full(name)) && inputs_[full(name)] != file->data; ++n) {
      name = stem + " (" + std::to_string(n) + ")" + ext;
    }
  }
  inputs_[full(name)] = file->data;
  uploads_++;
  return JsonReply(200, Json{{"name", name}, {"subfolder", subfolder}, {"type", "input"}});
}

LocalResponse FakeComfyui::GetView(const LocalRequest& req) {
  std::string filename = req.QueryParam("filename");
  std::string subfolder = req.QueryParam("subfolder");
  std::string type = req.HasQueryParam("type") ? req.QueryParam("type") : "output";
  if (filename.empty() || filename[0] == '/' || filename.find("..") != std::string::npos ||
      subfolder.find("..") != std::string::npos) {
    return Bare(400);
  }
  std::lock_guard<std::mutex> lock(mu_);
  Advance(Now());
  const std::string* bytes = nullptr;
  if (type == "input") {
    auto it = inputs_.find(subfolder.empty() ? filename : subfolder + "/" + filename);
    if (it != inputs_.end()) bytes = &it->second;
  } else {
    auto it = files_.find(type + "/" + subfolder + "/" + filename);
    if (it != files_.end()) bytes = &it->second;
  }
  if (!bytes) return Bare(404);
  LocalResponse r;
  r.status = 200;
  r.headers = {{"Content-Type", ContentTypeFor(filename)}, {"Content-Disposition", "filename=\"" + filename + "\""}};
  r.body = *bytes;
  return r;
}

void FakeComfyui::Install(LocalServer& svr) {
  for (std::string pre : {"", "/api"}) {
    svr.Handle("GET", pre + "/system_stats", [this](const LocalRequest&) {
      Json body = {
          {"system",
           {{"os", "posix"},
            {"ram_total", 135148564480LL},
            {"ram_free", 134075088896LL},
            {"comfyui_version", "0.3.64"},
            {"required_frontend_version", "1.27.10"},
            {"installed_templates_version", nullptr},
            {"required_templates_version", "0.1.95"},
            {"python_version", "3.12.3 (fake)"},
            {"pytorch_version", "2.11.0+cu130"},
            {"embedded_python", false},
            {"argv", Json::array({"main.py", "--cpu", "--listen", "127.0.0.1", "--port", std::to_string(port_)})}}},
          {"devices", Json::array({{{"name", "cpu"},
                                    {"type", "cpu"},
                                    {"index", nullptr},
                                    {"vram_total", 135148564480LL},
                                    {"vram_free", 134075088896LL},
                                    {"torch_vram_total", 135148564480LL},
                                    {"torch_vram_free", 134075088896LL}}})}};
      return JsonReply(200, body);
    });
    svr.Handle("GET", pre + "/features", [](const LocalRequest&) {
      return JsonReply(200, Json{{"supports_preview_metadata", true}, {"max_upload_size", 104857600}});
    });
    svr.Handle("GET", pre + "/prompt", [this](const LocalRequest&) {
      std::lock_guard<std::mutex> lock(mu_);
      Advance(Now());
      return JsonReply(
          200, Json{{"exec_info", {{"queue_remaining", running_.size() + pending_.size() + finishing_.size()}}}});
    });
    svr.Handle("POST", pre + "/prompt", [this](const LocalRequest& req) { return PostPrompt(req); });
    svr.Handle("GET", pre + "/queue", [this](const LocalRequest&) {
      std::lock_guard<std::mutex> lock(mu_);
      Advance(Now());
      Json running = Json::array(), pending = Json::array();
      for (const Prompt& p : running_) running.push_back(QueueItem(p));
      for (const Finishing& f : finishing_) running.push_back(QueueItem(f.prompt));  // until task_done
      for (const Prompt& p : pending_) pending.push_back(QueueItem(p));
      return JsonReply(200, Json{{"queue_running", running}, {"queue_pending", pending}});
    });
    svr.Handle("POST", pre + "/queue", [this](const LocalRequest& req) {
      Json body = Json::parse(req.body, nullptr, false);
      std::lock_guard<std::mutex> lock(mu_);
      Advance(Now());
      if (body.is_object() && body.value("clear", false)) pending_.clear();
      if (body.is_object() && body.contains("delete") && body["delete"].is_array()) {
        for (const Json& id : body["delete"]) {
          queue_deletes_++;
          std::erase_if(pending_, [&](const Prompt& p) { return Json(p.id) == id; });
        }
      }
      return Bare(200);
    });
    svr.Handle("POST", pre + "/interrupt", [this](const LocalRequest& req) {
      Json body = Json::parse(req.body, nullptr, false);
      std::lock_guard<std::mutex> lock(mu_);
      double now = Now();
      Advance(now);
      interrupts_++;
      std::string id = body.is_object() ? body.value("prompt_id", "") : "";
      for (Prompt& p : running_) {
        if (id.empty() || p.id == id) {
          // The real server stops at the end of the running node; here: at once.
          p.interrupted = true;
          p.end = std::min(p.end, now);
        }
      }
      Advance(now);
      return Bare(200);
    });
    svr.Handle("GET", pre + "/history/*", [this, pre](const LocalRequest& req) {
      std::lock_guard<std::mutex> lock(mu_);
      Advance(Now());
      std::string id = req.path.substr(pre.size() + std::string("/history/").size());
      history_requests_++;
      Json body = Json::object();
      auto it = history_.find(id);
      if (it != history_.end()) body[it->first] = it->second;
      return JsonReply(200, body);
    });
    svr.Handle("GET", pre + "/history", [this](const LocalRequest& req) {
      std::lock_guard<std::mutex> lock(mu_);
      Advance(Now());
      size_t max_items = SIZE_MAX;
      if (req.HasQueryParam("max_items")) max_items = std::strtoul(req.QueryParam("max_items").c_str(), nullptr, 10);
      Json body = Json::object();
      for (auto it = history_order_.rbegin(); it != history_order_.rend() && body.size() < max_items; ++it) {
        if (history_.count(*it)) body[*it] = history_[*it];
      }
      return JsonReply(200, body);
    });
    svr.Handle("GET", pre + "/view", [this](const LocalRequest& req) { return GetView(req); });
    svr.Handle("GET", pre + "/ws", [this](const LocalRequest& req) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!ws_enabled_) return LocalResponse::Text(404, "404: Not Found");
      }
      if (LocalWebSocket::HandshakeReply(req).empty()) return LocalResponse::Text(400, "not a WebSocket upgrade");
      std::string sid = req.QueryParam("clientId");
      if (sid.empty()) sid = RandomHex(32);
      LocalResponse r;
      r.status = 101;
      r.takeover = [this, req, sid](int fd, std::string leftover) { AcceptSocket(fd, req, std::move(leftover), sid); };
      return r;
    });
    svr.Handle("POST", pre + "/upload/image", [this](const LocalRequest& req) { return PostUpload(req); });
  }
  // For end-to-end scripts driving `comfyrun_fakes comfyui`: the test switches over HTTP.
  svr.Handle("POST", "/_fake/comfy", [this](const LocalRequest& req) { return Control(req); });
  svr.Handle("GET", "/_fake/comfy", [this](const LocalRequest&) {
    std::lock_guard<std::mutex> lock(mu_);
    Advance(Now());
    return JsonReply(200, Json{{"promptsSubmitted", prompts_submitted_},
                               {"promptsLost", prompts_lost_},
                               {"interrupts", interrupts_},
                               {"queueDeletes", queue_deletes_},
                               {"running", running_.size()},
                               {"pending", pending_.size()},
                               {"promptIds", prompt_ids_}});
  });
}

LocalResponse FakeComfyui::Control(const LocalRequest& req) {
  Json body = Json::parse(req.body, nullptr, false);
  if (!body.is_object()) return JsonReply(400, Json{{"error", "a JSON object is expected"}});
  static const std::map<std::string, Fault> kFaults = {
      {"none", Fault::kNone},         {"execution_error", Fault::kExecutionError}, {"no_face", Fault::kNoFace},
      {"tiny", Fault::kTinyOutput},   {"lose_output", Fault::kLoseOutput},         {"corrupt", Fault::kCorruptOutput},
      {"small_png", Fault::kSmallPng}};
  if (body.contains("fault")) {
    auto it = body["fault"].is_string() ? kFaults.find(body["fault"].get<std::string>()) : kFaults.end();
    if (it == kFaults.end()) return JsonReply(400, Json{{"error", "unknown fault"}});
    SetFault(it->second, body.value("count", -1));
  }
  if (body.contains("runSeconds") && body["runSeconds"].is_number()) SetRunSeconds(body["runSeconds"].get<double>());
  if (body.contains("promptReplyDelay") && body["promptReplyDelay"].is_number())
    SetPromptReplyDelay(body["promptReplyDelay"].get<double>());
  if (body.contains("losePrompts") && body["losePrompts"].is_number()) LosePrompts(body["losePrompts"].get<int>());
  return JsonReply(200, Json{{"ok", true}});
}

int RunFakeComfyuiForever(int port, int slots, double run_seconds) {
  if (port != 0) {
    std::cerr << "fake comfyui: only ephemeral ports (port 0) are supported\n";
    return 2;
  }
  FakeComfyui::Options options;
  options.slots = slots;
  options.run_seconds = run_seconds;
  FakeComfyui fake(options);
  if (!fake.Start()) return 1;
  std::cout << "fake comfyui listening on " << fake.url() << std::endl;
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

}  // namespace comfyrun::testing
