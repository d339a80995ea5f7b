#include "comfyrun/cache/store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "comfyrun/core/util.h"

// Implementation details
// - Every filesystem call uses error codes or errno; nothing here throws past this file
//   (std::filesystem iterators are advanced with their error_code overloads).
// - Placeholders: outputs are stored with the node's folder written "${node.dir}" and the
//   run's "${run.dir}", and a hit puts the new folders back in, in that order (the node
//   folder lies inside the run folder).

namespace comfyrun {
namespace fs = std::filesystem;

namespace {

constexpr const char* kNodeDir = "${node.dir}";
constexpr const char* kRunDir = "${run.dir}";
/// A tmp/ leftover older than this belongs to a writer that died.
constexpr double kStaleTmpSeconds = 3600;

bool IsHex(const std::string& s, size_t length) {
  return s.size() == length &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

/// A path inside an entry or a node folder: relative, no "..", no empty or "." steps.
bool IsSafeRelative(const std::string& rel) {
  if (rel.empty() || rel[0] == '/') return false;
  size_t start = 0;
  while (start <= rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    std::string step = rel.substr(start, end - start);
    if (step.empty() || step == "." || step == "..") return false;
    start = end + 1;
  }
  return true;
}

std::string Short(const std::string& key) { return key.substr(0, 12); }

int64_t MtimeMs(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

/// Hard-links src to dst (same inode: no copy, no extra space), or copies it when the two are
/// on different filesystems or the filesystem has no hard links.
bool LinkOrCopy(const std::string& src, const std::string& dst, std::string* err) {
  if (link(src.c_str(), dst.c_str()) == 0) return true;
  int e = errno;
  if (e != EXDEV && e != EPERM && e != EMLINK && e != ENOTSUP && e != EOPNOTSUPP && e != EACCES) {
    *err = fmt::format("cannot link {} to {}: {}", src, dst, strerror(e));
    return false;
  }
  std::error_code ec;
  fs::copy_file(src, dst, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    *err = fmt::format("cannot copy {} to {}: {}", src, dst, ec.message());
    return false;
  }
  return true;
}

bool WritePlainFile(const std::string& path, const std::string& text, std::string* err) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    *err = fmt::format("cannot write {}: {}", path, strerror(errno));
    return false;
  }
  return true;
}

/// Reads and checks an entry's manifest. False with *problem when it cannot be trusted.
bool ReadManifest(const std::string& entry_dir, const std::string& key, Json* m, std::string* problem) {
  std::string text, err;
  if (!ReadFile(entry_dir + "/manifest.json", &text, &err)) {
    *problem = "no readable manifest.json";
    return false;
  }
  *m = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (m->is_discarded() || !m->is_object()) {
    *problem = "manifest.json is not a JSON object";
    return false;
  }
  auto str = [&](const char* name) { return m->contains(name) && (*m)[name].is_string(); };
  if (!m->contains("format") || (*m)["format"] != kCacheFormat) {
    *problem = "manifest.json has another format";
    return false;
  }
  if (!str("key") || (*m)["key"] != key) {
    *problem = "manifest.json names another key";
    return false;
  }
  auto num = [&](const char* name) { return m->contains(name) && (*m)[name].is_number(); };
  auto integer = [&](const char* name) { return m->contains(name) && (*m)[name].is_number_integer(); };
  if (!str("type") || !str("provider") || !str("model") || !str("node") || !num("cost") || !integer("createdAt") ||
      !integer("typeVersion") || !m->contains("outputs") || !(*m)["outputs"].is_object()) {
    *problem = "manifest.json lacks a field or has one of the wrong type";
    return false;
  }
  if (!m->contains("files") || !(*m)["files"].is_array() || !m->contains("dirs") || !(*m)["dirs"].is_array()) {
    *problem = "manifest.json lacks its files or dirs";
    return false;
  }
  for (const auto& f : (*m)["files"]) {
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string() ||
        !IsSafeRelative(f["path"].get<std::string>()) || !f.contains("size") || !f["size"].is_number_unsigned() ||
        !f.contains("sha256") || !f["sha256"].is_string() || !IsHex(f["sha256"].get<std::string>(), 64)) {
      *problem = "manifest.json has a malformed file record";
      return false;
    }
  }
  for (const auto& d : (*m)["dirs"]) {
    if (!d.is_string() || !IsSafeRelative(d.get<std::string>())) {
      *problem = "manifest.json has a malformed directory";
      return false;
    }
  }
  return true;
}

/// ReadManifest, plus the size and SHA-256 of every file: whether an entry found in place can
/// be kept instead of a new one.
bool VerifyEntry(const std::string& entry_dir, const std::string& key, std::string* problem) {
  Json m;
  if (!ReadManifest(entry_dir, key, &m, problem)) return false;
  for (const auto& f : m["files"]) {
    std::string path = entry_dir + "/files/" + f["path"].get<std::string>(), sha, err;
    uint64_t size = 0;
    if (!Sha256File(path, &sha, &size, &err) || size != f["size"].get<uint64_t>() || sha != f["sha256"]) {
      *problem = "a file does not match the manifest";
      return false;
    }
  }
  return true;
}

CacheEntryInfo InfoOf(const std::string& entry_dir, const std::string& key) {
  CacheEntryInfo info;
  info.key = key;
  Json m;
  if (!ReadManifest(entry_dir, key, &m, &info.problem)) {
    info.last_used_ms = MtimeMs(entry_dir);
    return info;
  }
  info.type = m["type"].get<std::string>();
  info.provider = m["provider"].get<std::string>();
  info.model = m["model"].get<std::string>();
  info.node = m["node"].get<std::string>();
  info.type_version = m["typeVersion"].get<int>();
  info.cost = m["cost"].get<double>();
  info.created_ms = m["createdAt"].get<int64_t>();
  info.last_used_ms = MtimeMs(entry_dir + "/manifest.json");
  info.files = m["files"].size();
  for (const auto& f : m["files"]) info.bytes += f["size"].get<uint64_t>();
  return info;
}

/// Removes a directory tree after renaming it into tmp/, so no reader sees it half-gone.
bool RemoveEntryDir(const std::string& root, const std::string& dir, std::string* err) {
  std::string trash = root + "/tmp/trash-" + RandomHex(12);
  if (!MakeDirs(root + "/tmp", err)) return false;
  if (rename(dir.c_str(), trash.c_str()) != 0) {
    if (errno == ENOENT) return true;  // someone else removed it first
    *err = fmt::format("cannot move {} aside: {}", dir, strerror(errno));
    return false;
  }
  std::error_code ec;
  fs::remove_all(trash, ec);
  if (ec) *err = fmt::format("cannot remove {}: {}", trash, ec.message());
  return !ec;
}

/// Removes the tmp/ directory of a store that did not publish, whatever happens.
struct TempDirGuard {
  std::string path;
  ~TempDirGuard() {
    if (path.empty()) return;
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

std::string CacheStore::EntryDir(const std::string& key) const { return root_ + "/" + key.substr(0, 2) + "/" + key; }

bool CacheStore::Put(const std::string& key, const CacheRecord& record, const std::string& node_dir,
                     const std::string& run_dir, FileHasher* hasher, std::string* err) {
  if (!IsHex(key, 64)) {
    *err = "malformed cache key";
    return false;
  }
  std::string tmp_root = root_ + "/tmp";
  if (!MakeDirs(tmp_root, err)) return false;
  TempDirGuard tmp{fmt::format("{}/{}-{}-{}", tmp_root, Short(key), getpid(), RandomHex(8))};
  if (!MakeDirs(tmp.path + "/files", err)) return false;

  // The node's folder: every regular file and directory below it.
  Json files = Json::array(), dirs = Json::array();
  std::set<std::string> stored;  // relative paths of files and directories
  std::error_code ec;
  fs::recursive_directory_iterator it(node_dir, ec), end;
  if (ec) {
    *err = fmt::format("cannot read {}: {}", node_dir, ec.message());
    return false;
  }
  for (; it != end; it.increment(ec)) {
    if (ec) {
      *err = fmt::format("cannot read {}: {}", node_dir, ec.message());
      return false;
    }
    std::string path = it->path().string();
    std::string rel = path.substr(node_dir.size() + 1);
    fs::file_status st = it->symlink_status(ec);
    if (ec) continue;
    if (fs::is_directory(st)) {
      dirs.push_back(rel);
      stored.insert(rel);
      if (!MakeDirs(tmp.path + "/files/" + rel, err)) return false;
      continue;
    }
    if (!fs::is_regular_file(st) || EndsWith(rel, ".part")) continue;  // symlinks, partial downloads
    std::optional<std::string> sha = hasher->Hash(path);
    struct stat sb {};
    if (!sha || stat(path.c_str(), &sb) != 0) {
      *err = fmt::format("cannot read {}", path);
      return false;
    }
    if (!LinkOrCopy(path, tmp.path + "/files/" + rel, err)) return false;
    files.push_back({{"path", rel}, {"size", static_cast<uint64_t>(sb.st_size)}, {"sha256", *sha}});
    stored.insert(rel);
  }
  // An output that names something in the folder that was not stored would dangle on a hit.
  std::string missing;
  std::function<void(const Json&)> check = [&](const Json& v) {
    if (v.is_string()) {
      const std::string& s = v.get_ref<const std::string&>();
      if (StartsWith(s, node_dir + "/") && !stored.count(s.substr(node_dir.size() + 1)) && missing.empty()) missing = s;
    } else if (v.is_array() || v.is_object()) {
      for (const auto& x : v) check(x);
    }
  };
  check(record.outputs);
  if (!missing.empty()) {
    *err = fmt::format("output {} is not a regular file in the node's folder", missing);
    return false;
  }
  Json outputs = record.outputs;
  ReplacePathInStrings(&outputs, node_dir, kNodeDir);
  ReplacePathInStrings(&outputs, run_dir, kRunDir);
  Json manifest = {{"format", kCacheFormat},
                   {"key", key},
                   {"type", record.type},
                   {"typeVersion", record.type_version},
                   {"provider", record.provider},
                   {"model", record.model},
                   {"cost", record.cost},
                   {"createdAt", NowUnixMs()},
                   {"comfyrun", COMFYRUN_VERSION},
                   {"node", record.node},
                   {"outputs", outputs},
                   {"files", files},
                   {"dirs", dirs}};
  if (!WritePlainFile(tmp.path + "/manifest.json", manifest.dump(2, ' ', false, Json::error_handler_t::replace) + "\n",
                      err))
    return false;

  // Publish with one rename. Another process may have published the same key meanwhile: a
  // valid entry of theirs is as good as ours; an unusable one (the one whose miss made this
  // node run, typically) is moved aside and replaced.
  std::string final_dir = EntryDir(key);
  if (!MakeDirs(root_ + "/" + key.substr(0, 2), err)) return false;
  for (int round = 0; round < 3; ++round) {
    if (rename(tmp.path.c_str(), final_dir.c_str()) == 0) {
      tmp.path.clear();  // published: nothing to clean up
      return true;
    }
    if (errno != ENOTEMPTY && errno != EEXIST) {
      *err = fmt::format("cannot rename {} to {}: {}", tmp.path, final_dir, strerror(errno));
      return false;
    }
    std::string problem;
    if (VerifyEntry(final_dir, key, &problem)) return true;
    if (!RemoveEntryDir(root_, final_dir, err)) return false;
  }
  *err = fmt::format("cannot publish {}: other processes keep replacing it", final_dir);
  return false;
}

std::optional<CacheHit> CacheStore::Fetch(const std::string& key, const std::string& node_dir,
                                          const std::string& run_dir, FileHasher* hasher, std::string* warning) {
  if (!IsHex(key, 64)) return std::nullopt;
  std::string entry = EntryDir(key);
  std::error_code ec;
  if (!fs::exists(entry, ec)) return std::nullopt;  // a plain miss
  Json m;
  std::string problem;
  if (!ReadManifest(entry, key, &m, &problem)) {
    *warning = fmt::format("cache entry {} is unusable ({}); running the node", Short(key), problem);
    return std::nullopt;
  }
  std::vector<std::string> restored;
  auto give_up = [&](const std::string& why) -> std::optional<CacheHit> {
    for (const auto& path : restored) unlink(path.c_str());
    *warning = fmt::format("cache entry {} is unusable ({}); running the node", Short(key), why);
    return std::nullopt;
  };
  std::string err;
  for (const auto& d : m["dirs"])
    if (!MakeDirs(node_dir + "/" + d.get<std::string>(), &err)) return give_up(err);
  for (const auto& f : m["files"]) {
    std::string rel = f["path"].get<std::string>();
    std::string src = entry + "/files/" + rel, dst = node_dir + "/" + rel;
    if (!MakeDirs(fs::path(dst).parent_path().string(), &err)) return give_up(err);
    if (unlink(dst.c_str()) != 0 && errno != ENOENT)
      return give_up(fmt::format("cannot replace {}: {}", dst, strerror(errno)));
    struct stat sb {};
    if (stat(src.c_str(), &sb) != 0) return give_up(fmt::format("files/{} is missing", rel));
    if (static_cast<uint64_t>(sb.st_size) != f["size"].get<uint64_t>())
      return give_up(
          fmt::format("files/{} has {} bytes, the manifest says {}", rel, sb.st_size, f["size"].get<uint64_t>()));
    if (!LinkOrCopy(src, dst, &err)) return give_up(err);
    restored.push_back(dst);
    // Checked on the restored file: for a copy that also covers the copying.
    std::optional<std::string> sha = hasher->Rehash(dst);
    if (!sha) return give_up(fmt::format("cannot read {}", dst));
    if (*sha != f["sha256"].get<std::string>()) return give_up(fmt::format("files/{} does not match its SHA-256", rel));
  }
  // A hit is a use: prune goes by the manifest's mtime.
  std::string manifest = entry + "/manifest.json";
  utimensat(AT_FDCWD, manifest.c_str(), nullptr, 0);
  CacheHit hit;
  hit.outputs = m["outputs"];
  ReplacePathInStrings(&hit.outputs, kNodeDir, node_dir);
  ReplacePathInStrings(&hit.outputs, kRunDir, run_dir);
  hit.provider = m["provider"].get<std::string>();
  hit.model = m["model"].get<std::string>();
  hit.original_cost = m["cost"].get<double>();
  return hit;
}

std::vector<CacheEntryInfo> CacheStore::List() const {
  std::vector<CacheEntryInfo> out;
  std::error_code ec;
  for (fs::directory_iterator shard(root_, ec), end; !ec && shard != end; shard.increment(ec)) {
    std::string prefix = shard->path().filename().string();
    if (!IsHex(prefix, 2) || !shard->is_directory(ec)) continue;
    std::error_code ec2;
    for (fs::directory_iterator e(shard->path(), ec2); !ec2 && e != end; e.increment(ec2)) {
      std::string key = e->path().filename().string();
      if (!IsHex(key, 64) || key.compare(0, 2, prefix) != 0) continue;
      out.push_back(InfoOf(e->path().string(), key));
    }
  }
  std::sort(out.begin(), out.end(), [](const CacheEntryInfo& a, const CacheEntryInfo& b) {
    return a.last_used_ms != b.last_used_ms ? a.last_used_ms > b.last_used_ms : a.key < b.key;
  });
  return out;
}

CacheStore::PruneResult CacheStore::Prune(double older_than_seconds, bool dry_run) const {
  PruneResult result;
  int64_t now = NowUnixMs();
  for (const CacheEntryInfo& info : List()) {
    if (now - info.last_used_ms < older_than_seconds * 1000) continue;
    std::string err;
    if (!dry_run && !RemoveEntryDir(root_, EntryDir(info.key), &err)) {
      result.errors.push_back(err);
      continue;
    }
    ++result.removed;
    result.bytes += info.bytes;
  }
  if (dry_run) return result;
  std::error_code ec;
  for (fs::directory_iterator t(root_ + "/tmp", ec), end; !ec && t != end; t.increment(ec)) {
    std::string path = t->path().string();
    if (now - MtimeMs(path) < kStaleTmpSeconds * 1000) continue;
    std::error_code ec2;
    fs::remove_all(path, ec2);
    if (ec2) result.errors.push_back(fmt::format("cannot remove {}: {}", path, ec2.message()));
  }
  return result;
}

}  // namespace comfyrun
