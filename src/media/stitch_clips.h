#pragma once
// Internal to src/media's stitching: the input clips, opened once, and the stream-copy path
// (stitch_copy.cc) that joins clips without decoding when their streams allow it.
#include <string>
#include <vector>

#include "comfyrun/media/av.h"
#include "comfyrun/media/stitch.h"

namespace comfyrun::media {

struct Clip {
  std::string path;
  InputFormatPtr ic;
  AVStream* video = nullptr;  ///< owned by ic
  AVStream* audio = nullptr;  ///< owned by ic; null when the clip has no audio
  double duration = 0;        ///< seconds of video
  AVRational fps{0, 1};
};

bool Cancelled(const StitchRequest& r);
/// "1.5 s": a duration for messages.
std::string Seconds(double s);
/// Opens `path` and finds its video (required) and audio streams.
bool OpenClip(const std::string& path, Clip* clip, std::string* err);
/// True when every clip's streams have the same parameters, so packets can be copied as they are.
bool CanStreamCopy(const std::vector<Clip>& clips);
/// A file whose readable media ends well before its declared duration is truncated or
/// damaged; joining it would silently shorten the output.
bool CheckComplete(const Clip& c, double readable, std::string* err);
/// Joins `clips` into req.output_path by copying packets (no transition, same parameters).
bool StreamCopy(const StitchRequest& req, std::vector<Clip>& clips, StitchResult* result, std::string* err);

}  // namespace comfyrun::media
