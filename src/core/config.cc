#include "comfyrun/core/config.h"

// Implementation details: ./.env is parsed once into a process-wide map guarded by a mutex
// (any thread may look a value up). The Redactor's secrets are a process-wide set guarded by
// another mutex; Redact copies nothing but the text it returns.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>

#include "comfyrun/core/util.h"

namespace comfyrun {
namespace {

constexpr size_t kMinSecretLength = 6;
constexpr const char* kRedacted = "[REDACTED]";

std::string TrimCopy(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')) --e;
  return std::string(s.substr(b, e - b));
}

// Parses a value after '='; handles quotes and trailing comments.
std::string ParseValue(std::string_view raw) {
  std::string v = TrimCopy(raw);
  if (v.size() >= 2 && v[0] == '\'') {
    size_t close = v.find('\'', 1);
    if (close != std::string::npos) return v.substr(1, close - 1);
  }
  if (v.size() >= 2 && v[0] == '"') {
    std::string out;
    for (size_t i = 1; i < v.size(); ++i) {
      char c = v[i];
      if (c == '"') return out;
      if (c == '\\' && i + 1 < v.size()) {
        char n = v[++i];
        out += n == 'n' ? '\n' : n == 't' ? '\t' : n;
        continue;
      }
      out += c;
    }
    return v;  // no closing quote: keep the text as written
  }
  // Unquoted: " #" starts a comment (a bare '#' may be part of a value such as a URL fragment).
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i] == '#' && (v[i - 1] == ' ' || v[i - 1] == '\t')) return TrimCopy(v.substr(0, i));
  }
  return v;
}

struct DotEnv {
  std::mutex mu;
  bool loaded = false;                        // guarded by mu
  std::map<std::string, std::string> values;  // guarded by mu
};

DotEnv& TheDotEnv() {
  static DotEnv* env = new DotEnv;  // leaked on purpose: usable during static destruction
  return *env;
}

std::string LookupDotEnv(const std::string& name) {
  DotEnv& env = TheDotEnv();
  std::lock_guard<std::mutex> lock(env.mu);
  if (!env.loaded) {
    env.loaded = true;
    env.values.clear();
    // A regular file of at most 1 MiB: a .env that is a FIFO or a device is ignored, not read.
    std::string text, err;
    if (ReadUserFile(".env", uint64_t{1} << 20, &text, &err))
      for (auto& [k, v] : ParseDotEnv(text)) env.values[k] = v;
  }
  auto it = env.values.find(name);
  return it == env.values.end() ? std::string() : it->second;
}

std::string LookupEnvironment(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  return v ? std::string(v) : std::string();
}

// The real environment wins over .env for every alias: an exported GOOGLE_API_KEY beats a
// GEMINI_API_KEY left in .env, because what the user exported is the more deliberate choice.
std::string FirstOf(const std::vector<const char*>& names) {
  for (const char* n : names) {
    std::string v = LookupEnvironment(n);
    if (!v.empty()) return v;
  }
  for (const char* n : names) {
    std::string v = LookupDotEnv(n);
    if (!v.empty()) return v;
  }
  return "";
}

std::string StripTrailingSlashes(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

void ReplaceAll(std::string* text, const std::string& needle) {
  if (needle.empty()) return;
  size_t pos = 0;
  while ((pos = text->find(needle, pos)) != std::string::npos) {
    text->replace(pos, needle.size(), kRedacted);
    pos += std::char_traits<char>::length(kRedacted);
  }
}

// Longest first, so a secret that contains another is redacted whole.
struct LongestFirst {
  bool operator()(const std::string& a, const std::string& b) const {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  }
};

struct Secrets {
  std::mutex mu;
  std::set<std::string, LongestFirst> forms;  // guarded by mu: each secret and its encodings
};

Secrets& TheSecrets() {
  static Secrets* s = new Secrets;  // leaked on purpose: loggers may redact during exit
  return *s;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> ParseDotEnv(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string line = TrimCopy(text.substr(start, end - start));
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("export ", 0) == 0) line = TrimCopy(std::string_view(line).substr(7));
    size_t eq = line.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    std::string key = TrimCopy(std::string_view(line).substr(0, eq));
    if (key.empty() || key.find_first_of(" \t") != std::string::npos) continue;
    out.emplace_back(key, ParseValue(std::string_view(line).substr(eq + 1)));
  }
  return out;
}

void ReloadDotEnvForTesting() {
  DotEnv& env = TheDotEnv();
  std::lock_guard<std::mutex> lock(env.mu);
  env.loaded = false;
  env.values.clear();
}

std::string GetConfigValue(const std::string& name) {
  std::string v = LookupEnvironment(name);
  if (!v.empty()) return v;
  return LookupDotEnv(name);
}

std::string Config::Get(const std::string& name) const {
  if (auto it = values_.find(name); it != values_.end()) return it->second;
  for (const ConfigVariable& v : variables)
    if (v.name == name) return v.default_value;
  return "";
}

void Config::Set(const std::string& name, std::string value) {
  bool url = false;
  for (const ConfigVariable& v : variables) url = url || (v.name == name && v.kind == ConfigVariable::Kind::kUrl);
  values_[name] = url ? StripTrailingSlashes(std::move(value)) : std::move(value);
}

Config Config::FromEnvironment(const std::vector<ConfigVariable>& variables) {
  Config c;
  c.variables = variables;
  for (const ConfigVariable& v : variables) {
    std::vector<const char*> names = {v.name.c_str()};
    for (const std::string& s : v.synonyms) names.push_back(s.c_str());
    std::string value = FirstOf(names);
    if (value.empty()) continue;
    c.Set(v.name, value);
    if (v.kind == ConfigVariable::Kind::kSecret) Redactor::AddSecret(value);
  }
  // Not validated here (this never fails): CheckConfigUrls reports a bad entry before a run.
  std::string servers = FirstOf({"COMFYUI_URL"});
  size_t start = 0;
  while (start <= servers.size() && !servers.empty()) {
    size_t comma = servers.find(',', start);
    if (comma == std::string::npos) comma = servers.size();
    std::string s = StripTrailingSlashes(TrimCopy(std::string_view(servers).substr(start, comma - start)));
    if (!s.empty()) c.comfyui_servers.push_back(s);
    start = comma + 1;
  }
  c.comfyui_servers_from_environment = c.comfyui_servers.size();
  return c;
}

bool CheckServerUrl(std::string_view url, std::string* err) {
  for (char c : url)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      *err = "it contains a space or a control character";
      return false;
    }
  size_t scheme_end = url.find("://");
  std::string scheme = scheme_end == std::string_view::npos ? "" : std::string(url.substr(0, scheme_end));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  if (scheme != "http" && scheme != "https") {
    *err = "it must start with http:// or https://";
    return false;
  }
  std::string_view rest = url.substr(scheme_end + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) {
    *err = "a user name or password in the URL is not supported";
    return false;
  }
  std::string_view host = authority, port;
  if (StartsWith(authority, "[")) {  // [IPv6]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos || close == 1) {
      *err = "its IPv6 host has no closing ']'";
      return false;
    }
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        *err = fmt::format("unexpected {} after the host", Quote(after));
        return false;
      }
      port = after.substr(1);
      if (port.empty()) {
        *err = "the ':' after its host has no port";
        return false;
      }
    }
  } else {
    size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      if (port.empty()) {
        *err = "the ':' after its host has no port";
        return false;
      }
    }
    for (char c : host)
      if (!isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
        *err = fmt::format("its host {} has the character {}", Quote(host), Quote(std::string(1, c)));
        return false;
      }
  }
  if (host.empty()) {
    *err = "it has no host";
    return false;
  }
  if (!port.empty()) {
    bool digits = port.size() <= 5 && port.find_first_not_of("0123456789") == std::string_view::npos;
    long n = digits ? std::strtol(std::string(port).c_str(), nullptr, 10) : 0;
    if (n < 1 || n > 65535) {
      *err = fmt::format("port {} is not a number from 1 to 65535", Quote(port));
      return false;
    }
  }
  return true;
}

bool CheckConfigUrls(const Config& config, std::string* err) {
  std::string why;
  for (size_t i = 0; i < config.comfyui_servers.size(); ++i) {
    const std::string& entry = config.comfyui_servers[i];
    bool from_env = i < config.comfyui_servers_from_environment;
    // An --comfyui value may itself list servers ("http://a,http://b"), each with #slots=N.
    size_t pos = 0;
    while (pos <= entry.size()) {
      size_t comma = std::min(entry.find(',', pos), entry.size());
      std::string part = Trim(std::string_view(entry).substr(pos, comma - pos));
      pos = comma + 1;
      if (part.empty() && !from_env && entry.find(',') == std::string::npos) {
        *err = "--comfyui needs a server URL, e.g. --comfyui http://127.0.0.1:8188";
        return false;
      }
      if (part.empty()) continue;
      if (!CheckServerUrl(part.substr(0, part.find('#')), &why)) {
        *err = fmt::format("{} {} is not a server URL: {}", from_env ? "COMFYUI_URL entry" : "--comfyui", Quote(part),
                           why);
        return false;
      }
    }
  }
  for (const ConfigVariable& v : config.variables) {
    if (v.kind != ConfigVariable::Kind::kUrl) continue;
    std::string url = config.Get(v.name);
    if (CheckServerUrl(url, &why)) continue;
    std::string name = v.name;
    for (size_t i = 0; i < v.synonyms.size(); ++i)
      name += (i == 0 ? " (or " : " or ") + v.synonyms[i] + (i + 1 == v.synonyms.size() ? ")" : "");
    *err = fmt::format("{} {} is not a server URL: {}", name, Quote(url), why);
    return false;
  }
  return true;
}

void Redactor::AddSecret(const std::string& secret) {
  if (secret.size() < kMinSecretLength) return;
  Secrets& s = TheSecrets();
  std::lock_guard<std::mutex> lock(s.mu);
  s.forms.insert(secret);
  // URL-encoded forms: a key in a query string or a logged form body.
  s.forms.insert(PercentEncode(secret, HexCase::kUpper));
  s.forms.insert(PercentEncode(secret, HexCase::kLower));
}

std::string Redactor::Redact(std::string text) {
  Secrets& s = TheSecrets();
  std::lock_guard<std::mutex> lock(s.mu);
  for (const std::string& form : s.forms) ReplaceAll(&text, form);
  return text;
}

}  // namespace comfyrun
