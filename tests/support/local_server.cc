#include "support/local_server.h"

// Implementation details: one thread runs poll() over the listening socket, an eventfd (stop)
// and every connection. A connection reads one request (headers + Content-Length body), asks
// the routes for a reply, optionally waits until `delay` has passed (the poll timeout wakes
// the loop), writes the reply and closes. Nothing blocks, so thousands of held replies cost
// only their sockets.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace comfyrun::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string TrimWs(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

// Finds a query parameter; returns false when absent.
bool FindQueryParam(const std::string& query, const std::string& name, std::string* value) {
  size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    size_t amp = query.find('&', start);
    if (amp == std::string::npos) amp = query.size();
    std::string pair = query.substr(start, amp - start);
    size_t eq = pair.find('=');
    std::string key = PercentDecode(pair.substr(0, eq));
    if (key == name) {
      *value = eq == std::string::npos ? "" : PercentDecode(pair.substr(eq + 1));
      return true;
    }
    start = amp + 1;
  }
  return false;
}

const char* Reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::abort();
}

// The plan new servers start with, and how many servers were made (each one's fault stream).
struct DefaultFaults {
  std::mutex mu;
  FaultPlan plan;
  uint64_t servers = 0;
};
DefaultFaults& TheDefaultFaults() {
  static DefaultFaults* d = new DefaultFaults;  // leaked: servers may outlive static destruction
  return *d;
}

}  // namespace

std::string LocalRequest::Header(const std::string& name) const {
  auto it = headers.find(Lower(name));
  return it == headers.end() ? "" : it->second;
}

bool LocalRequest::HasHeader(const std::string& name) const { return headers.count(Lower(name)) > 0; }

std::string LocalRequest::QueryParam(const std::string& name) const {
  std::string v;
  FindQueryParam(query, name, &v);
  return v;
}

bool LocalRequest::HasQueryParam(const std::string& name) const {
  std::string v;
  return FindQueryParam(query, name, &v);
}

LocalResponse LocalResponse::Json(int status, std::string body) {
  LocalResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

LocalResponse LocalResponse::Text(int status, std::string body) {
  LocalResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "text/plain");
  r.body = std::move(body);
  return r;
}

LocalResponse LocalResponse::Redirect(int status, std::string location) {
  LocalResponse r;
  r.status = status;
  r.headers.emplace_back("Location", std::move(location));
  return r;
}

std::vector<LocalPart> ParseMultipart(const LocalRequest& request) {
  std::vector<LocalPart> parts;
  std::string type = request.Header("content-type");
  size_t b = type.find("boundary=");
  if (Lower(type).rfind("multipart/form-data", 0) != 0 || b == std::string::npos) return parts;
  std::string boundary = type.substr(b + 9);
  if (size_t semi = boundary.find(';'); semi != std::string::npos) boundary.resize(semi);
  if (boundary.size() >= 2 && boundary.front() == '"') boundary = boundary.substr(1, boundary.size() - 2);
  const std::string delim = "--" + boundary;
  const std::string& body = request.body;
  size_t pos = body.find(delim);
  while (pos != std::string::npos) {
    pos += delim.size();
    if (body.compare(pos, 2, "--") == 0) return parts;  // closing delimiter
    if (body.compare(pos, 2, "\r\n") != 0) return {};
    pos += 2;
    size_t header_end = body.find("\r\n\r\n", pos);
    if (header_end == std::string::npos) return {};
    LocalPart part;
    std::string headers = body.substr(pos, header_end - pos);
    size_t line_start = 0;
    while (line_start < headers.size()) {
      size_t eol = headers.find("\r\n", line_start);
      if (eol == std::string::npos) eol = headers.size();
      std::string line = headers.substr(line_start, eol - line_start);
      line_start = eol + 2;
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = Lower(TrimWs(line.substr(0, colon)));
      std::string value = TrimWs(line.substr(colon + 1));
      if (name == "content-type") part.content_type = value;
      if (name != "content-disposition") continue;
      for (const char* attr : {"name", "filename"}) {
        std::string key = std::string(attr) + "=\"";
        size_t at = 0;
        // Match "name=" only as a whole attribute, not the tail of "filename=".
        while ((at = value.find(key, at)) != std::string::npos) {
          if (at == 0 || value[at - 1] == ' ' || value[at - 1] == ';') break;
          at += key.size();
        }
        if (at == std::string::npos) continue;
        size_t close = value.find('"', at + key.size());
        std::string v = value.substr(at + key.size(), close - at - key.size());
        (std::strcmp(attr, "name") == 0 ? part.name : part.filename) = v;
      }
    }
    size_t data_start = header_end + 4;
    size_t next = body.find("\r\n" + delim, data_start);
    if (next == std::string::npos) return {};
    part.data = body.substr(data_start, next - data_start);
    parts.push_back(std::move(part));
    pos = next + 2;
  }
  return {};
}

struct LocalServer::Connection {
  int fd = -1;
  std::string in;
  bool sent_continue = false;
  bool have_request = false;
  LocalResponse reply;
  Clock::time_point reply_at;
  std::string out;       // bytes still to write
  bool writing = false;  // reply bytes are in `out`
  bool stalled = false;  // hold open, send nothing more
  bool close_after_write = true;
  bool dead = false;
  bool handed_off = false;  // the socket belongs to a LocalResponse::takeover now
};

LocalServer::LocalServer() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) Die("LocalServer: socket");
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) Die("LocalServer: bind");
  if (listen(listen_fd_, 4096) != 0) Die("LocalServer: listen");
  socklen_t len = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  SetNonBlocking(listen_fd_);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) Die("LocalServer: eventfd");
  {
    DefaultFaults& d = TheDefaultFaults();
    std::lock_guard<std::mutex> lock(d.mu);
    faults_.SetPlan(d.plan, d.servers++);
  }
  thread_ = std::thread([this] { Run(); });
}

LocalServer::~LocalServer() {
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
  thread_.join();
  close(listen_fd_);
  close(wake_fd_);
}

void LocalServer::Handle(std::string method, std::string path, LocalHandler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  routes_.push_back({std::move(method), std::move(path), std::move(handler)});
}

std::string LocalServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::vector<LocalRequest> LocalServer::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

size_t LocalServer::request_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.size();
}

void LocalServer::SetFaultPlan(const FaultPlan& plan) { faults_.SetPlan(plan); }

void LocalServer::SetDefaultFaultPlan(const FaultPlan& plan) {
  DefaultFaults& d = TheDefaultFaults();
  std::lock_guard<std::mutex> lock(d.mu);
  d.plan = plan;
}

Json LocalServer::Stats() const {
  Json replies = Json::object();
  size_t requests = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests = requests_.size();
    for (const auto& [route, by_status] : replies_)
      for (const auto& [status, n] : by_status) replies[route][std::to_string(status)] = n;
  }
  return {{"requests", requests}, {"faults", faults_.Stats()}, {"replies", replies}};
}

LocalResponse LocalServer::Control(const LocalRequest& request) {
  if (request.method == "GET" && request.path == "/__stats") return LocalResponse::Json(200, Stats().dump());
  if (request.method == "POST" && request.path == "/__faults") {
    FaultPlan plan;
    std::string err;
    if (!FaultPlan::Parse(TrimWs(request.body), &plan, &err)) return LocalResponse::Text(400, err);
    faults_.SetPlan(plan);
    return LocalResponse::Text(200, plan.Describe());
  }
  return LocalResponse::Text(404, "control routes: GET /__stats, POST /__faults");
}

LocalResponse LocalServer::Dispatch(const LocalRequest& request) {
  if (request.path.rfind("/__", 0) == 0) return Control(request);
  if (auto fault = faults_.Decide(request)) {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
    return *fault;
  }
  LocalResponse reply = RunRoute(request);
  std::lock_guard<std::mutex> lock(mu_);
  ++replies_[request.method + " " + request.path][reply.status];
  return reply;
}

LocalResponse LocalServer::RunRoute(const LocalRequest& request) {
  LocalHandler handler;
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
    for (auto it = routes_.rbegin(); it != routes_.rend(); ++it) {
      if (it->method != "*" && it->method != request.method) continue;
      const std::string& p = it->path;
      bool match = !p.empty() && p.back() == '*' ? request.path.compare(0, p.size() - 1, p, 0, p.size() - 1) == 0
                                                 : request.path == p;
      if (match) {
        handler = it->handler;
        break;
      }
    }
  }
  if (!handler) return LocalResponse::Text(404, "no route for " + request.method + " " + request.path);
  try {
    return handler(request);
  } catch (const std::exception& e) {
    return LocalResponse::Text(500, std::string("handler threw: ") + e.what());
  } catch (...) {
    return LocalResponse::Text(500, "handler threw");
  }
}

void LocalServer::Run() {
  std::vector<std::unique_ptr<Connection>> conns;
  std::vector<pollfd> fds;

  // Parses a complete request out of c->in, if there is one yet. Returns false on garbage.
  auto try_parse = [&](Connection* c) -> bool {
    size_t header_end = c->in.find("\r\n\r\n");
    if (header_end == std::string::npos) return c->in.size() < (1 << 20);
    LocalRequest req;
    size_t line_end = c->in.find("\r\n");
    std::string request_line = c->in.substr(0, line_end);
    size_t sp1 = request_line.find(' ');
    size_t sp2 = request_line.find(' ', sp1 + 1);
    if (sp1 == std::string::npos || sp2 == std::string::npos) return false;
    req.method = request_line.substr(0, sp1);
    req.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t q = req.target.find('?');
    req.path = req.target.substr(0, q);
    if (q != std::string::npos) req.query = req.target.substr(q + 1);
    size_t pos = line_end + 2;
    while (pos < header_end) {
      size_t eol = c->in.find("\r\n", pos);
      std::string line = c->in.substr(pos, eol - pos);
      pos = eol + 2;
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      req.headers[Lower(TrimWs(line.substr(0, colon)))] = TrimWs(line.substr(colon + 1));
    }
    size_t length = 0;
    if (auto it = req.headers.find("content-length"); it != req.headers.end())
      length = std::strtoull(it->second.c_str(), nullptr, 10);
    if (req.headers.count("transfer-encoding")) {
      c->have_request = true;
      c->reply = LocalResponse::Text(411, "chunked request bodies are not supported");
      c->reply_at = Clock::now();
      return true;
    }
    if (!c->sent_continue && Lower(req.Header("expect")) == "100-continue") {
      c->sent_continue = true;
      c->out = "HTTP/1.1 100 Continue\r\n\r\n";  // tiny: the socket buffer takes it whole
      (void)!send(c->fd, c->out.data(), c->out.size(), MSG_NOSIGNAL);
      c->out.clear();
    }
    if (c->in.size() < header_end + 4 + length) return true;  // body still arriving
    req.body = c->in.substr(header_end + 4, length);
    c->have_request = true;
    c->reply = Dispatch(req);
    c->reply_at =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(c->reply.delay));
    return true;
  };

  auto start_reply = [&](Connection* c) {
    const LocalResponse& r = c->reply;
    if (r.takeover) {
      size_t header_end = c->in.find("\r\n\r\n");
      std::string rest = header_end == std::string::npos ? "" : c->in.substr(header_end + 4);
      c->handed_off = c->dead = true;
      r.takeover(c->fd, std::move(rest));
      return;
    }
    if (r.mode == LocalResponse::Mode::kCloseNoReply) {
      c->dead = true;
      return;
    }
    std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + Reason(r.status) + "\r\n";
    for (const auto& [k, v] : r.headers) head += k + ": " + v + "\r\n";
    head += "Content-Length: " + std::to_string(r.body.size()) + "\r\nConnection: close\r\n\r\n";
    if (r.mode == LocalResponse::Mode::kNormal) {
      c->out = head + r.body;
    } else {
      c->out = head + r.body.substr(0, r.body.size() / 2);
      c->stalled = r.mode == LocalResponse::Mode::kStall;
      c->close_after_write = r.mode == LocalResponse::Mode::kTruncate;
    }
    c->writing = true;
  };

  for (;;) {
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    int timeout_ms = 1000;
    auto now = Clock::now();
    for (auto& c : conns) {
      short events = 0;
      if (!c->have_request) events = POLLIN;
      if (c->writing && !c->out.empty()) events = POLLOUT;
      if (c->stalled && c->out.empty()) events = POLLIN;  // to notice the client hanging up
      if (c->have_request && !c->writing) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(c->reply_at - now).count();
        timeout_ms = std::clamp<int>(static_cast<int>(ms) + 1, 0, timeout_ms);
      }
      fds.push_back({c->fd, events, 0});
    }
    poll(fds.data(), fds.size(), timeout_ms);
    if (fds[0].revents & POLLIN) break;
    if (fds[1].revents & POLLIN) {
      for (;;) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;  // EAGAIN, or EMFILE: the rest wait in the backlog
        auto c = std::make_unique<Connection>();
        c->fd = fd;
        conns.push_back(std::move(c));
        size_t open = ++open_connections_;
        size_t peak = peak_connections_.load();
        while (open > peak && !peak_connections_.compare_exchange_weak(peak, open)) {
        }
      }
    }
    now = Clock::now();
    // fds[i + 2] belongs to conns[i] for the connections that existed before poll().
    size_t polled = fds.size() - 2;
    for (size_t i = 0; i < conns.size(); ++i) {
      Connection* c = conns[i].get();
      short rev = i < polled ? fds[i + 2].revents : 0;
      if (!c->have_request && (rev & (POLLIN | POLLHUP | POLLERR))) {
        char buf[65536];
        for (;;) {
          ssize_t n = recv(c->fd, buf, sizeof buf, 0);
          if (n > 0) {
            c->in.append(buf, static_cast<size_t>(n));
            continue;
          }
          if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) c->dead = true;
          break;
        }
        if (!try_parse(c)) c->dead = true;
        if (c->have_request) c->dead = false;  // the client may half-close after sending
      }
      if (c->have_request && !c->writing && !c->dead && now >= c->reply_at) start_reply(c);
      if (c->writing && !c->out.empty() && !c->dead) {
        ssize_t n = send(c->fd, c->out.data(), c->out.size(), MSG_NOSIGNAL);
        if (n > 0)
          c->out.erase(0, static_cast<size_t>(n));
        else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
          c->dead = true;
      }
      if (c->writing && c->out.empty() && !c->stalled && c->close_after_write) c->dead = true;
      if (c->stalled && (rev & (POLLIN | POLLHUP | POLLERR))) {
        char buf[4096];
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) c->dead = true;
      }
    }
    auto gone = std::remove_if(conns.begin(), conns.end(), [&](const std::unique_ptr<Connection>& c) {
      if (!c->dead) return false;
      if (!c->handed_off) close(c->fd);
      --open_connections_;
      return true;
    });
    conns.erase(gone, conns.end());
  }
  for (auto& c : conns) close(c->fd);
  open_connections_ = 0;
}

}  // namespace comfyrun::testing
