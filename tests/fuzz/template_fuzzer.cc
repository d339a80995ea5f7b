// libFuzzer main for the "template" target; the body is FuzzTemplate in targets.cc (see targets.h).
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  comfyrun::fuzz::FuzzTemplate(data, size);
  return 0;
}
