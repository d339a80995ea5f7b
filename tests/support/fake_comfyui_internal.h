#pragma once
// Shared by the fake_comfyui*.cc files only: helpers of the fake ComfyUI server (its clock,
// node classes, ids, replies) and its fixture media.
#include <map>
#include <string>
#include <vector>

#include "comfyrun/core/json.h"
#include "support/local_server.h"

namespace comfyrun::testing::fake_comfyui_internal {

double Now();
/// The small H.264 MP4 every SaveVideo output serves (tests/data, or a minimal box stream).
std::string FixtureMp4();
std::string ContentTypeFor(const std::string& name);
Json ErrorObj(const std::string& type, const std::string& message, const std::string& details,
              Json extra = Json::object());

struct InputSpec {
  std::string name;
  enum Kind { kLink, kInt, kFloat, kString, kUploadedFile } kind;
  double min = 0, max = 0;
};
struct ClassSpec {
  std::vector<InputSpec> required;
  bool output = false;
};
/// The node classes the fake knows, with their required inputs.
const std::map<std::string, ClassSpec>& Classes();
std::string NewUuidForFake();
std::string FormatNumber(const Json& v);

LocalResponse JsonReply(int status, const Json& body);
LocalResponse Bare(int status);

}  // namespace comfyrun::testing::fake_comfyui_internal
