#include <doctest/doctest.h>

#include "comfyrun/workflow.h"
#include "comfyrun/validate.h"

using namespace comfyrun;

TEST_SUITE("Workflow") {
TEST_CASE("the older system's graphs load and validate") {
  for (const char* name : {"character-video", "multi-video-series", "sora2-simple", "text-to-video", "quickstart"}) {
    std::vector<Diagnostic> diags;
    Workflow wf;
    std::string path = std::string(COMFYRUN_SOURCE_DIR) + "/graphs/" + name + ".json";
    CHECK_MESSAGE(LoadWorkflow(path, {}, &wf, &diags), path);
    CHECK(CountErrors(diags) == 0);
  }
}
}
