// libFuzzer main for the "journal" target; the body is FuzzJournal in targets.cc (see targets.h).
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  comfyrun::fuzz::FuzzJournal(data, size);
  return 0;
}
