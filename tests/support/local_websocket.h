#pragma once
// LocalWebSocket: the server end of one WebSocket, for fake servers in tests (FakeComfyui's
// /ws). LocalServer hands the connection over (LocalResponse::takeover) once a handler accepts
// an Upgrade; from then on this class owns the socket and serves it on a thread of its own
// (test code: a few sockets, so a thread each is fine; comfyrun's client side holds none).
//
// Framing is comfyrun's own codec (net/websocket.h), checked independently against the RFC
// 6455 examples in tests/websocket_test.cc.
//
// Threading: Send*, Close, Drop and open() may be called from any thread. The handlers run on
// the socket's thread and must not call Drop/Close synchronously-and-wait (they do not wait
// anyway) or destroy the object.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "comfyrun/net/websocket.h"
#include "support/local_server.h"

namespace comfyrun::testing {

class LocalWebSocket {
 public:
  struct Handlers {
    std::function<void(WsMessage&& message)> on_message;  ///< text/binary from the client
    std::function<void()> on_close;                       ///< once, when the connection ends
  };

  /// The 101 reply head for an Upgrade request, or "" when `request` is not a valid
  /// WebSocket upgrade (then answer 400).
  static std::string HandshakeReply(const LocalRequest& request);

  /// Takes over `fd` (non-blocking, from LocalServer), writes the 101 reply, and serves the
  /// connection. `leftover` holds bytes that arrived after the request.
  LocalWebSocket(int fd, const LocalRequest& request, std::string leftover, Handlers handlers);
  /// Drops the connection (if still open) and joins the thread. on_close has run by then.
  ~LocalWebSocket();
  LocalWebSocket(const LocalWebSocket&) = delete;
  LocalWebSocket& operator=(const LocalWebSocket&) = delete;

  void SendText(const std::string& text);
  void SendBinary(const std::string& bytes);
  /// Queues raw bytes (hand-made frames, for codec tests).
  void SendRaw(const std::string& bytes);
  /// Sends a close frame and closes the socket once the client answers (or after 1 s).
  void Close(uint16_t code = kWsNormalClosure, const std::string& reason = "");
  /// Closes the TCP connection at once, without a close frame (a crash, a cable pulled).
  void Drop();
  bool open() const { return open_.load(); }
  /// Text and binary messages received (for tests).
  int messages_received() const { return received_.load(); }
  /// Pings received from the client (answered automatically).
  int pings_received() const { return pings_.load(); }
  /// Pongs received from the client (answers to our pings).
  int pongs_received() const { return pongs_.load(); }

 private:
  void Run();
  void Wake();

  int fd_;
  int wake_fd_;
  Handlers handlers_;
  std::mutex mu_;  // guards out_, close_requested_, drop_requested_
  std::string out_;
  bool close_requested_ = false;
  bool drop_requested_ = false;
  std::string in_;  // leftover bytes from the handshake, consumed by Run()
  std::atomic<bool> open_{true};
  std::atomic<int> received_{0};
  std::atomic<int> pings_{0};
  std::atomic<int> pongs_{0};
  std::thread thread_;
};

}  // namespace comfyrun::testing
