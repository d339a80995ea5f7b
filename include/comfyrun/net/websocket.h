#pragma once
// WebSocket (RFC 6455): the frame codec, used by both ends (the client below and the test
// servers), and WebSocketLoop, one thread that runs every client WebSocket of the process.
//
// Why our own: Debian 12's libcurl 7.88 is built without WebSocket support and cpp-httplib is
// not linked. libcurl still does the connecting: CURLOPT_CONNECT_ONLY sets up TCP, TLS (wss://)
// and an HTTP proxy (as a CONNECT tunnel), and curl_easy_send / curl_easy_recv carry the bytes,
// so wss:// and proxies work as they do for HTTP requests. This module adds the HTTP/1.1
// Upgrade handshake and the framing.
//
// Frame layout (RFC 6455 §5.2), all integers big-endian:
//   byte 0   FIN(1) RSV1-3(3) opcode(4)
//   byte 1   MASK(1) len7(7)   len7 = 126: a 16-bit length follows; 127: a 64-bit length
//   [4 bytes masking key when MASK]   payload (XOR-ed with key[i % 4] when masked)
// A client masks every frame with a fresh random key; a server masks none.
//
// Supported: text, binary, continuation (fragmented messages are reassembled; control frames
// may come between the fragments), ping (answered with a pong), pong, close (answered; code and
// reason reported), a cap on the message size (1009 close), keepalive pings and an idle
// timeout that detects half-open connections. Not supported: extensions (permessage-deflate is
// never offered, so a server sends none and RSV bits are errors), subprotocols, and UTF-8
// validation of text messages (the JSON parser that reads them rejects bad UTF-8 anyway).
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace comfyrun {

enum class WsOpcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

/// Close codes used here (RFC 6455 §7.4.1).
constexpr uint16_t kWsNormalClosure = 1000;
constexpr uint16_t kWsGoingAway = 1001;
constexpr uint16_t kWsProtocolError = 1002;
constexpr uint16_t kWsNoStatus = 1005;         ///< reported when a close frame carried no code
constexpr uint16_t kWsAbnormalClosure = 1006;  ///< reported when the connection dropped without a close frame
constexpr uint16_t kWsMessageTooBig = 1009;

/// The Sec-WebSocket-Accept value for a Sec-WebSocket-Key: base64(SHA-1(key + RFC GUID)).
std::string WsAcceptKey(std::string_view client_key);
/// A fresh Sec-WebSocket-Key: base64 of 16 random bytes.
std::string NewWsKey();
/// Checks the server's reply to the opening handshake (`head`: status line and headers, up to
/// the blank line) against the key we sent. Returns "" when the upgrade succeeded, else why
/// not; a reply that is not 101 also sets *http_status (0 when it is not HTTP at all).
std::string CheckWsHandshakeReply(const std::string& head, const std::string& client_key, int* http_status);

/// One encoded frame. `masked` (client to server) XORs the payload with a random key, or with
/// `mask_key` (4 bytes) when given (tests). Control frames must have fin and <= 125 bytes.
std::string EncodeWsFrame(WsOpcode opcode, std::string_view payload, bool fin = true, bool masked = true,
                          const uint8_t* mask_key = nullptr);
/// The payload of a close frame: the code, then the reason (cut to fit 125 bytes).
std::string WsClosePayload(uint16_t code, std::string_view reason);

/// What WsDecoder yields: a whole data message (fragments joined) or one control frame.
struct WsMessage {
  WsOpcode opcode = WsOpcode::kText;  ///< kText, kBinary, kClose, kPing or kPong
  std::string payload;                ///< for kClose: the raw payload (code + reason)
  uint16_t close_code = 0;            ///< kClose: the code, kWsNoStatus when none was sent
  std::string close_reason;           ///< kClose
};

/// Incremental frame decoder: feed bytes as they arrive, take messages out with Next().
class WsDecoder {
 public:
  /// kClient decodes what a server sends (frames must be unmasked); kServer decodes what a
  /// client sends (frames must be masked).
  enum class Role { kClient, kServer };
  WsDecoder(Role role, size_t max_message);

  /// Consumes `bytes`. False on a protocol violation; error_code() (1002 or 1009) and error()
  /// say which, and the connection must be closed with that code. Feeding after an error is a
  /// no-op returning false.
  bool Feed(std::string_view bytes);
  /// The next decoded message, or nullopt when none is complete yet.
  std::optional<WsMessage> Next();

  uint16_t error_code() const { return error_code_; }
  const std::string& error() const { return error_; }

 private:
  bool Fail(uint16_t code, std::string message);
  bool ParseFrames();

  Role role_;
  size_t max_message_;
  std::string buf_;          ///< received bytes not yet parsed
  size_t pos_ = 0;           ///< parse offset into buf_
  bool in_message_ = false;  ///< a fragmented data message is being assembled
  WsOpcode message_opcode_ = WsOpcode::kText;
  std::string message_;
  std::deque<WsMessage> ready_;
  uint16_t error_code_ = 0;
  std::string error_;
};

/// Tunables of one client connection.
struct WebSocketOptions {
  double connect_timeout = 10;    ///< seconds for TCP, TLS, proxy and the Upgrade handshake
  double ping_interval = 20;      ///< ping after this long without traffic from the server; 0 = never
  double idle_timeout = 60;       ///< give up when nothing arrives for this long (pongs count); 0 = never
  size_t max_message = 16 << 20;  ///< a longer message closes the connection with 1009
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra handshake headers
};

/// How a connection ended; on_close gets it exactly once.
struct WsCloseInfo {
  bool opened = false;  ///< the handshake had completed (on_open ran)
  int http_status = 0;  ///< the server's reply to the Upgrade when it was not 101 (404: no WebSocket there)
  uint16_t code = kWsAbnormalClosure;  ///< the close code (the server's or ours); 1006 when it dropped
  std::string reason;  ///< the close reason, or what went wrong ("connection refused", "no data for 60s")
};

/// Every client WebSocket of the process on one thread (poll() over their sockets), so that
/// hundreds of remote jobs listening for events hold no thread each.
///
/// Threading: Open, Send, Close and Stop may be called from any thread, including a handler.
/// Handlers run on the loop's thread, one at a time, and must not block; to hand an event to
/// another thread, post it (e.g. HttpLoop::Post).
class WebSocketLoop {
 public:
  using ConnId = uint64_t;
  struct Handlers {
    std::function<void()> on_open;                          ///< the handshake completed
    std::function<void(WsMessage&& message)> on_message;    ///< kText or kBinary messages
    std::function<void(const WsCloseInfo& info)> on_close;  ///< once, last; also after a failed connect
  };

  WebSocketLoop();   ///< starts the thread
  ~WebSocketLoop();  ///< Stop()
  WebSocketLoop(const WebSocketLoop&) = delete;
  WebSocketLoop& operator=(const WebSocketLoop&) = delete;

  /// Connects to `url` (ws://, wss://, or http(s):// meaning the same) and performs the
  /// handshake. Every outcome ends in on_close (after on_open if the handshake completed).
  ConnId Open(const std::string& url, WebSocketOptions options, const Handlers& handlers);
  /// Queues a text or binary message; dropped when the connection is not open (any more).
  void Send(ConnId id, WsOpcode opcode, std::string payload);
  /// Starts the closing handshake; on_close follows (with `code`) once the server answers or
  /// after a short grace period. Unknown ids are ignored.
  void Close(ConnId id, uint16_t code = kWsNormalClosure, std::string reason = "");
  /// Drops every connection without running handlers and joins the thread. After it returns
  /// no handler runs and Open calls on_close at once with "stopped". Idempotent. Must not be
  /// called from a handler.
  void Stop();

  /// Connections not yet closed (any thread; approximate while changing).
  size_t open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace comfyrun
