// comfyrun_fakes: the in-process fake provider servers as one process, for end-to-end tests
// that drive the comfyrun binary. Listens on free 127.0.0.1 ports and prints where.
//   comfyrun_fakes providers [--gemini-key K] [--sora-key K]
//                                   {"gemini": URL, "sora": URL, "geminiKey": K, "soraKey": K}
//   comfyrun_fakes comfyui SLOTS    fake comfyui listening on http://127.0.0.1:PORT
// Options for both: --faults SPEC (or COMFYRUN_FAKE_FAULTS=SPEC; the flag wins) makes every
// server fail a seeded share of its requests (support/fault_plan.h); each server answers
// GET /__stats (counts) and POST /__faults (a new spec, or "off").
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "support/fake_comfyui.h"
#include "support/fake_gemini.h"
#include "support/fake_queue.h"
#include "support/fake_sora.h"
#include "support/local_server.h"

namespace {

int Usage() {
  std::cerr << "usage: comfyrun_fakes providers [--gemini-key K] [--sora-key K] [--faults SPEC]\n"
               "       comfyrun_fakes comfyui SLOTS [--faults SPEC]\n"
               "       comfyrun_fakes queue [--job-seconds S] [--max-running N] [--rate-per-min N] [--result-ttl S]\n";
  return 2;
}

int RunProviders(const std::string& gemini_key, const std::string& sora_key) {
  using namespace comfyrun::testing;
  FakeGemini::Options gopt;
  if (!gemini_key.empty()) gopt.api_key = gemini_key;
  FakeSora::Options sopt;
  if (!sora_key.empty()) sopt.api_key = sora_key;
  // Media are made on first use; made now, no first reply is slow enough to hit a client's
  // timeout after the fake accepted the work.
  (void)FakePngBytes();
  for (int seconds : {4, 8}) (void)FakeMp4Bytes(seconds);
  FakeGemini gemini(gopt);
  FakeSora sora(sopt);
  comfyrun::Json line = {{"gemini", gemini.base_url()},
                         {"sora", sora.base_url()},
                         {"geminiKey", gemini.api_key()},
                         {"soraKey", sora.api_key()}};
  std::cout << line.dump() << std::endl;
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

}  // namespace

/// `comfyrun_fakes queue [--job-seconds S] [--max-running N] [--rate-per-min N] [--result-ttl S]`:
/// fake fal and Replicate (support/fake_queue.h), {"fal", "replicate", "falKey", "replicateKey"}.
int RunQueue(int argc, char** argv) {
  comfyrun::testing::FakeQueueOptions o;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string arg = argv[i];
    double v = std::atof(argv[i + 1]);
    if (arg == "--job-seconds")
      o.job_seconds = v;
    else if (arg == "--max-running")
      o.max_running = static_cast<int>(v);
    else if (arg == "--rate-per-min")
      o.submit_per_minute = v;
    else if (arg == "--result-ttl")
      o.result_ttl = v;
    else
      return Usage();
  }
  (void)comfyrun::testing::FakePngBytes();
  comfyrun::testing::FakeFal fal(o);
  comfyrun::testing::FakeReplicate replicate(o);
  comfyrun::Json line = {
      {"fal", fal.url()}, {"replicate", replicate.url()}, {"falKey", fal.key()}, {"replicateKey", replicate.key()}};
  std::cout << line.dump() << std::endl;
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

int main(int argc, char** argv) {
  std::string what = argc > 1 ? argv[1] : "";
  if (what == "queue") return RunQueue(argc, argv);
  int slots = 1;
  int first_option = 2;
  if (what == "comfyui" && argc > 2 && argv[2][0] != '-') {
    slots = std::atoi(argv[2]);
    first_option = 3;
  }
  std::string gemini_key, sora_key;
  const char* env_faults = std::getenv("COMFYRUN_FAKE_FAULTS");
  std::string faults = env_faults ? env_faults : "";
  for (int i = first_option; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc) return Usage();
    if (arg == "--faults")
      faults = argv[++i];
    else if (arg == "--gemini-key" && what == "providers")
      gemini_key = argv[++i];
    else if (arg == "--sora-key" && what == "providers")
      sora_key = argv[++i];
    else
      return Usage();
  }
  comfyrun::testing::FaultPlan plan;
  std::string err;
  if (!comfyrun::testing::FaultPlan::Parse(faults, &plan, &err)) {
    std::cerr << "comfyrun_fakes: " << err << "\n";
    return 2;
  }
  comfyrun::testing::LocalServer::SetDefaultFaultPlan(plan);
  if (plan.enabled()) std::cerr << "comfyrun_fakes: faults " << plan.Describe() << "\n";
  if (what == "providers") return RunProviders(gemini_key, sora_key);
  if (what == "comfyui") return comfyrun::testing::RunFakeComfyuiForever(0, slots);
  return Usage();
}
