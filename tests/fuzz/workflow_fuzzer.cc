// libFuzzer main for the "workflow" target; the body is FuzzWorkflow in targets.cc (see targets.h).
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  comfyrun::fuzz::FuzzWorkflow(data, size);
  return 0;
}
