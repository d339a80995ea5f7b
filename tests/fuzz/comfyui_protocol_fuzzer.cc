// libFuzzer main for the "comfyui_protocol" target; the body is FuzzComfyuiProtocol in targets.cc (see targets.h).
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  comfyrun::fuzz::FuzzComfyuiProtocol(data, size);
  return 0;
}
