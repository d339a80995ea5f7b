// Fixture media of the fake ComfyUI: PNGs (uncompressed, or fixed-Huffman deflate padded to
// a size) and the MP4 its SaveVideo outputs serve.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "comfyrun/core/util.h"
#include "support/fake_comfyui.h"
#include "support/fake_comfyui_internal.h"

namespace comfyrun::testing {
namespace {

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

}  // namespace

namespace fake_comfyui_internal {

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

}  // namespace fake_comfyui_internal

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

}  // namespace comfyrun::testing
