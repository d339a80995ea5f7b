#include "support/local_websocket.h"

// Implementation details: one thread polls the socket and an eventfd; senders append encoded
// frames to out_ under the mutex and write the eventfd. Server frames are never masked.
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>

namespace comfyrun::testing {

std::string LocalWebSocket::HandshakeReply(const LocalRequest& request) {
  std::string key = request.Header("sec-websocket-key");
  std::string upgrade = request.Header("upgrade");
  for (char& c : upgrade) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (request.method != "GET" || key.empty() || upgrade != "websocket" ||
      request.Header("sec-websocket-version") != "13")
    return "";
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " +
         WsAcceptKey(key) + "\r\n\r\n";
}

LocalWebSocket::LocalWebSocket(int fd, const LocalRequest& request, std::string leftover, Handlers handlers)
    : fd_(fd),
      wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      handlers_(std::move(handlers)),
      out_(HandshakeReply(request)),
      in_(std::move(leftover)) {
  thread_ = std::thread([this] { Run(); });
}

LocalWebSocket::~LocalWebSocket() {
  Drop();
  thread_.join();
  close(wake_fd_);
}

void LocalWebSocket::Wake() {
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
}

void LocalWebSocket::SendText(const std::string& text) {
  SendRaw(EncodeWsFrame(WsOpcode::kText, text, true, /*masked=*/false));
}

void LocalWebSocket::SendBinary(const std::string& bytes) {
  SendRaw(EncodeWsFrame(WsOpcode::kBinary, bytes, true, /*masked=*/false));
}

void LocalWebSocket::SendRaw(const std::string& bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (close_requested_ || drop_requested_) return;
    out_ += bytes;
  }
  Wake();
}

void LocalWebSocket::Close(uint16_t code, const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (close_requested_ || drop_requested_) return;
    out_ += EncodeWsFrame(WsOpcode::kClose, WsClosePayload(code, reason), true, false);
    close_requested_ = true;
  }
  Wake();
}

void LocalWebSocket::Drop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    drop_requested_ = true;
  }
  Wake();
}

void LocalWebSocket::Run() {
  using Clock = std::chrono::steady_clock;
  WsDecoder decoder(WsDecoder::Role::kServer, 64 << 20);
  bool closing = false;  // our close frame is out: waiting for the client's
  Clock::time_point close_deadline;
  std::string pending = std::move(in_);
  for (bool alive = true; alive;) {
    std::string out;
    bool drop, close_requested;
    {
      std::lock_guard<std::mutex> lock(mu_);
      drop = drop_requested_;
      close_requested = close_requested_;
      out.swap(out_);
    }
    if (drop) break;
    // Writes are small in tests; a full socket buffer just waits for POLLOUT below.
    while (!out.empty()) {
      ssize_t n = send(fd_, out.data(), out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        out.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd_, POLLOUT, 0};
        poll(&p, 1, 100);
        continue;
      }
      alive = false;
      break;
    }
    if (!alive) break;
    if (close_requested && !closing) {
      closing = true;
      close_deadline = Clock::now() + std::chrono::seconds(1);
    }
    if (closing && Clock::now() >= close_deadline) break;
    if (!pending.empty()) {
      alive = decoder.Feed(pending);
      pending.clear();
    }
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    poll(fds, 2, closing ? 50 : 1000);
    if (fds[1].revents & POLLIN) {
      uint64_t drained;
      (void)!read(wake_fd_, &drained, sizeof drained);
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[65536];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) break;
      if (n > 0 && !decoder.Feed(std::string_view(buf, static_cast<size_t>(n)))) {
        std::string frame =
            EncodeWsFrame(WsOpcode::kClose, WsClosePayload(decoder.error_code(), decoder.error()), true, false);
        (void)!send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL);
        break;
      }
    }
    while (auto m = decoder.Next()) {
      if (m->opcode == WsOpcode::kPing) {
        pings_++;
        std::lock_guard<std::mutex> lock(mu_);
        if (!close_requested_) out_ += EncodeWsFrame(WsOpcode::kPong, m->payload, true, false);
        Wake();
      } else if (m->opcode == WsOpcode::kPong) {
        pongs_++;
      } else if (m->opcode == WsOpcode::kClose) {
        if (!closing) {
          std::string frame = EncodeWsFrame(
              WsOpcode::kClose, WsClosePayload(m->close_code == kWsNoStatus ? kWsNormalClosure : m->close_code, ""),
              true, false);
          (void)!send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL);
        }
        alive = false;
        break;
      } else if (m->opcode == WsOpcode::kText || m->opcode == WsOpcode::kBinary) {
        received_++;
        if (handlers_.on_message) handlers_.on_message(std::move(*m));
      }
    }
  }
  open_ = false;
  close(fd_);
  if (handlers_.on_close) handlers_.on_close();
}

}  // namespace comfyrun::testing
