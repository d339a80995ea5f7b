// The workflow an A/B test's resume runs again (run/session.h, RunSession::Resume).
#include <set>

#include "comfyrun/abtest/runner.h"
#include "comfyrun/core/json.h"
#include "comfyrun/core/util.h"
#include "comfyrun/engine/journal.h"

namespace comfyrun {
namespace {

/// The full id of every node of the runs the journal shows as failed for a real reason.
/// The manifest was checked by DecodeHeader (run/header.cc).
std::set<std::string> NodesOfFailedRuns(const Json& manifest, const JournalReplay& replay) {
  std::set<std::string> out;
  for (const auto& v : manifest.value("variants", Json::array())) {
    const std::string vid = v.value("variantId", "");
    for (int k = 0; k < v.value("repeats", 0); ++k) {
      bool failed = false;
      std::vector<std::string> ids;
      for (const auto& n : v.value("nodes", Json::array())) {
        ids.push_back(AbNodeId(vid, k, n.value("id", "")));
        auto it = replay.nodes.find(ids.back());
        if (it != replay.nodes.end() && it->second.status == JournalNode::Status::kFailed &&
            !(it->second.last_error == ErrorType::kCancelled && StartsWith(it->second.last_message, "not started")))
          failed = true;
      }
      if (failed) out.insert(ids.begin(), ids.end());
    }
  }
  return out;
}

}  // namespace

/// For `resume` of a journal whose header has "abtest": the workflow to run again, which is
/// the header's without the unfinished nodes of runs that already failed (a finished run is
/// never redone, even a failed one, or a failing variant would get extra chances).
Json AbTestResumeDocument(const Json& header, const JournalReplay& replay) {
  Json doc = header.value("workflow", Json());
  if (!doc.is_object() || !doc.contains("nodes") || !doc["nodes"].is_array()) return doc;
  const std::set<std::string> failed = NodesOfFailedRuns(header["abtest"], replay);
  Json nodes = Json::array();
  for (const auto& n : doc["nodes"]) {
    const std::string id = n.is_object() ? n.value("id", Json()).is_string() ? n["id"].get<std::string>() : "" : "";
    auto it = replay.nodes.find(id);
    // Completed nodes stay (the executor does not run them again); nodes of failed runs that
    // did not complete are dropped, and nothing that stays can depend on them.
    if (failed.count(id) && (it == replay.nodes.end() || it->second.status != JournalNode::Status::kCompleted))
      continue;
    nodes.push_back(n);
  }
  if (nodes.empty()) {
    // Every run has failed: nothing to run, but resume still writes the result.
    nodes.push_back({{"id", "abtest-resume"}, {"type", "value"}, {"inputs", Json::object()}});
  }
  doc["nodes"] = std::move(nodes);
  return doc;
}

}  // namespace comfyrun
