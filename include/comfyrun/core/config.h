#pragma once
// Configuration from the environment (DESIGN.md §7): keys, endpoints, ComfyUI servers.
// A .env file in the working directory is read if present; the real environment wins.
//
// Secrets: every key read here is registered with the Redactor, which removes it from any
// text before the text reaches a journal, metrics, a log or an error message.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace comfyrun {

struct Config {
  std::string gemini_api_key;                                                 ///< GEMINI_API_KEY or GOOGLE_API_KEY
  std::string gemini_base_url = "https://generativelanguage.googleapis.com";  ///< GEMINI_BASE_URL
  std::string openai_api_key;                                                 ///< OPENAI_API_KEY or SORA2_API_KEY
  std::string openai_base_url = "https://api.openai.com/v1";                  ///< OPENAI_BASE_URL or SORA2_ENDPOINT
  std::string fal_key;                                                        ///< FAL_KEY
  std::string fal_base_url = "https://queue.fal.run";                         ///< FAL_BASE_URL
  std::string fal_storage_url = "https://rest.fal.ai";                        ///< FAL_STORAGE_URL (uploads)
  std::string replicate_api_token;                                            ///< REPLICATE_API_TOKEN
  std::string replicate_base_url = "https://api.replicate.com";               ///< REPLICATE_BASE_URL
  std::vector<std::string> comfyui_servers;  ///< COMFYUI_URL (comma-separated) + --comfyui
  /// How many of comfyui_servers came from COMFYUI_URL (they come first): messages about a
  /// bad entry name the variable or the option it came from.
  size_t comfyui_servers_from_environment = 0;
  bool offline = false;  ///< --offline: generation nodes render locally, cost 0
  /// --resubmit-expired: a fal/replicate job whose result expired before it was downloaded is
  /// submitted (and paid) again instead of failing with OutputExpired.
  bool resubmit_expired = false;

  /// Reads the environment and ./.env. Never fails: a missing key is reported when a node
  /// that needs it is about to run (see the executor's preflight).
  static Config FromEnvironment();

  /// Name of the variable to set for a missing key, for messages.
  static constexpr const char* kGeminiKeyVariable = "GEMINI_API_KEY";
  static constexpr const char* kOpenAiKeyVariable = "OPENAI_API_KEY";
  static constexpr const char* kFalKeyVariable = "FAL_KEY";
  static constexpr const char* kReplicateKeyVariable = "REPLICATE_API_TOKEN";
};

/// Checks a server URL: scheme http:// or https://, a host (a name, an IPv4 address or an
/// [IPv6] one), an optional :port from 1 to 65535, then an optional path, query or
/// #fragment; no spaces or control characters. False with *err saying what is wrong
/// ("has no host", "port '99999' is not a number from 1 to 65535").
bool CheckServerUrl(std::string_view url, std::string* err);

/// Checks every URL of the configuration (COMFYUI_URL and --comfyui entries, GEMINI_BASE_URL,
/// OPENAI_BASE_URL) and names the variable or option of a bad one:
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
