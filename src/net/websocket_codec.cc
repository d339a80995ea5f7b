#include "comfyrun/net/websocket.h"

// The WebSocket wire format (RFC 6455): the opening handshake's keys, frame encoding and the
// incremental frame decoder. Pure functions and one parser object, no I/O: websocket.cc's
// loop and the tests both use them.
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>

namespace comfyrun {
namespace {

constexpr char kWsGuid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string Base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

void RandomBytes(unsigned char* out, size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) == 1) return;
  // OpenSSL's generator failed (no entropy source): masking still works with any key.
  thread_local std::mt19937 gen{std::random_device{}()};
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<unsigned char>(gen());
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string TrimSpace(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

// ---- handshake helpers ------------------------------------------------------------------

std::string WsAcceptKey(std::string_view client_key) {
  std::string input = std::string(client_key) + kWsGuid;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha1(), nullptr);
  return Base64(digest, len);
}

std::string NewWsKey() {
  unsigned char nonce[16];
  RandomBytes(nonce, sizeof nonce);
  return Base64(nonce, sizeof nonce);
}

// ---- codec --------------------------------------------------------------------------------

std::string EncodeWsFrame(WsOpcode opcode, std::string_view payload, bool fin, bool masked, const uint8_t* mask_key) {
  std::string out;
  out.reserve(payload.size() + 14);
  out.push_back(static_cast<char>((fin ? 0x80 : 0x00) | static_cast<uint8_t>(opcode)));
  uint8_t mask_bit = masked ? 0x80 : 0x00;
  uint64_t n = payload.size();
  if (n <= 125) {
    out.push_back(static_cast<char>(mask_bit | n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
  }
  if (!masked) {
    out.append(payload);
    return out;
  }
  uint8_t key[4];
  if (mask_key) {
    std::memcpy(key, mask_key, 4);
  } else {
    RandomBytes(key, 4);
  }
  out.append(reinterpret_cast<const char*>(key), 4);
  size_t start = out.size();
  out.append(payload);
  for (size_t i = 0; i < payload.size(); ++i) out[start + i] = static_cast<char>(out[start + i] ^ key[i & 3]);
  return out;
}

std::string WsClosePayload(uint16_t code, std::string_view reason) {
  std::string out;
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code));
  out.append(reason.substr(0, 123));
  return out;
}

WsDecoder::WsDecoder(Role role, size_t max_message) : role_(role), max_message_(max_message) {}

bool WsDecoder::Fail(uint16_t code, std::string message) {
  error_code_ = code;
  error_ = std::move(message);
  return false;
}

bool WsDecoder::Feed(std::string_view bytes) {
  if (error_code_) return false;
  buf_.append(bytes);
  bool ok = ParseFrames();
  // Drop what was parsed; keep a partial frame for the next call.
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return ok;
}

bool WsDecoder::ParseFrames() {
  for (;;) {
    size_t avail = buf_.size() - pos_;
    if (avail < 2) return true;
    const auto* p = reinterpret_cast<const uint8_t*>(buf_.data() + pos_);
    bool fin = p[0] & 0x80;
    if (p[0] & 0x70) return Fail(kWsProtocolError, "reserved bits set (no extension was negotiated)");
    uint8_t op = p[0] & 0x0F;
    bool masked = p[1] & 0x80;
    uint64_t len = p[1] & 0x7F;
    size_t header = 2;
    if (len == 126) {
      if (avail < 4) return true;
      len = (uint64_t{p[2]} << 8) | p[3];
      header = 4;
    } else if (len == 127) {
      if (avail < 10) return true;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
      if (len >> 63) return Fail(kWsProtocolError, "64-bit frame length with the top bit set");
      header = 10;
    }
    bool control = op & 0x08;
    if (op != 0x0 && op != 0x1 && op != 0x2 && op != 0x8 && op != 0x9 && op != 0xA)
      return Fail(kWsProtocolError, "unknown opcode " + std::to_string(op));
    if (control && (!fin || len > 125)) return Fail(kWsProtocolError, "fragmented or oversized control frame");
    if (role_ == Role::kClient && masked) return Fail(kWsProtocolError, "masked frame from the server");
    if (role_ == Role::kServer && !masked) return Fail(kWsProtocolError, "unmasked frame from the client");
    if (!control) {
      if (op == 0x0 && !in_message_) return Fail(kWsProtocolError, "continuation frame without a message to continue");
      if (op != 0x0 && in_message_) return Fail(kWsProtocolError, "new data frame inside a fragmented message");
      // Refuse before buffering: a huge length must not make us wait for (or hold) the bytes.
      uint64_t total = (op == 0x0 ? message_.size() : 0) + len;
      if (total > max_message_)
        return Fail(kWsMessageTooBig, "message of " + std::to_string(total) + " bytes exceeds the limit of " +
                                          std::to_string(max_message_));
    }
    if (masked) header += 4;
    if (avail < header + len) return true;  // wait for the rest of the frame
    std::string payload = buf_.substr(pos_ + header, static_cast<size_t>(len));
    if (masked) {
      const uint8_t* key = p + header - 4;
      for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ key[i & 3]);
    }
    pos_ += header + static_cast<size_t>(len);

    if (control) {
      WsMessage m;
      m.opcode = static_cast<WsOpcode>(op);
      if (m.opcode == WsOpcode::kClose) {
        if (payload.size() == 1) return Fail(kWsProtocolError, "close frame with a 1-byte payload");
        if (payload.size() >= 2) {
          m.close_code = static_cast<uint16_t>((uint8_t(payload[0]) << 8) | uint8_t(payload[1]));
          m.close_reason = payload.substr(2);
        } else {
          m.close_code = kWsNoStatus;
        }
      }
      m.payload = std::move(payload);
      ready_.push_back(std::move(m));
      continue;
    }
    if (op != 0x0) {
      message_opcode_ = static_cast<WsOpcode>(op);
      message_.clear();
    }
    message_ += payload;
    in_message_ = !fin;
    if (fin) {
      WsMessage m;
      m.opcode = message_opcode_;
      m.payload = std::move(message_);
      message_.clear();
      ready_.push_back(std::move(m));
    }
  }
}

std::optional<WsMessage> WsDecoder::Next() {
  if (ready_.empty()) return std::nullopt;
  WsMessage m = std::move(ready_.front());
  ready_.pop_front();
  return m;
}

std::string CheckWsHandshakeReply(const std::string& head, const std::string& client_key, int* http_status) {
  size_t eol = head.find("\r\n");
  std::string status_line = head.substr(0, eol);
  int status = 0;
  if (status_line.rfind("HTTP/1.", 0) == 0 && status_line.size() >= 12) status = std::atoi(status_line.c_str() + 9);
  std::map<std::string, std::string> headers;
  size_t pos = eol == std::string::npos ? head.size() : eol + 2;
  while (pos < head.size()) {
    size_t next = head.find("\r\n", pos);
    if (next == std::string::npos) next = head.size();
    std::string line = head.substr(pos, next - pos);
    pos = next + 2;
    size_t colon = line.find(':');
    if (colon != std::string::npos)
      headers[Lower(TrimSpace(line.substr(0, colon)))] = TrimSpace(line.substr(colon + 1));
  }
  if (status != 101) {
    *http_status = status;
    return status ? "the server answered the WebSocket upgrade with HTTP " + std::to_string(status)
                  : "the server's reply to the upgrade is not HTTP";
  }
  if (Lower(headers["upgrade"]) != "websocket") return "101 reply without Upgrade: websocket";
  if (headers["sec-websocket-accept"] != WsAcceptKey(client_key))
    return "wrong Sec-WebSocket-Accept in the handshake reply";
  if (!headers["sec-websocket-extensions"].empty()) return "the server chose an extension that was not offered";
  return "";
}

}  // namespace comfyrun
