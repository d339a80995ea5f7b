#include "comfyrun/media/media_nodes.h"

#include <filesystem>
#include <optional>

#include "comfyrun/media/probe.h"
#include "comfyrun/media/stitch.h"

namespace comfyrun::media {
namespace {

namespace fs = std::filesystem;

std::string AbsolutePath(const std::string& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  return ec ? p : abs.lexically_normal().string();
}

NodeResult VideoStitch(NodeContext& ctx) {
  const Json& in = ctx.inputs;
  StitchRequest req;
  if (!in.contains("videoPaths") || !in["videoPaths"].is_array())
    return NodeResult::Failure(ErrorType::kInvalidInput, "videoPaths must be a list of file paths");
  for (const Json& p : in["videoPaths"]) {
    if (!p.is_string())
      return NodeResult::Failure(ErrorType::kInvalidInput, "videoPaths must hold strings, got " + p.dump());
    req.inputs.push_back(p.get<std::string>());
  }
  if (req.inputs.empty())
    return NodeResult::Failure(ErrorType::kInvalidInput, "videoPaths is empty: nothing to stitch");
  if (in.contains("transitionType") && in["transitionType"].is_string())
    req.transition = in["transitionType"].get<std::string>();
  if (in.contains("transitionDuration") && in["transitionDuration"].is_number())
    req.transition_seconds = in["transitionDuration"].get<double>();
  std::string name = "stitched.mp4";
  if (in.contains("output") && in["output"].is_string() && !in["output"].get<std::string>().empty())
    name = in["output"].get<std::string>();
  if (name.find('/') != std::string::npos || name == "." || name == "..")
    return NodeResult::Failure(ErrorType::kInvalidInput,
                               "output must be a file name inside the node's folder, got '" + name + "'");
  req.output_path = (fs::path(ctx.node_dir) / name).string();
  req.cancel = &ctx.cancel_requested;
  ctx.Progress("stitching " + std::to_string(req.inputs.size()) + " clips");

  StitchResult res;
  std::string err;
  if (!StitchVideos(req, &res, &err)) {
    if (ctx.cancelled()) return NodeResult::Failure(ErrorType::kCancelled, "video_stitch cancelled");
    // Unreadable clips and impossible transitions cannot succeed on a retry.
    bool input_error =
        err.find("no such file") != std::string::npos || err.find("Invalid data") != std::string::npos ||
        err.find("No such file") != std::string::npos || err.find("no video stream") != std::string::npos ||
        err.find("longer than") != std::string::npos || err.find("shorter than") != std::string::npos ||
        err.find("invalid transition") != std::string::npos || err.find("filter graph") != std::string::npos;
    return NodeResult::Failure(input_error ? ErrorType::kInvalidInput : ErrorType::kExecution, "video_stitch: " + err);
  }
  Json out = Json::object();
  out["videoPath"] = AbsolutePath(req.output_path);
  out["duration"] = res.duration;
  out["frames"] = res.frames;
  out["streamCopied"] = res.stream_copied;
  return NodeResult::Success(std::move(out));
}

std::optional<double> Number(const Json& in, const char* key) {
  if (in.contains(key) && in[key].is_number()) return in[key].get<double>();
  return std::nullopt;
}
std::optional<bool> Bool(const Json& in, const char* key) {
  if (in.contains(key) && in[key].is_boolean()) return in[key].get<bool>();
  return std::nullopt;
}

NodeResult MediaProbe(NodeContext& ctx) {
  const Json& in = ctx.inputs;
  if (!in.contains("path") || !in["path"].is_string() || in["path"].get<std::string>().empty())
    return NodeResult::Failure(ErrorType::kInvalidInput, "path must be a file path");
  const std::string path = in["path"].get<std::string>();
  ProbeChecks checks;
  if (auto v = Number(in, "minBytes")) checks.min_bytes = static_cast<int64_t>(*v);
  checks.min_duration = Number(in, "minDuration");
  checks.max_duration = Number(in, "maxDuration");
  checks.has_audio = Bool(in, "hasAudio");
  checks.has_video = Bool(in, "hasVideo");
  checks.max_black = Number(in, "maxBlack");
  checks.max_frozen = Number(in, "maxFrozen");
  if (ctx.cancelled()) return NodeResult::Failure(ErrorType::kCancelled, "media_probe cancelled");

  ProbeResult res;
  std::string err;
  if (!ProbeMedia(path, checks, &res, &err))
    return NodeResult::Failure(ErrorType::kOutputInvalid, "media_probe: " + err);
  Json out = res.ToJson();
  if (!res.ok()) {
    std::string msg = "media_probe: " + path + ": ";
    for (size_t i = 0; i < res.failed_checks.size(); ++i) msg += (i ? "; " : "") + res.failed_checks[i];
    NodeResult r = NodeResult::Failure(ErrorType::kOutputInvalid, msg);
    r.details = std::move(out);
    return r;
  }
  return NodeResult::Success(std::move(out));
}

/// Runs a node body; nothing thrown crosses the module boundary.
NodeResult Guarded(const char* type, NodeResult (*body)(NodeContext&), NodeContext& ctx) {
  try {
    return body(ctx);
  } catch (const std::exception& e) {
    return NodeResult::Failure(ErrorType::kInternal, std::string(type) + ": " + e.what());
  } catch (...) {
    return NodeResult::Failure(ErrorType::kInternal, std::string(type) + ": unknown exception");
  }
}

}  // namespace

NodeResult RunVideoStitch(NodeContext& ctx) { return Guarded("video_stitch", VideoStitch, ctx); }

NodeResult RunMediaProbe(NodeContext& ctx) { return Guarded("media_probe", MediaProbe, ctx); }

}  // namespace comfyrun::media
