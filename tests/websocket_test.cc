// Tests of the WebSocket codec (against the byte-exact examples of RFC 6455, so that the
// client and the test servers, which share the codec, cannot agree on a mistake) and of
// WebSocketLoop against LocalWebSocket servers on 127.0.0.1.
#include "comfyrun/net/websocket.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "support/local_server.h"
#include "support/local_websocket.h"

using namespace comfyrun;
using comfyrun::testing::LocalRequest;
using comfyrun::testing::LocalResponse;
using comfyrun::testing::LocalServer;
using comfyrun::testing::LocalWebSocket;

namespace {

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

template <typename P>
bool Eventually(P pred, double seconds = 5) {
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

/// A LocalServer whose /ws route accepts WebSockets; what the server side does with each is
/// up to the test (`on_accept`). The sockets live until the fixture goes.
struct WsServer {
  LocalServer http;
  std::mutex mu;
  std::vector<std::shared_ptr<LocalWebSocket>> sockets;
  std::vector<int> raw_fds;  // taken-over sockets a test answers by hand
  std::function<void(LocalWebSocket&)> on_accept;
  std::function<void(LocalWebSocket&, WsMessage&&)> on_message;

  WsServer() {
    http.Handle("GET", "/ws", [this](const LocalRequest& req) {
      LocalResponse r;
      r.status = 101;
      r.takeover = [this, req](int fd, std::string rest) {
        // Atomic: the socket's reader thread starts in its constructor and may call
        // on_message before the store below (a data race TSan reported).
        auto holder = std::make_shared<std::atomic<LocalWebSocket*>>(nullptr);
        LocalWebSocket::Handlers h;
        h.on_message = [this, holder](WsMessage&& m) {
          LocalWebSocket* self = holder->load();
          if (on_message && self) on_message(*self, std::move(m));
        };
        auto ws = std::make_shared<LocalWebSocket>(fd, req, std::move(rest), std::move(h));
        holder->store(ws.get());
        std::lock_guard<std::mutex> lock(mu);
        sockets.push_back(ws);
        if (on_accept) on_accept(*ws);
      };
      return r;
    });
  }
  ~WsServer() {
    std::vector<std::shared_ptr<LocalWebSocket>> s;
    {
      std::lock_guard<std::mutex> lock(mu);
      s.swap(sockets);
    }
    s.clear();
    for (int fd : raw_fds) close(fd);
  }
  std::string url(const std::string& path = "/ws") const {
    return "ws://127.0.0.1:" + std::to_string(http.port()) + path;
  }
  std::shared_ptr<LocalWebSocket> socket(size_t i) {
    std::lock_guard<std::mutex> lock(mu);
    return i < sockets.size() ? sockets[i] : nullptr;
  }
};

/// Records what a client connection sees.
struct Client {
  std::mutex mu;
  bool opened = false;
  std::vector<WsMessage> messages;
  std::promise<WsCloseInfo> closed;
  std::shared_future<WsCloseInfo> closed_future = closed.get_future().share();
  std::atomic<int> close_calls{0};

  WebSocketLoop::Handlers Handlers() {
    WebSocketLoop::Handlers h;
    h.on_open = [this] {
      std::lock_guard<std::mutex> lock(mu);
      opened = true;
    };
    h.on_message = [this](WsMessage&& m) {
      std::lock_guard<std::mutex> lock(mu);
      messages.push_back(std::move(m));
    };
    h.on_close = [this](const WsCloseInfo& info) {
      if (close_calls++ == 0) closed.set_value(info);
    };
    return h;
  }
  bool is_open() {
    std::lock_guard<std::mutex> lock(mu);
    return opened;
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu);
    return messages.size();
  }
  WsCloseInfo WaitClosed(double seconds = 5) {
    REQUIRE(closed_future.wait_for(std::chrono::duration<double>(seconds)) == std::future_status::ready);
    return closed_future.get();
  }
};

}  // namespace

TEST_SUITE("WebSocket") {
  TEST_CASE("codec: RFC 6455 examples, byte for byte" * doctest::timeout(5)) {
    // §1.3: the accept value for the sample nonce.
    CHECK(WsAcceptKey("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK(NewWsKey().size() == 24);
    CHECK(NewWsKey() != NewWsKey());

    // §5.7: a single-frame unmasked text message, and the same masked.
    CHECK(EncodeWsFrame(WsOpcode::kText, "Hello", true, false) == Bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
    const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    std::string masked = EncodeWsFrame(WsOpcode::kText, "Hello", true, true, key);
    CHECK(masked == Bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
    // An unmasked ping with "Hello", and a masked pong with "Hello".
    CHECK(EncodeWsFrame(WsOpcode::kPing, "Hello", true, false) == Bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
    CHECK(EncodeWsFrame(WsOpcode::kPong, "Hello", true, true, key) ==
          Bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
    // 256 bytes: a 16-bit length; 64 KiB: a 64-bit length.
    CHECK(EncodeWsFrame(WsOpcode::kBinary, std::string(256, 'x'), true, false).substr(0, 4) ==
          Bytes({0x82, 0x7E, 0x01, 0x00}));
    CHECK(EncodeWsFrame(WsOpcode::kBinary, std::string(65536, 'x'), true, false).substr(0, 10) ==
          Bytes({0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}));
    CHECK(EncodeWsFrame(WsOpcode::kBinary, std::string(125, 'x'), true, false)[1] == 125);
    CHECK(EncodeWsFrame(WsOpcode::kBinary, std::string(126, 'x'), true, false).substr(1, 3) ==
          Bytes({0x7E, 0x00, 0x7E}));
    CHECK(EncodeWsFrame(WsOpcode::kBinary, std::string(65535, 'x'), true, false).substr(1, 3) ==
          Bytes({0x7E, 0xFF, 0xFF}));

    // The server side unmasks the masked example.
    WsDecoder server(WsDecoder::Role::kServer, 1 << 20);
    REQUIRE(server.Feed(masked));
    auto m = server.Next();
    REQUIRE(m);
    CHECK(m->opcode == WsOpcode::kText);
    CHECK(m->payload == "Hello");
    CHECK_FALSE(server.Next());

    // §5.7: a fragmented unmasked text message, with a ping between the fragments (§5.4).
    WsDecoder client(WsDecoder::Role::kClient, 1 << 20);
    REQUIRE(client.Feed(Bytes({0x01, 0x03, 0x48, 0x65, 0x6c})));
    CHECK_FALSE(client.Next());
    REQUIRE(client.Feed(Bytes({0x89, 0x00})));
    REQUIRE(client.Feed(Bytes({0x80, 0x02, 0x6c, 0x6f})));
    m = client.Next();
    REQUIRE(m);
    CHECK(m->opcode == WsOpcode::kPing);
    m = client.Next();
    REQUIRE(m);
    CHECK(m->opcode == WsOpcode::kText);
    CHECK(m->payload == "Hello");
  }

  TEST_CASE("codec: 16- and 64-bit lengths round-trip, fed one byte at a time" * doctest::timeout(10)) {
    for (size_t size : {0ul, 1ul, 125ul, 126ul, 1000ul, 65535ul, 65536ul, 200000ul}) {
      std::string payload(size, '\0');
      for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>(i * 31 + 7);
      std::string frame = EncodeWsFrame(WsOpcode::kBinary, payload, true, /*masked=*/true);
      WsDecoder server(WsDecoder::Role::kServer, 1 << 20);
      if (size <= 1000) {
        for (char c : frame) REQUIRE(server.Feed(std::string_view(&c, 1)));
      } else {
        REQUIRE(server.Feed(std::string_view(frame).substr(0, frame.size() / 3)));
        CHECK_FALSE(server.Next());
        REQUIRE(server.Feed(std::string_view(frame).substr(frame.size() / 3)));
      }
      auto m = server.Next();
      REQUIRE(m);
      CHECK(m->opcode == WsOpcode::kBinary);
      CHECK(m->payload == payload);
    }
    // Three fragments of a binary message, masked, each with its own key.
    WsDecoder server(WsDecoder::Role::kServer, 1 << 20);
    std::string bytes = EncodeWsFrame(WsOpcode::kBinary, "abc", false) +
                        EncodeWsFrame(WsOpcode::kContinuation, "def", false) + EncodeWsFrame(WsOpcode::kPong, "p") +
                        EncodeWsFrame(WsOpcode::kContinuation, "gh", true);
    REQUIRE(server.Feed(bytes));
    CHECK(server.Next()->opcode == WsOpcode::kPong);
    auto whole = server.Next();
    REQUIRE(whole);
    CHECK(whole->opcode == WsOpcode::kBinary);
    CHECK(whole->payload == "abcdefgh");
  }

  TEST_CASE("codec: close frames and protocol errors" * doctest::timeout(5)) {
    auto decode = [](WsDecoder::Role role, const std::string& bytes, size_t max = 1 << 20) {
      WsDecoder d(role, max);
      d.Feed(bytes);
      return std::make_pair(d.error_code(), d.Next());
    };
    using R = WsDecoder::Role;
    auto [code, close] = decode(R::kClient, EncodeWsFrame(WsOpcode::kClose, WsClosePayload(1001, "bye"), true, false));
    CHECK(code == 0);
    REQUIRE(close);
    CHECK(close->opcode == WsOpcode::kClose);
    CHECK(close->close_code == 1001);
    CHECK(close->close_reason == "bye");
    CHECK(decode(R::kClient, Bytes({0x88, 0x00})).second->close_code == kWsNoStatus);
    CHECK(decode(R::kClient, Bytes({0x88, 0x01, 0x03})).first == kWsProtocolError);  // 1-byte close payload

    CHECK(decode(R::kClient, EncodeWsFrame(WsOpcode::kText, "x", true, true)).first ==
          kWsProtocolError);  // masked from a server
    CHECK(decode(R::kServer, EncodeWsFrame(WsOpcode::kText, "x", true, false)).first ==
          kWsProtocolError);                                                   // unmasked from a client
    CHECK(decode(R::kClient, Bytes({0xC1, 0x00})).first == kWsProtocolError);  // RSV1 (compression not negotiated)
    CHECK(decode(R::kClient, Bytes({0x83, 0x00})).first == kWsProtocolError);  // opcode 3 is reserved
    CHECK(decode(R::kClient, Bytes({0x09, 0x00})).first == kWsProtocolError);  // fragmented ping
    CHECK(decode(R::kClient, Bytes({0x89, 0x7E, 0x00, 0x7E})).first == kWsProtocolError);  // ping over 125 bytes
    CHECK(decode(R::kClient, Bytes({0x80, 0x01, 0x61})).first == kWsProtocolError);        // continuation of nothing
    CHECK(decode(R::kClient, Bytes({0x01, 0x01, 0x61, 0x81, 0x01, 0x62})).first ==
          kWsProtocolError);  // text inside text
    // 64-bit length with the top bit set.
    CHECK(decode(R::kClient, Bytes({0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0})).first == kWsProtocolError);
    // Too big: refused from the header alone, before the payload is there.
    CHECK(decode(R::kClient, Bytes({0x82, 0x7F, 0, 0, 0, 0x40, 0, 0, 0, 0}), 1 << 20).first == kWsMessageTooBig);
    // Too big across fragments.
    std::string frags = EncodeWsFrame(WsOpcode::kText, std::string(600, 'a'), false, false) +
                        EncodeWsFrame(WsOpcode::kContinuation, std::string(600, 'b'), true, false);
    CHECK(decode(R::kClient, frags, 1000).first == kWsMessageTooBig);
    CHECK(decode(R::kClient, frags, 1200).first == 0);
    // After an error, more bytes are refused.
    WsDecoder d(R::kClient, 100);
    CHECK_FALSE(d.Feed(Bytes({0x83, 0x00})));
    CHECK_FALSE(d.Feed(EncodeWsFrame(WsOpcode::kText, "x", true, false)));
    CHECK_FALSE(d.Next());
  }

  TEST_CASE("client: handshake, echo, server fragments and ping, clean close" * doctest::timeout(15)) {
    WsServer server;
    server.on_message = [](LocalWebSocket& ws, WsMessage&& m) { ws.SendText("echo:" + m.payload); };
    server.on_accept = [](LocalWebSocket& ws) {
      // A fragmented greeting with a ping in the middle, as hand-made frames.
      ws.SendRaw(EncodeWsFrame(WsOpcode::kText, "hel", false, false) +
                 EncodeWsFrame(WsOpcode::kPing, "pp", true, false) +
                 EncodeWsFrame(WsOpcode::kContinuation, "lo", true, false));
    };
    WebSocketLoop loop;
    Client c;
    auto id = loop.Open(server.url() + "?clientId=abc", {}, c.Handlers());
    REQUIRE(Eventually([&] { return c.count() >= 1; }));
    CHECK(c.is_open());
    {
      std::lock_guard<std::mutex> lock(c.mu);
      CHECK(c.messages[0].opcode == WsOpcode::kText);
      CHECK(c.messages[0].payload == "hello");
    }
    // The ping was answered with a pong.
    REQUIRE(Eventually([&] { return server.socket(0) && server.socket(0)->pongs_received() == 1; }));
    // The handshake carried the query.
    auto reqs = server.http.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].target == "/ws?clientId=abc");
    CHECK(reqs[0].Header("sec-websocket-version") == "13");

    // A 64-bit-length message each way.
    std::string big(70000, 'z');
    loop.Send(id, WsOpcode::kText, big);
    REQUIRE(Eventually([&] { return c.count() >= 2; }));
    {
      std::lock_guard<std::mutex> lock(c.mu);
      CHECK(c.messages[1].payload == "echo:" + big);
    }
    CHECK(loop.open_connections() == 1);
    loop.Close(id, kWsNormalClosure, "done");
    WsCloseInfo info = c.WaitClosed();
    CHECK(info.opened);
    CHECK(info.code == kWsNormalClosure);
    CHECK(Eventually([&] { return !server.socket(0)->open(); }));
    CHECK(loop.open_connections() == 0);
    CHECK(c.close_calls == 1);
  }

  TEST_CASE("client: the server's close, a drop, and an oversized message end the connection" * doctest::timeout(15)) {
    WsServer server;
    WebSocketLoop loop;
    {
      Client c;
      loop.Open(server.url(), {}, c.Handlers());
      REQUIRE(Eventually([&] { return server.socket(0) != nullptr && c.is_open(); }));
      server.socket(0)->Close(kWsGoingAway, "restarting");
      WsCloseInfo info = c.WaitClosed();
      CHECK(info.opened);
      CHECK(info.code == kWsGoingAway);
      CHECK(info.reason == "restarting");
    }
    {
      Client c;
      loop.Open(server.url(), {}, c.Handlers());
      REQUIRE(Eventually([&] { return server.socket(1) != nullptr && c.is_open(); }));
      server.socket(1)->Drop();
      WsCloseInfo info = c.WaitClosed();
      CHECK(info.opened);
      CHECK(info.code == kWsAbnormalClosure);
    }
    {
      Client c;
      WebSocketOptions o;
      o.max_message = 1000;
      loop.Open(server.url(), o, c.Handlers());
      REQUIRE(Eventually([&] { return server.socket(2) != nullptr && c.is_open(); }));
      server.socket(2)->SendText(std::string(2000, 'x'));
      WsCloseInfo info = c.WaitClosed();
      CHECK(info.code == kWsMessageTooBig);
      CHECK(c.count() == 0);
    }
  }

  TEST_CASE("client: refused, 404, a wrong accept key and a silent server fail cleanly" * doctest::timeout(20)) {
    WebSocketLoop loop;
    {  // Nothing listens on a port that a server just gave back.
      int port;
      {
        LocalServer gone;
        port = gone.port();
      }
      Client c;
      loop.Open("ws://127.0.0.1:" + std::to_string(port) + "/ws", {}, c.Handlers());
      WsCloseInfo info = c.WaitClosed();
      CHECK_FALSE(info.opened);
      CHECK(info.http_status == 0);
      CHECK_FALSE(info.reason.empty());
    }
    WsServer server;
    {  // No WebSocket at that path.
      Client c;
      loop.Open(server.url("/nows"), {}, c.Handlers());
      WsCloseInfo info = c.WaitClosed();
      CHECK_FALSE(info.opened);
      CHECK(info.http_status == 404);
      CHECK(info.reason.find("404") != std::string::npos);
    }
    // Hand-answered upgrades: a wrong accept key, and a 101 followed by silence.
    server.http.Handle("GET", "/bad", [&](const LocalRequest&) {
      LocalResponse r;
      r.takeover = [&](int fd, std::string) {
        std::string reply =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n";
        (void)!write(fd, reply.data(), reply.size());
        std::lock_guard<std::mutex> lock(server.mu);
        server.raw_fds.push_back(fd);
      };
      return r;
    });
    server.http.Handle("GET", "/silent", [&](const LocalRequest& req) {
      LocalResponse r;
      r.takeover = [&, req](int fd, std::string) {
        std::string reply = LocalWebSocket::HandshakeReply(req);
        (void)!write(fd, reply.data(), reply.size());
        std::lock_guard<std::mutex> lock(server.mu);
        server.raw_fds.push_back(fd);  // open, but never answers a ping: a half-open connection
      };
      return r;
    });
    {
      Client c;
      loop.Open(server.url("/bad"), {}, c.Handlers());
      WsCloseInfo info = c.WaitClosed();
      CHECK_FALSE(info.opened);
      CHECK(info.reason.find("Sec-WebSocket-Accept") != std::string::npos);
    }
    {
      Client c;
      WebSocketOptions o;
      o.ping_interval = 0.05;
      o.idle_timeout = 0.3;
      loop.Open(server.url("/silent"), o, c.Handlers());
      WsCloseInfo info = c.WaitClosed();
      CHECK(info.opened);
      CHECK(info.code == kWsAbnormalClosure);
      CHECK(info.reason.find("no data") != std::string::npos);
    }
    {  // Not a WebSocket URL at all.
      Client c;
      loop.Open("ftp://127.0.0.1/ws", {}, c.Handlers());
      CHECK(c.WaitClosed().reason.find("ws://") != std::string::npos);
    }
  }

  TEST_CASE("client: keepalive pings, and 40 connections served by the one loop thread" * doctest::timeout(20)) {
    WsServer server;
    server.on_message = [](LocalWebSocket& ws, WsMessage&& m) { ws.SendText(m.payload); };
    WebSocketLoop loop;
    WebSocketOptions o;
    o.ping_interval = 0.05;
    o.idle_timeout = 5;
    std::vector<std::unique_ptr<Client>> clients;
    std::vector<WebSocketLoop::ConnId> ids;
    for (int i = 0; i < 40; ++i) {
      clients.push_back(std::make_unique<Client>());
      ids.push_back(loop.Open(server.url(), o, clients.back()->Handlers()));
    }
    for (int i = 0; i < 40; ++i) {
      REQUIRE(Eventually([&] { return clients[i]->is_open(); }));
      loop.Send(ids[i], WsOpcode::kText, "n" + std::to_string(i));
    }
    for (int i = 0; i < 40; ++i) {
      REQUIRE(Eventually([&] { return clients[i]->count() == 1; }));
      std::lock_guard<std::mutex> lock(clients[i]->mu);
      CHECK(clients[i]->messages[0].payload == "n" + std::to_string(i));
    }
    CHECK(loop.open_connections() == 40);
    // Idle connections ping; the server's pongs keep them alive past several intervals.
    REQUIRE(Eventually([&] { return server.socket(0)->pings_received() >= 3; }));
    CHECK(clients[0]->close_calls == 0);
    loop.Stop();  // drops everything without handlers
    CHECK(loop.open_connections() == 0);
    for (auto& c : clients) CHECK(c->close_calls == 0);
    Client late;
    loop.Open(server.url(), o, late.Handlers());
    CHECK(late.WaitClosed(1).reason == "stopped");
  }

}  // TEST_SUITE
