// doctor: checks what a run will need before anything is spent (comfyrun/cli/doctor.h). This
// file registers the command and runs the checks that talk to servers (ComfyUI, the
// providers' endpoints), all at once on one HttpLoop with a bounded timeout, so a server
// that is down costs about `timeout` seconds, not a hang; doctor_checks.cc has the others.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <future>
#include <memory>

#include "comfyrun/cli/cli.h"
#include "comfyrun/cli/doctor.h"
#include "comfyrun/core/config.h"
#include "comfyrun/maintenance/gc.h"  // FormatBytes
#include "comfyrun/net/http_loop.h"
#include "comfyrun/providers/models.h"
#include "comfyrun/providers/provider.h"
#include "command_registry.h"

namespace comfyrun {

void AddDoctorCommand(CommandRegistry& registry) {
  auto options = registry.Options<DoctorOptions>();
  auto* cmd =
      registry.Add("doctor", "check keys, media module, ComfyUI servers, output directory, clock and model table",
                   [options] { return DoctorCommand(*options); });
  cmd->add_option("-o,--out", options->out_dir, "output directory a run would use")
      ->capture_default_str()
      ->check(NonEmptyPath())
      ->type_name("DIR");
  cmd->add_option("--comfyui", options->comfyui, "a ComfyUI server URL to check (repeatable; adds to COMFYUI_URL)")
      ->type_name("URL");
  cmd->add_option("--timeout", options->timeout, "seconds to wait for each server (default 2)")
      ->check(CLI::Range(0.1, 60.0));
  cmd->add_flag("--json", options->json, "print the checks as JSON on stdout");
  registry.Manual(cmd,
                  {"Checks what a run will need, before anything is spent, and prints one line per check: ok, warning "
                   "or error, what was found, and for a warning or an error how to fix it.\n\n"
                   "- key: each provider's API key (GEMINI_API_KEY, OPENAI_API_KEY or their other names, from the "
                   "environment or ./.env) is present or missing, never printed; a present key's endpoint is reached "
                   "(without the key) to see that it answers.\n"
                   "- media module: comfyrun_media.so loads, and the FFmpeg libraries it brought (versions).\n"
                   "- comfyui: each configured ComfyUI server (COMFYUI_URL, --comfyui) answers /system_stats and "
                   "/queue: its version, GPU and queue length.\n"
                   "- output directory: --out can be written (or created), and its free space.\n"
                   "- clock: compared with the Date header of every server that answered; signed URLs fail when the "
                   "clock is minutes off. With no server to compare with, the kernel's NTP state.\n"
                   "- model table: aliases (with COMFYRUN_MODELS) that point to a retired or unknown model.\n\n"
                   "Something not configured (a missing key, no ComfyUI server) is a warning or ok: --offline runs "
                   "need none of it. Network checks wait at most --timeout seconds each, all at once.",
                   {{"0", "everything that is configured works (warnings allowed)"},
                    {"1", "a check failed: see the lines marked error"},
                    {"2", "bad command line"}},
                   {{"comfyrun doctor", "check the set-up in the current directory"},
                    {"comfyrun doctor --comfyui http://gpu1:8188 -o /data/comfyrun --json | jq '.checks[] | "
                     "select(.status != \"ok\")'",
                     "what is wrong, as JSON"}},
                   "comfyrun run, docs/media.md, docs/comfyui.md"});
}

namespace {

/// A URL for messages: without user:password@ (a ComfyUI behind basic auth).
std::string DisplayUrl(const std::string& url) {
  size_t scheme = url.find("://");
  size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  size_t end = url.find_first_of("/?#", start);
  size_t at = url.rfind('@', end == std::string::npos ? url.size() : end);
  std::string out = (at != std::string::npos && at >= start) ? url.substr(0, start) + url.substr(at + 1) : url;
  return Redactor::Redact(out);
}

/// Requests sent together on one loop; each result is awaited after all were sent.
class Probe {
 public:
  explicit Probe(double timeout) : timeout_(timeout) {}

  std::shared_future<HttpResponse> Get(const std::string& url) {
    HttpRequest r;
    r.url = url;
    r.timeout = timeout_;
    r.connect_timeout = timeout_;
    r.stall_timeout = timeout_;
    r.max_redirects = 0;
    auto promise = std::make_shared<std::promise<HttpResponse>>();
    std::shared_future<HttpResponse> result = promise->get_future().share();
    loop_.Send(std::move(r), [promise](HttpResponse response) {
      response.body.resize(std::min<size_t>(response.body.size(), 1 << 20));
      promise->set_value(std::move(response));
    });
    return result;
  }

  /// When a reply arrived, adds how far our clock is from the server's (its Date header).
  static void AddClockSample(const std::string& source, const HttpResponse& r, std::vector<ClockSample>* out) {
    if (r.transport_error != ErrorType::kNone) return;
    auto it = r.headers.find("date");
    int64_t server = 0;
    if (it == r.headers.end() || !ParseHttpDate(it->second, &server)) return;
    out->push_back({source, static_cast<double>(std::time(nullptr) - server)});
  }

 private:
  double timeout_;
  HttpLoop loop_;
};

/// Why a request to `base` (a server's URL as configured) got no reply; the transfer's error
/// names the URL, which loses any user:password@ here.
std::string TransportMessage(const HttpResponse& r, const std::string& base, double timeout) {
  if (r.transport_error == ErrorType::kTimeout) return fmt::format("no answer within {:g} s", timeout);
  if (r.error.empty()) return fmt::format("unreachable ({})", ErrorTypeName(r.transport_error));
  std::string error = r.error, shown = DisplayUrl(base);
  for (size_t at = error.find(base); !base.empty() && at != std::string::npos; at = error.find(base, at + shown.size()))
    error.replace(at, base.size(), shown);
  return fmt::format("unreachable ({})", Redactor::Redact(error));
}

struct KeySpec {
  std::string provider;
  std::vector<std::string> variables;  ///< the first is the one to set
  std::string base_url;
  std::string needed_by;
};

DoctorCheck KeyCheck(const KeySpec& spec, const HttpResponse* endpoint, double timeout) {
  DoctorCheck c{fmt::format("key {}", spec.variables.front()), CheckStatus::kOk, "", ""};
  for (const std::string& name : spec.variables) {
    if (GetConfigValue(name).empty()) continue;
    const char* env = std::getenv(name.c_str());
    c.message = fmt::format("{} is set ({})", name, env && *env ? "environment" : "./.env");
    if (endpoint) {
      std::string url = DisplayUrl(spec.base_url);
      if (endpoint->transport_error != ErrorType::kNone) {
        c.status = CheckStatus::kError;
        c.message += fmt::format("; {} is {}", url, TransportMessage(*endpoint, spec.base_url, timeout));
        c.fix = fmt::format("check the network, or the endpoint's variable if you set one");
      } else {
        c.message += fmt::format("; {} answers", url);
      }
    }
    return c;
  }
  c.status = CheckStatus::kWarning;
  std::string names;
  for (const std::string& v : spec.variables) names += (names.empty() ? "" : " or ") + v;
  c.message = fmt::format("missing: {} cannot run except with --offline", spec.needed_by);
  c.fix = fmt::format("set {} in the environment or in ./.env", names);
  return c;
}

DoctorCheck ComfyuiCheck(const std::string& url, const HttpResponse& stats, const HttpResponse& queue, double timeout) {
  DoctorCheck c{"comfyui " + DisplayUrl(url), CheckStatus::kError, "", ""};
  c.fix = "start the server, or remove it from COMFYUI_URL / --comfyui";
  for (const HttpResponse* r : {&stats, &queue}) {
    if (r->transport_error != ErrorType::kNone) {
      c.message = TransportMessage(*r, url, timeout);
      return c;
    }
    if (!r->ok()) {
      c.message = fmt::format("{} answered HTTP {}", r == &stats ? "/system_stats" : "/queue", r->status);
      c.fix = "check that the URL is a ComfyUI server (its port, and any path before /system_stats)";
      return c;
    }
  }
  ComfyuiStatus s;
  std::string err;
  if (!ParseSystemStats(stats.body, &s, &err) || !ParseQueue(queue.body, &s, &err)) {
    c.message = err;
    c.fix = "check that the URL is a ComfyUI server";
    return c;
  }
  c.status = CheckStatus::kOk;
  std::string devices;
  for (const auto& d : s.devices) devices += (devices.empty() ? "" : ", ") + d;
  c.message = fmt::format("ComfyUI {}, GPU {}{}, queue {} running, {} pending", s.version.empty() ? "?" : s.version,
                          devices.empty() ? "?" : devices,
                          s.vram_free >= 0 ? fmt::format(" ({} VRAM free)", FormatBytes(s.vram_free)) : "", s.running,
                          s.pending);
  return c;
}

}  // namespace

int DoctorCommand(const DoctorOptions& options) {
  Config config = Config::FromEnvironment(ProviderConfigVariables());
  for (const auto& url : options.comfyui) {
    std::string u = url;
    while (!u.empty() && u.back() == '/') u.pop_back();
    if (!u.empty()) config.comfyui_servers.push_back(u);
  }
  // One check per key the provider rows ask doctor to check (rows sharing a key: the first).
  std::vector<KeySpec> keys;
  for (const ProviderDescriptor& p : Providers()) {
    if (p.doctor_needed_by.empty() || p.key.name.empty()) continue;
    KeySpec k{p.name, {p.key.name}, ProviderBaseUrl(config, p), p.doctor_needed_by};
    k.variables.insert(k.variables.end(), p.key.synonyms.begin(), p.key.synonyms.end());
    keys.push_back(std::move(k));
  }

  std::vector<DoctorCheck> checks;
  std::vector<ClockSample> clock;
  {
    // Every request first, then the answers: all wait at the same time.
    Probe probe(options.timeout);
    std::vector<std::shared_future<HttpResponse>> key_replies;
    for (const auto& k : keys) {
      bool set = false;
      for (const std::string& v : k.variables) set = set || !GetConfigValue(v).empty();
      // The endpoint's root, without the key: only whether it answers, and its Date.
      key_replies.push_back(set ? probe.Get(k.base_url + "/") : std::shared_future<HttpResponse>());
    }
    std::vector<std::pair<std::shared_future<HttpResponse>, std::shared_future<HttpResponse>>> servers;
    for (const auto& url : config.comfyui_servers)
      servers.emplace_back(probe.Get(url + "/system_stats"), probe.Get(url + "/queue"));

    for (size_t i = 0; i < keys.size(); ++i) {
      const HttpResponse* reply = key_replies[i].valid() ? &key_replies[i].get() : nullptr;
      checks.push_back(KeyCheck(keys[i], reply, options.timeout));
      if (reply) Probe::AddClockSample(DisplayUrl(keys[i].base_url), *reply, &clock);
    }
    checks.push_back(MediaModuleCheck());
    if (config.comfyui_servers.empty())
      checks.push_back(
          {"comfyui", CheckStatus::kOk, "no server configured (comfyui nodes need COMFYUI_URL or --comfyui)", ""});
    for (size_t i = 0; i < servers.size(); ++i) {
      const HttpResponse& stats = servers[i].first.get();
      checks.push_back(ComfyuiCheck(config.comfyui_servers[i], stats, servers[i].second.get(), options.timeout));
      Probe::AddClockSample(DisplayUrl(config.comfyui_servers[i]), stats, &clock);
    }
  }
  checks.push_back(OutputDirectoryCheck(options.out_dir));
  if (auto slurm = SlurmCheck()) checks.push_back(std::move(*slurm));
  checks.push_back(ClockCheck(clock, KernelNtpState()));
  std::string model_err;
  const ModelCatalog& catalog = ActiveModelCatalog(&model_err);
  for (auto& c : ModelTableChecks(catalog, Redactor::Redact(model_err))) checks.push_back(std::move(c));
  // Slurm (the cluster backend) is not part of comfyrun yet; its check comes with it.

  if (options.json) {
    fmt::print("{}\n", DoctorReportJson(checks).dump(2, ' ', false, Json::error_handler_t::replace));
  } else {
    for (const auto& c : checks) fmt::print("{}\n", FormatCheckLine(c));
    Json summary = DoctorReportJson(checks)["summary"];
    fmt::print(stderr, "doctor: {} ok, {} warning(s), {} error(s)\n", summary["ok"].get<int>(),
               summary["warning"].get<int>(), summary["error"].get<int>());
  }
  return DoctorExitCode(checks) == 0 ? kExitOk : kExitFailed;
}

}  // namespace comfyrun
