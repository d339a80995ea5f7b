#pragma once
// Configuration from the environment (DESIGN.md §7): keys, endpoints, ComfyUI servers.
// A .env file in the working directory is read if present; the real environment wins.
//
// Secrets: every key read here is registered with the Redactor, which removes it from any
// text before the text reaches a journal, metrics, a log or an error message.
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace comfyrun {

/// A setting read from the environment. Core knows no provider: the provider registry
/// (providers/provider.h) declares its variables and passes them to Config::FromEnvironment.
struct ConfigVariable {
  enum class Kind { kSecret, kUrl };
  std::string name;                   ///< "GEMINI_API_KEY": what messages tell the user to set
  std::vector<std::string> synonyms;  ///< also read, in order after name: "GOOGLE_API_KEY"
  Kind kind = Kind::kSecret;
  std::string default_value;  ///< used when none of the names is set ("" for keys)
};

struct Config {
  /// The variables this configuration was read with (FromEnvironment), in declaration order;
  /// empty for a hand-made Config (tests), where Get falls back to no default.
  std::vector<ConfigVariable> variables;
  std::vector<std::string> comfyui_servers;  ///< COMFYUI_URL (comma-separated) + --comfyui
  /// How many of comfyui_servers came from COMFYUI_URL (they come first): messages about a
  /// bad entry name the variable or the option it came from.
  size_t comfyui_servers_from_environment = 0;
  bool offline = false;  ///< --offline: generation nodes render locally, cost 0
  /// --resubmit-expired: a fal/replicate job whose result expired before it was downloaded is
  /// submitted (and paid) again instead of failing with OutputExpired.
  bool resubmit_expired = false;

  /// The value of the declared variable `name` (its canonical name, not a synonym): what the
  /// environment or .env set, or what Set stored, else its default; "" when unknown.
  std::string Get(const std::string& name) const;
  /// Sets a variable's value (tests, and options that override the environment). A URL loses
  /// its trailing slashes. Not registered with the Redactor: callers that set a secret do.
  void Set(const std::string& name, std::string value);

  /// Reads `variables` (for each: the environment first, under any of its names, then
  /// ./.env) and COMFYUI_URL, and registers every secret with the Redactor. Never fails: a
  /// missing key is reported when a node that needs it is about to run (preflight), a bad URL
  /// by CheckConfigUrls.
  static Config FromEnvironment(const std::vector<ConfigVariable>& variables);

 private:
  std::map<std::string, std::string> values_;  ///< set variables, by canonical name
};

/// Checks a server URL: scheme http:// or https://, a host (a name, an IPv4 address or an
/// [IPv6] one), an optional :port from 1 to 65535, then an optional path, query or
/// #fragment; no spaces or control characters. False with *err saying what is wrong
/// ("has no host", "port '99999' is not a number from 1 to 65535").
bool CheckServerUrl(std::string_view url, std::string* err);

/// Checks every URL of the configuration (COMFYUI_URL and --comfyui entries, and each
/// declared URL variable such as GEMINI_BASE_URL) and names the variable (with its synonyms)
/// or option of a bad one:
///   --comfyui 'notaurl' is not a server URL: it must start with http:// or https://
bool CheckConfigUrls(const Config& config, std::string* err);

/// Looks a variable up in the environment, then in ./.env (read once). "" when unset; a
/// variable set to "" in the environment counts as unset.
std::string GetConfigValue(const std::string& name);

/// Parses .env text: KEY=VALUE lines, `#` comments (whole-line, or after whitespace in an
/// unquoted value), an optional `export ` prefix, values optionally in '...' (literal) or
/// "..." (\n, \", \\ escapes). Malformed lines are skipped. Later lines win.
std::vector<std::pair<std::string, std::string>> ParseDotEnv(std::string_view text);

/// Forgets the cached ./.env so the next lookup reads it again. For tests, which change the
/// working directory's .env; production code reads it once.
void ReloadDotEnvForTesting();

/// Removes registered secrets from text. Thread-safe.
class Redactor {
 public:
  /// Registers a secret (ignored when shorter than 6 characters, to avoid mangling text).
  static void AddSecret(const std::string& secret);
  /// `text` with every registered secret replaced by "[REDACTED]".
  static std::string Redact(std::string text);
};

}  // namespace comfyrun
