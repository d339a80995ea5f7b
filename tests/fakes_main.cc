// comfyrun_fakes: the in-process fake provider servers as one process, for end-to-end tests
// that drive the comfyrun binary. Listens on free 127.0.0.1 ports and prints where.
//   comfyrun_fakes providers        {"gemini": URL, "sora": URL, "geminiKey": K, "soraKey": K}
//   comfyrun_fakes comfyui SLOTS    fake comfyui listening on http://127.0.0.1:PORT
#include <cstdlib>
#include <iostream>
#include <string>

#include "support/fake_comfyui.h"
#include "support/fake_gemini.h"

int main(int argc, char** argv) {
  std::string what = argc > 1 ? argv[1] : "";
  if (what == "providers") return comfyrun::testing::RunFakeServersForever(0, 0);
  if (what == "comfyui") return comfyrun::testing::RunFakeComfyuiForever(0, argc > 2 ? std::atoi(argv[2]) : 1);
  std::cerr << "usage: comfyrun_fakes providers | comfyrun_fakes comfyui SLOTS\n";
  return 2;
}
