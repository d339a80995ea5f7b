// libFuzzer main for the "provider_replies" target; the body is FuzzProviderReplies in targets.cc (see targets.h).
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  comfyrun::fuzz::FuzzProviderReplies(data, size);
  return 0;
}
