#include "comfyrun/core/config.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "comfyrun/providers/provider.h"

using namespace comfyrun;

namespace {

const char* const kVariables[] = {"GEMINI_API_KEY", "GOOGLE_API_KEY",  "OPENAI_API_KEY",
                                  "SORA2_API_KEY",  "GEMINI_BASE_URL", "OPENAI_BASE_URL",
                                  "SORA2_ENDPOINT", "COMFYUI_URL",     "COMFYRUN_TEST_VAR"};

// Clears the config variables and ./.env for one test, and puts everything back afterwards
// (tests run in the binary's temp directory, so ./.env is ours).
class ScopedConfigEnv {
 public:
  ScopedConfigEnv() {
    for (const char* name : kVariables) {
      if (const char* v = std::getenv(name)) saved_[name] = v;
      unsetenv(name);
    }
    std::remove(".env");
    ReloadDotEnvForTesting();
  }
  ~ScopedConfigEnv() {
    for (const char* name : kVariables) {
      auto it = saved_.find(name);
      if (it != saved_.end())
        setenv(name, it->second.c_str(), 1);
      else
        unsetenv(name);
    }
    std::remove(".env");
    ReloadDotEnvForTesting();
  }
  void WriteDotEnv(const std::string& text) {
    std::ofstream(".env", std::ios::binary) << text;
    ReloadDotEnvForTesting();
  }

 private:
  std::map<std::string, std::string> saved_;
};

}  // namespace

TEST_SUITE("Config") {
  TEST_CASE("ParseDotEnv handles comments, export, quotes and CRLF" * doctest::timeout(5)) {
    auto pairs = ParseDotEnv(
        "# a comment\n"
        "\n"
        "PLAIN=abc\n"
        "export EXPORTED=def\r\n"
        "DOUBLE=\"a b # not a comment\\n\"\n"
        "SINGLE='x\\ny'\n"
        "TRAILING=value # comment\n"
        "URL=http://h/x#frag\n"
        "  SPACED  =  spaced value  \n"
        "no equals sign\n"
        "=novalue\n"
        "EMPTY=\n");
    std::map<std::string, std::string> m(pairs.begin(), pairs.end());
    CHECK(m["PLAIN"] == "abc");
    CHECK(m["EXPORTED"] == "def");
    CHECK(m["DOUBLE"] == "a b # not a comment\n");
    CHECK(m["SINGLE"] == "x\\ny");
    CHECK(m["TRAILING"] == "value");
    CHECK(m["URL"] == "http://h/x#frag");
    CHECK(m["SPACED"] == "spaced value");
    CHECK(m.count("EMPTY") == 1);
    CHECK(m["EMPTY"].empty());
    CHECK(m.size() == 8);
  }

  TEST_CASE("the real environment wins over .env" * doctest::timeout(5)) {
    ScopedConfigEnv env;
    env.WriteDotEnv("COMFYRUN_TEST_VAR=from-file\nGEMINI_API_KEY=file-gemini-key\n");
    CHECK(GetConfigValue("COMFYRUN_TEST_VAR") == "from-file");
    setenv("COMFYRUN_TEST_VAR", "from-env", 1);
    CHECK(GetConfigValue("COMFYRUN_TEST_VAR") == "from-env");
    CHECK(GetConfigValue("NOT_SET_ANYWHERE_XYZ").empty());

    CHECK(Config::FromEnvironment(ProviderConfigVariables()).Get("GEMINI_API_KEY") == "file-gemini-key");
    // An alias in the real environment beats the main name in .env.
    setenv("GOOGLE_API_KEY", "env-google-key", 1);
    CHECK(Config::FromEnvironment(ProviderConfigVariables()).Get("GEMINI_API_KEY") == "env-google-key");
    setenv("GEMINI_API_KEY", "env-gemini-key", 1);
    CHECK(Config::FromEnvironment(ProviderConfigVariables()).Get("GEMINI_API_KEY") == "env-gemini-key");
  }

  TEST_CASE(".env is read once until reloaded" * doctest::timeout(5)) {
    ScopedConfigEnv env;
    env.WriteDotEnv("COMFYRUN_TEST_VAR=first\n");
    CHECK(GetConfigValue("COMFYRUN_TEST_VAR") == "first");
    std::ofstream(".env", std::ios::binary) << "COMFYRUN_TEST_VAR=second\n";
    CHECK(GetConfigValue("COMFYRUN_TEST_VAR") == "first");
    ReloadDotEnvForTesting();
    CHECK(GetConfigValue("COMFYRUN_TEST_VAR") == "second");
  }

  TEST_CASE("Config reads keys, aliases, endpoints and ComfyUI servers" * doctest::timeout(5)) {
    ScopedConfigEnv env;
    Config defaults = Config::FromEnvironment(ProviderConfigVariables());
    CHECK(defaults.Get("GEMINI_API_KEY").empty());
    CHECK(defaults.Get("OPENAI_API_KEY").empty());
    CHECK(defaults.Get("GEMINI_BASE_URL") == "https://generativelanguage.googleapis.com");
    CHECK(defaults.Get("OPENAI_BASE_URL") == "https://api.openai.com/v1");
    CHECK(defaults.comfyui_servers.empty());

    env.WriteDotEnv(
        "SORA2_API_KEY=sora-key-123456\n"
        "SORA2_ENDPOINT=http://127.0.0.1:9/v1/\n"
        "GEMINI_BASE_URL=http://127.0.0.1:8\n"
        "COMFYUI_URL= http://127.0.0.1:8188/ ,,http://127.0.0.1:8189\n");
    Config c = Config::FromEnvironment(ProviderConfigVariables());
    CHECK(c.Get("OPENAI_API_KEY") == "sora-key-123456");
    CHECK(c.Get("OPENAI_BASE_URL") == "http://127.0.0.1:9/v1");
    CHECK(c.Get("GEMINI_BASE_URL") == "http://127.0.0.1:8");
    REQUIRE(c.comfyui_servers.size() == 2);
    CHECK(c.comfyui_servers[0] == "http://127.0.0.1:8188");
    CHECK(c.comfyui_servers[1] == "http://127.0.0.1:8189");

    setenv("OPENAI_BASE_URL", "http://127.0.0.1:7", 1);
    setenv("OPENAI_API_KEY", "openai-key-abcdef", 1);
    c = Config::FromEnvironment(ProviderConfigVariables());
    CHECK(c.Get("OPENAI_BASE_URL") == "http://127.0.0.1:7");
    CHECK(c.Get("OPENAI_API_KEY") == "openai-key-abcdef");
  }

  TEST_CASE("keys read by Config are redacted" * doctest::timeout(5)) {
    ScopedConfigEnv env;
    setenv("GEMINI_API_KEY", "AIzaTestKey/With+Specials", 1);
    env.WriteDotEnv("OPENAI_API_KEY=sk-test-openai-0123\n");
    Config::FromEnvironment(ProviderConfigVariables());
    CHECK(Redactor::Redact("x-goog-api-key: AIzaTestKey/With+Specials") == "x-goog-api-key: [REDACTED]");
    CHECK(Redactor::Redact("GET /v1?key=AIzaTestKey%2FWith%2BSpecials&a=1") == "GET /v1?key=[REDACTED]&a=1");
    CHECK(Redactor::Redact("key=AIzaTestKey%2fWith%2bSpecials") == "key=[REDACTED]");
    CHECK(Redactor::Redact("Bearer sk-test-openai-0123, again sk-test-openai-0123") ==
          "Bearer [REDACTED], again [REDACTED]");
  }

  TEST_CASE("Redactor ignores short secrets and prefers the longest match" * doctest::timeout(5)) {
    Redactor::AddSecret("abc");
    CHECK(Redactor::Redact("abc abcdef") == "abc abcdef");
    Redactor::AddSecret("secret-one");
    Redactor::AddSecret("secret-one-and-more");
    CHECK(Redactor::Redact("[secret-one-and-more] [secret-one]") == "[[REDACTED]] [[REDACTED]]");
    CHECK(Redactor::Redact("nothing here") == "nothing here");
  }

  TEST_CASE("CheckServerUrl: http(s), a host, an optional port, then a path") {
    std::string err;
    for (const char* good : {"http://127.0.0.1:8188", "https://gpu.example.com", "http://gpu1:8188/", "HTTP://h/x?y=1",
                             "http://[::1]:8188", "http://my_host.local:1/api"}) {
      CAPTURE(good);
      CHECK(CheckServerUrl(good, &err));
    }
    auto why = [](const char* url) {
      std::string e;
      CHECK_FALSE(CheckServerUrl(url, &e));
      return e;
    };
    CHECK(why("notaurl") == "it must start with http:// or https://");
    CHECK(why("ftp://h") == "it must start with http:// or https://");
    CHECK(why("http://") == "it has no host");
    CHECK(why("http://:8188") == "it has no host");
    CHECK(why("http://h:99999") == "port '99999' is not a number from 1 to 65535");
    CHECK(why("http://h:0") == "port '0' is not a number from 1 to 65535");
    CHECK(why("http://h:") == "the ':' after its host has no port");
    CHECK(why("http://h:80x") == "port '80x' is not a number from 1 to 65535");
    CHECK(why("http://a b") == "it contains a space or a control character");
    CHECK(why("http://u:p@h") == "a user name or password in the URL is not supported");
    CHECK(why("http://[::1") == "its IPv6 host has no closing ']'");
    CHECK(why("http://h%41") == "its host 'h%41' has the character '%'");
  }

  TEST_CASE("CheckConfigUrls names the variable or the option a bad URL came from") {
    Config c;
    std::string err;
    CHECK(CheckConfigUrls(c, &err));
    c.comfyui_servers = {"http://a:8188#slots=2,http://b:8188", "notaurl"};
    c.comfyui_servers_from_environment = 1;
    CHECK_FALSE(CheckConfigUrls(c, &err));
    CHECK(err == "--comfyui 'notaurl' is not a server URL: it must start with http:// or https://");
    c.comfyui_servers_from_environment = 2;
    CHECK_FALSE(CheckConfigUrls(c, &err));
    CHECK(err == "COMFYUI_URL entry 'notaurl' is not a server URL: it must start with http:// or https://");
    c.comfyui_servers = {""};
    c.comfyui_servers_from_environment = 0;
    CHECK_FALSE(CheckConfigUrls(c, &err));
    CHECK(err == "--comfyui needs a server URL, e.g. --comfyui http://127.0.0.1:8188");
    c.comfyui_servers.clear();
    c.variables = ProviderConfigVariables();  // what FromEnvironment reads: the base URLs are checked
    c.Set("GEMINI_BASE_URL", "localhost:9");
    CHECK_FALSE(CheckConfigUrls(c, &err));
    CHECK(err == "GEMINI_BASE_URL 'localhost:9' is not a server URL: it must start with http:// or https://");
  }

}  // TEST_SUITE
