#include "comfyrun/cache/key.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "comfyrun/core/util.h"

// Implementation details
// - The key view of an input is built by resolving the node's templates a second time, with
//   a lookup that hands out copies of the upstream outputs (and params) in which file paths
//   are already content tokens. A path that reaches an input inside a longer string
//   ("cat <<gen.imagePath>>") is then keyed by content too, which a scan of the resolved text
//   could not do reliably.

namespace comfyrun {
namespace {

/// Strings longer than this, or with a newline, are prompts and bodies, not paths: no stat.
constexpr size_t kMaxPathLength = 4096;

void AppendCanonical(const Json& v, std::string* out) {
  switch (v.type()) {
    case Json::value_t::null:
      *out += "null";
      return;
    case Json::value_t::boolean:
      *out += v.get<bool>() ? "true" : "false";
      return;
    case Json::value_t::number_integer:
      *out += std::to_string(v.get<int64_t>());
      return;
    case Json::value_t::number_unsigned:
      *out += std::to_string(v.get<uint64_t>());
      return;
    case Json::value_t::number_float: {
      double d = v.get<double>();
      // 8.0 and 8 must give the same key; 2^63 keeps the cast exact and defined.
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18)
        *out += std::to_string(static_cast<int64_t>(d));
      else if (std::isfinite(d))
        *out += fmt::format("{}", d);  // shortest text that reads back to the same double
      else
        *out += "null";  // JSON has no NaN or infinity; the parser never produces them
      return;
    }
    case Json::value_t::string: {
      *out += '"';
      for (unsigned char c : v.get_ref<const std::string&>()) {
        if (c == '"' || c == '\\') {
          *out += '\\';
          *out += static_cast<char>(c);
        } else if (c < 0x20) {
          *out += fmt::format("\\u{:04x}", c);
        } else {
          *out += static_cast<char>(c);
        }
      }
      *out += '"';
      return;
    }
    case Json::value_t::array: {
      *out += '[';
      bool first = true;
      for (const auto& x : v) {
        if (!first) *out += ',';
        first = false;
        AppendCanonical(x, out);
      }
      *out += ']';
      return;
    }
    case Json::value_t::object: {
      std::vector<std::pair<const std::string*, const Json*>> members;
      for (auto it = v.begin(); it != v.end(); ++it) members.emplace_back(&it.key(), &it.value());
      std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) { return *a.first < *b.first; });
      *out += '{';
      bool first = true;
      for (const auto& [name, value] : members) {
        if (!first) *out += ',';
        first = false;
        AppendCanonical(Json(*name), out);
        *out += ':';
        AppendCanonical(*value, out);
      }
      *out += '}';
      return;
    }
    case Json::value_t::binary: {
      // Not produced by the JSON parser; keyed as the array of its bytes to stay total.
      Json bytes = Json::array();
      for (auto b : v.get_binary()) bytes.push_back(b);
      AppendCanonical(bytes, out);
      return;
    }
    case Json::value_t::discarded:
      *out += "null";
      return;
  }
}

bool MayBePath(const std::string& s) {
  return !s.empty() && s.size() <= kMaxPathLength && s.find('\n') == std::string::npos &&
         s.find('\0') == std::string::npos;
}

/// Replaces every string that names a regular file by its content token, at any depth.
void TokenizeFiles(Json* v, FileHasher* hasher) {
  if (v->is_string()) {
    const std::string& s = v->get_ref<const std::string&>();
    if (!MayBePath(s)) return;
    if (auto sha = hasher->Hash(s)) *v = "file:sha256:" + *sha;
    return;
  }
  if (v->is_array() || v->is_object())
    for (auto& x : *v) TokenizeFiles(&x, hasher);
}

bool IsNameChar(char c) { return isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }

}  // namespace

void ReplacePathInStrings(Json* v, const std::string& from, const std::string& to) {
  if (v->is_string()) {
    std::string& s = v->get_ref<std::string&>();
    if (from.empty() || s.find(from) == std::string::npos) return;
    std::string out;
    size_t done = 0;
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + 1)) {
      if (at < done) continue;
      size_t end = at + from.size();
      if (end < s.size() && IsNameChar(s[end])) continue;  // "/runs/r1" inside "/runs/r10"
      out.append(s, done, at - done);
      out += to;
      done = end;
    }
    out.append(s, done, std::string::npos);
    s = std::move(out);
    return;
  }
  if (v->is_array() || v->is_object())
    for (auto& x : *v) ReplacePathInStrings(&x, from, to);
}

std::string CanonicalJson(const Json& value) {
  std::string out;
  AppendCanonical(value, &out);
  return out;
}

bool Sha256File(const std::string& path, std::string* hex, uint64_t* size, std::string* err) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = fmt::format("cannot open {}: {}", path, strerror(errno));
    return false;
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr);
  std::vector<char> buffer(1 << 20);
  uint64_t total = 0;
  for (;;) {
    ssize_t n = read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      *err = fmt::format("cannot read {}: {}", path, strerror(errno));
      close(fd);
      return false;
    }
    if (n == 0) break;
    EVP_DigestUpdate(md.get(), buffer.data(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
  }
  close(fd);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(md.get(), digest, &length);
  hex->clear();
  for (unsigned i = 0; i < length; ++i) *hex += fmt::format("{:02x}", digest[i]);
  *size = total;
  return true;
}

std::optional<std::string> FileHasher::Hash(const std::string& path) { return Read(path, true); }
std::optional<std::string> FileHasher::Rehash(const std::string& path) { return Read(path, false); }

std::optional<std::string> FileHasher::Read(const std::string& path, bool trust_known) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  Known now;
  now.dev = st.st_dev;
  now.ino = st.st_ino;
  now.size = static_cast<uint64_t>(st.st_size);
  now.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  auto it = known_.find(path);
  // ctime is left out on purpose: hard-linking a file into the cache changes it, not the content.
  if (trust_known && it != known_.end() && it->second.dev == now.dev && it->second.ino == now.ino &&
      it->second.size == now.size && it->second.mtime_ns == now.mtime_ns)
    return it->second.sha256;
  std::string err;
  uint64_t size = 0;
  ++files_read_;
  if (!Sha256File(path, &now.sha256, &size, &err)) return std::nullopt;
  known_[path] = now;
  return now.sha256;
}

bool BuildCacheKeyDocument(const CacheKeyInputs& in, FileHasher* hasher, Json* doc, std::string* err) {
  std::map<std::string, Json> views;  // root -> its value with files as content tokens
  RootLookup view_lookup = [&](const std::string& root) -> const Json* {
    auto it = views.find(root);
    if (it != views.end()) return &it->second;
    const Json* value = in.lookup(root);
    if (!value) return nullptr;
    Json copy = *value;
    TokenizeFiles(&copy, hasher);
    return &(views[root] = std::move(copy));
  };
  Json inputs;
  if (!ResolveTemplates(*in.inputs, view_lookup, &inputs, err)) return false;
  for (const auto& spec_input : in.spec->inputs)
    if (!inputs.contains(spec_input.name) && !spec_input.default_value.is_null())
      inputs[spec_input.name] = spec_input.default_value;
  TokenizeFiles(&inputs, hasher);  // files named directly: user files, params
  ReplacePathInStrings(&inputs, in.run_dir, "${run.dir}");
  Json model = nullptr;
  if (inputs.contains("model") && inputs["model"].is_string())
    model =
        in.resolve_model ? in.resolve_model(inputs["model"].get<std::string>()) : inputs["model"].get<std::string>();
  *doc = Json{{"cache", kCacheFormat},     {"type", in.spec->name}, {"typeVersion", in.spec->version},
              {"model", std::move(model)}, {"offline", in.offline}, {"inputs", std::move(inputs)}};
  return true;
}

std::string CacheKeyOf(const Json& doc) { return Sha256Hex(CanonicalJson(doc)); }

}  // namespace comfyrun
