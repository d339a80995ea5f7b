#pragma once
// ProbeMedia: what a media file holds (container, streams, duration, size) and, on request,
// checks against limits, including the longest black and frozen stretches found by FFmpeg's
// blackdetect and freezedetect filters (which cost a full decode of the video).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "comfyrun/core/json.h"

namespace comfyrun::media {

struct ProbeChecks {
  std::optional<int64_t> min_bytes;
  std::optional<double> min_duration;  ///< seconds
  std::optional<double> max_duration;  ///< seconds
  std::optional<bool> has_audio;       ///< true: must have audio; false: must not
  std::optional<bool> has_video;
  std::optional<double> max_black;   ///< seconds of black allowed in one stretch
  std::optional<double> max_frozen;  ///< seconds of frozen picture allowed in one stretch
};

struct StreamInfo {
  std::string type;   ///< "video", "audio", "subtitle", "data"
  std::string codec;  ///< "h264", "aac", ...
  int width = 0, height = 0;
  double fps = 0;
  int sample_rate = 0;
  int channels = 0;
  double duration = 0;  ///< seconds; 0 when unknown
};

struct ProbeResult {
  std::string container;  ///< libavformat's name: "mov,mp4,m4a,3gp,3g2,mj2", "png_pipe", ...
  std::vector<StreamInfo> streams;
  std::string video_codec, audio_codec;  ///< of the first video / audio stream, "" if none
  int width = 0, height = 0;
  double fps = 0;
  double duration = 0;  ///< seconds
  int64_t size = 0;     ///< bytes
  bool has_audio = false, has_video = false;
  std::optional<double> black_seconds;   ///< longest black stretch, when checked
  std::optional<double> frozen_seconds;  ///< longest frozen stretch, when checked
  /// One entry per check that failed, for people: "duration 3.2 s is below minDuration 4 s".
  std::vector<std::string> failed_checks;
  int checks_run = 0;
  /// 0..1: the share of checks passed, lowered by black and frozen time (see probe.cc).
  double quality_score = 1;

  bool ok() const { return failed_checks.empty(); }
  /// The media_probe node outputs: container, streams, videoCodec, audioCodec, width,
  /// height, fps, duration, size, hasAudio, hasVideo, blackSeconds, frozenSeconds,
  /// qualityScore, failedChecks.
  Json ToJson() const;
};

/// Probes `path` and runs the checks. Returns false with *err only when the file cannot be
/// read at all (missing, not media); failed checks are reported in result->failed_checks.
bool ProbeMedia(const std::string& path, const ProbeChecks& checks, ProbeResult* result, std::string* err);

}  // namespace comfyrun::media
