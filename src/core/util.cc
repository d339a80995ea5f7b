#include "comfyrun/core/util.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>

namespace comfyrun {

std::optional<double> ParseDuration(std::string_view text, std::string* err) {
  // A bare number is seconds; otherwise one or more NUMBER UNIT pairs ("1h30m", "1m 30s").
  const std::string kForms = "write seconds as a number, or a number with a unit (\"500ms\", \"10s\", \"15m\", \"2h\")";
  std::string s = Trim(text);
  if (s.empty()) {
    *err = "empty duration; " + kForms;
    return std::nullopt;
  }
  if (s[0] == '-') {
    *err = fmt::format("duration {} is negative", Quote(text));
    return std::nullopt;
  }
  double total = 0;
  size_t i = 0;
  bool first = true;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    std::string number = s.substr(start, i - start);
    while (i < s.size() && s[i] == ' ') ++i;
    size_t unit_start = i;
    while (i < s.size() && isalpha(static_cast<unsigned char>(s[i]))) ++i;
    std::string unit = s.substr(unit_start, i - unit_start);
    while (i < s.size() && s[i] == ' ') ++i;
    char* end = nullptr;
    double value = number.empty() ? NAN : strtod(number.c_str(), &end);
    if (number.empty() || end != number.c_str() + number.size() || !std::isfinite(value)) {
      *err = fmt::format("bad duration {}: {}", Quote(text), kForms);
      return std::nullopt;
    }
    double scale = 0;
    if (unit.empty()) {
      if (!first || i < s.size()) {  // "1h30" or "30 1h": a unit is missing
        *err = fmt::format("bad duration {}: every number needs a unit when there are several", Quote(text));
        return std::nullopt;
      }
      scale = 1;
    } else if (unit == "s" || unit == "sec") {
      scale = 1;
    } else if (unit == "ms") {
      scale = 0.001;
    } else if (unit == "m" || unit == "min") {
      scale = 60;
    } else if (unit == "h") {
      scale = 3600;
    } else if (unit == "d") {
      scale = 86400;
    } else {
      *err = fmt::format("bad duration {}: unknown unit {} (use ms, s, m, h or d)", Quote(text), Quote(unit));
      return std::nullopt;
    }
    total += value * scale;
    first = false;
    if (i < s.size() && !isdigit(static_cast<unsigned char>(s[i])) && s[i] != '.') {
      *err = fmt::format("bad duration {}: {}", Quote(text), kForms);
      return std::nullopt;
    }
  }
  if (!std::isfinite(total)) {
    *err = fmt::format("duration {} is too long", Quote(text));
    return std::nullopt;
  }
  return total;
}

std::string FormatDuration(double seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 1) return fmt::format("{}ms", static_cast<int>(std::lround(seconds * 1000)));
  if (seconds < 60) return fmt::format("{:.1f}s", seconds);
  long total = std::lround(seconds);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60);
}

size_t EditDistance(std::string_view a, std::string_view b) {
  // Optimal string alignment: Levenshtein plus adjacent transpositions, three rows.
  std::vector<size_t> before(b.size() + 1), previous(b.size() + 1), current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        current[j] = std::min(current[j], before[j - 2] + 1);
    }
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates) {
  // A typo is a few edits relative to the word's length; beyond that a hint misleads
  // ("zz" is not a typo of "a"). Candidates whose length differs by more than the limit
  // cannot be close enough, so they are skipped without computing a distance.
  size_t limit = std::max<size_t>(1, word.size() / 3);
  std::string best;
  size_t best_distance = limit + 1;
  for (const auto& c : candidates) {
    size_t gap = c.size() > word.size() ? c.size() - word.size() : word.size() - c.size();
    if (gap >= best_distance) continue;
    size_t d = EditDistance(word, c);
    if (d < best_distance && d < std::max(word.size(), c.size())) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

namespace {
/// What a path is when it is not a regular file, for messages.
const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

std::string SizeText(uint64_t bytes) {
  if (bytes >= (uint64_t{1} << 30) && bytes % (uint64_t{1} << 30) == 0) return fmt::format("{} GiB", bytes >> 30);
  if (bytes >= (uint64_t{1} << 20) && bytes % (uint64_t{1} << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  if (bytes >= (uint64_t{1} << 20)) return fmt::format("{:.1f} MiB", bytes / 1048576.0);
  return fmt::format("{} bytes", bytes);
}

std::string TooLarge(uint64_t size, uint64_t limit) {
  return fmt::format("file is {}; the limit is {}", SizeText(size), SizeText(limit));
}
}  // namespace

int OpenUserFile(const std::string& path, uint64_t limit, std::string* err) {
  // O_NONBLOCK: opening a FIFO with no writer would otherwise wait for one, forever. The
  // type is checked on the open descriptor (no window between a stat and the open).
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    int e = errno;
    struct stat st {};
    if (e == ENXIO && stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))  // a socket
      *err = fmt::format("is {}, not a regular file", FileKind(st.st_mode));
    else
      *err = e == ENOENT ? "no such file" : strerror(e);
    return -1;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    *err = strerror(errno);
    close(fd);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    *err = S_ISDIR(st.st_mode) ? std::string("is a directory, not a file")
                               : fmt::format("is {}, not a regular file", FileKind(st.st_mode));
    close(fd);
    return -1;
  }
  if (static_cast<uint64_t>(st.st_size) > limit) {
    *err = TooLarge(static_cast<uint64_t>(st.st_size), limit);
    close(fd);
    return -1;
  }
  // Back to blocking reads (a regular file ignores the flag; cleared for clarity of intent).
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

bool ReadUserFile(const std::string& path, uint64_t limit, std::string* contents, std::string* err) {
  int fd = OpenUserFile(path, limit, err);
  if (fd < 0) return false;
  contents->clear();
  struct stat st {};
  if (fstat(fd, &st) == 0 && st.st_size > 0) contents->reserve(static_cast<size_t>(st.st_size));
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      *err = strerror(errno);
      close(fd);
      return false;
    }
    if (n == 0) break;
    contents->append(buffer, static_cast<size_t>(n));
    if (contents->size() > limit) {  // grew while being read
      *err = TooLarge(contents->size(), limit);
      contents->clear();
      close(fd);
      return false;
    }
  }
  close(fd);
  return true;
}

bool ReadFile(const std::string& path, std::string* contents, std::string* err) {
  return ReadUserFile(path, kMaxReadFileBytes, contents, err);
}

bool WriteFileAtomic(const std::string& path, std::string_view contents, std::string* err) {
  std::string temp = path + ".tmp." + RandomHex(8);
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    *err = fmt::format("cannot create {}: {}", temp, strerror(errno));
    return false;
  }
  const char* p = contents.data();
  size_t left = contents.size();
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      *err = fmt::format("cannot write {}: {}", path, strerror(errno));
      close(fd);
      unlink(temp.c_str());
      return false;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    *err = fmt::format("cannot write {}: {}", path, strerror(errno));
    unlink(temp.c_str());
    return false;
  }
  if (rename(temp.c_str(), path.c_str()) != 0) {
    *err = fmt::format("cannot rename {} to {}: {}", temp, path, strerror(errno));
    unlink(temp.c_str());
    return false;
  }
  return true;
}

std::string AbsolutePath(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

bool MakeDirs(const std::string& path, std::string* err) {
  // The common case, one new folder in an existing one, in one system call.
  if (mkdir(path.c_str(), 0777) == 0) return true;
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (std::filesystem::is_directory(path)) return true;
  *err = fmt::format("cannot create directory {}: {}", path, ec ? ec.message() : "not a directory");
  return false;
}

std::string Abbreviate(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  size_t cut = max_bytes;
  // Back off to the start of a UTF-8 sequence so the result stays valid UTF-8.
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return std::string(s.substr(0, cut)) + "...";
}

std::string Quote(std::string_view s) {
  std::string out = "'";
  size_t n = 0;
  for (char c : s) {
    // Stop at 80 bytes, but never inside a UTF-8 sequence.
    if (++n > 80 && (static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      out += "...";
      break;
    }
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f)
      out += fmt::format("\\x{:02x}", u);
    else
      out += c;
  }
  return out + "'";
}

int64_t NowUnixMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string UtcStamp() {
  time_t now = time(nullptr);
  struct tm tm {};
  gmtime_r(&now, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string IsoTime(int64_t unix_ms) {
  time_t secs = static_cast<time_t>(unix_ms / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, unix_ms % 1000);
}

std::string RandomHex(size_t n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kDigits = "0123456789abcdef";
  std::string out(n, '0');
  for (auto& c : out) c = kDigits[rng() & 15];
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  std::string out;
  out.reserve(size_t{length} * 2);
  for (unsigned i = 0; i < length; ++i) out += fmt::format("{:02x}", digest[i]);
  return out;
}

void AppendJsonPathMember(std::string* path, std::string_view key) {
  bool plain = !key.empty() && !isdigit(static_cast<unsigned char>(key[0]));
  for (char c : key) plain = plain && (isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
  if (plain) {
    *path += '.';
    *path += key;
    return;
  }
  *path += "['";
  for (char c : key) {
    if (c == '\\' || c == '\'') *path += '\\';
    *path += c;
  }
  *path += "']";
}

std::string JsonPathMember(std::string_view base, std::string_view key) {
  std::string path(base);
  AppendJsonPathMember(&path, key);
  return path;
}

std::string PercentEncode(std::string_view s, HexCase hex_case) {
  const char* hex = hex_case == HexCase::kUpper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
std::string_view TrimView(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string Trim(std::string_view s) { return std::string(TrimView(s)); }

}  // namespace comfyrun
