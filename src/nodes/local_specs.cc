// Declarations of the node types that run locally or against a generic endpoint:
// comfyui, video_stitch, media_probe, shell, http, value.
#include "comfyrun/nodes/node_table.h"

namespace comfyrun {
namespace {
using T = ValueType;
}  // namespace

NodeTypeSpec ComfyuiSpec() {
  NodeTypeSpec s;
  s.name = "comfyui";
  s.summary = "runs a ComfyUI API-format graph on a pool of ComfyUI servers";
  s.inputs = {
      Required("workflow", T::kAny, "API-format graph: inline object, or the path of a workflow_api.json"),
      Optional("set", T::kObject, Json::object(), "overrides: {\"<comfy node id>.<input>\": value}"),
      Optional("server", T::kString, nullptr, "pin to one server URL (default: least-loaded healthy)"),
      // Every output is checked by decoding it; these byte floors are an extra, optional check
      // (a 64x64 PNG from a real server is 438 bytes: no floor is a safe default).
      WithRange(Optional("minImageBytes", T::kInteger, nullptr, "optional: smaller images fail with OutputInvalid"), 0,
                1e12),
      WithRange(Optional("minVideoBytes", T::kInteger, nullptr, "optional: smaller videos fail with OutputInvalid"), 0,
                1e12),
  };
  s.outputs = {Out("images", T::kArray, "image files, in output order"),
               Out("videos", T::kArray, "video files"),
               Out("audio", T::kArray, "audio files"),
               Out("files", T::kArray, "every file: {node, kind, path, filename}"),
               Out("imagePath", T::kString, "the first image"),
               Out("videoPath", T::kString, "the first video"),
               Out("promptId", T::kString, "ComfyUI prompt_id"),
               Out("server", T::kString, "the server that ran it")};
  s.expected_seconds = 60;
  s.default_attempt_timeout = 600;  // ComfyUI jobs: 10 minutes unless the node says otherwise
  return s;
}

NodeTypeSpec VideoStitchSpec() {
  NodeTypeSpec s;
  s.name = "video_stitch";
  s.summary = "joins clips with cuts or transitions (dissolve, fade, wipes, slides)";
  s.inputs = {
      Required("videoPaths", T::kArray, "the clips, in order"),
      Optional("transitionType", T::kString, "none", "xfade transition between clips",
               {"none",       "fade",        "dissolve", "wipeleft",   "wiperight",   "wipeup",    "wipedown",
                "slideleft",  "slideright",  "slideup",  "slidedown",  "circlecrop",  "rectcrop",  "distance",
                "fadeblack",  "fadewhite",   "radial",   "smoothleft", "smoothright", "smoothup",  "smoothdown",
                "circleopen", "circleclose", "vertopen", "vertclose",  "horzopen",    "horzclose", "diagtl",
                "diagtr",     "diagbl",      "diagbr",   "hlslice",    "hrslice",     "vuslice",   "vdslice",
                "hblur",      "fadegrays",   "wipetl",   "wipetr",     "wipebl",      "wipebr",    "squeezeh",
                "squeezev",   "zoomin"}),
      WithRange(Optional("transitionDuration", T::kNumber, 0.5, "seconds of each transition"), 0, 60),
      Optional("output", T::kString, "stitched.mp4", "file name inside the node's folder"),
  };
  s.outputs = {Out("videoPath", T::kString, "the stitched video"), Out("duration", T::kNumber, "seconds")};
  s.expected_seconds = 5;
  s.default_pool = "media";
  s.default_pool_depth = 2;
  return s;
}

NodeTypeSpec MediaProbeSpec() {
  NodeTypeSpec s;
  s.name = "media_probe";
  s.summary = "checks a media file (container, streams, duration, size) against limits";
  s.inputs = {
      Required("path", T::kString, "the file to probe"),
      WithRange(Optional("minBytes", T::kInteger, nullptr, "fail when smaller"), 0, 1e15),
      WithRange(Optional("minDuration", T::kNumber, nullptr, "seconds; fail when shorter"), 0, 1e9),
      WithRange(Optional("maxDuration", T::kNumber, nullptr, "seconds; fail when longer"), 0, 1e9),
      Optional("hasAudio", T::kBoolean, nullptr, "fail unless the file has (true) / lacks (false) audio"),
      Optional("hasVideo", T::kBoolean, nullptr, "fail unless the file has (true) / lacks (false) video"),
      WithRange(Optional("maxBlack", T::kNumber, nullptr, "seconds of black allowed in one stretch"), 0, 1e9),
      WithRange(Optional("maxFrozen", T::kNumber, nullptr, "seconds of frozen picture allowed in one stretch"), 0, 1e9),
  };
  s.outputs = {Out("container", T::kString, "format name (mov,mp4,...)"),
               Out("streams", T::kArray, "per stream: type, codec, ..."),
               Out("videoCodec", T::kString, ""),
               Out("audioCodec", T::kString, ""),
               Out("width", T::kInteger, ""),
               Out("height", T::kInteger, ""),
               Out("fps", T::kNumber, ""),
               Out("duration", T::kNumber, "seconds"),
               Out("size", T::kInteger, "bytes"),
               Out("hasAudio", T::kBoolean, ""),
               Out("hasVideo", T::kBoolean, ""),
               Out("blackSeconds", T::kNumber, "longest black stretch (when checked)"),
               Out("frozenSeconds", T::kNumber, "longest frozen stretch (when checked)"),
               Out("qualityScore", T::kNumber, "0..1 from the checks, for A/B tests")};
  s.expected_seconds = 1;
  s.default_pool = "media";
  s.default_pool_depth = 2;
  s.side_effect_free = true;
  return s;
}

NodeTypeSpec ShellSpec() {
  NodeTypeSpec s;
  s.name = "shell";
  s.summary = "runs a program (argv list; no shell unless asked) and captures its output";
  s.inputs = {
      Optional("argv", T::kArray, nullptr, "program and arguments, e.g. [\"python3\", \"score.py\"]"),
      Optional("command", T::kString, nullptr, "a command line run with /bin/sh -c (only with shell: true)"),
      Optional("shell", T::kBoolean, false, "run `command` through /bin/sh"),
      Optional("env", T::kObject, Json::object(), "extra environment variables"),
      Optional("cwd", T::kString, nullptr, "working directory (default: the node's folder)"),
      Optional("stdin", T::kString, nullptr, "text written to the program's standard input"),
      Optional("okExitCodes", T::kArray, Json::array({0}), "exit codes that count as success"),
  };
  s.one_of_required = {"argv", "command"};
  s.outputs = {Out("stdout", T::kString, "standard output (up to 16 MiB)"),
               Out("stderr", T::kString, "standard error (last 64 KiB)"),
               Out("exitCode", T::kInteger, "the program's exit code")};
  s.open_outputs = OpenOutputs::kAny;
  s.expected_seconds = 1;
  s.default_pool = "shell";
  return s;
}

NodeTypeSpec HttpSpec() {
  NodeTypeSpec s;
  s.name = "http";
  s.summary = "one HTTP request with a templated body; extracts fields from the JSON reply";
  s.inputs = {
      Required("url", T::kString, "http:// or https:// URL"),
      Optional("method", T::kString, "GET", "HTTP method", {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}),
      Optional("headers", T::kObject, Json::object(), "request headers"),
      Optional("body", T::kAny, nullptr, "request body: a string as is, other JSON values as JSON"),
      Optional("extract", T::kObject, Json::object(), "output name -> path in the JSON reply (\"data.items[0].id\")"),
      Optional("okStatus", T::kArray, nullptr, "status codes that count as success (default 2xx)"),
  };
  s.outputs = {Out("status", T::kInteger, "HTTP status code"),
               Out("body", T::kAny, "the reply: parsed JSON when it is JSON, else text"),
               Out("headers", T::kObject, "reply headers (lower-case names)")};
  s.open_outputs = OpenOutputs::kFromExtract;
  s.expected_seconds = 1;
  s.default_pool = "http";
  return s;
}

NodeTypeSpec ValueSpec() {
  NodeTypeSpec s;
  s.name = "value";
  s.summary = "outputs its inputs: parameters and constants for other nodes";
  s.open_inputs = true;
  s.open_outputs = OpenOutputs::kFromInputs;
  s.expected_seconds = 0;
  s.default_pool = "";
  s.side_effect_free = true;
  return s;
}

}  // namespace comfyrun
