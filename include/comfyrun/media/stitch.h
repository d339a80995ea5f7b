#pragma once
// Joins video clips into one MP4, in process with FFmpeg's libraries (never the ffmpeg
// binary). Three paths, chosen automatically:
//  - transition "none" and compatible clips (same codec, size, pixel format, profile,
//    parameter sets, frame rate, and the same audio format or no audio anywhere): stream
//    copy. Each clip is shifted to start where the previous one ended, the AAC priming
//    packet of clips 2..N is dropped, DTS stay strictly increasing; moov goes to the front.
//  - transition "none" and incompatible clips: every clip is normalised (see below) and the
//    clips are re-encoded back to back (a hard cut).
//  - a transition (any xfade transition of FFmpeg 5.1: "fade", "dissolve", "wipeleft", ...):
//    clips are normalised, the last d seconds of clip k and the first d of clip k+1 go
//    through xfade and acrossfade, and the result is encoded H.264 (libx264 veryfast, CRF
//    23) + AAC 128 kb/s.
//
// Normalisation: the first clip fixes the output size (display size, even) and frame rate.
// Each clip is fitted into that size keeping its display aspect (scale + pad, square
// pixels), converted to the frame rate and yuv420p, and cut or padded (last frame repeated)
// to K = round(duration x rate) frames. Audio is resampled to 48 kHz stereo and cut or
// padded with silence to exactly the clip's video length; a clip without audio gets silence
// when any clip has audio. So the output lasts (sum of K - (N-1) x D) / rate seconds, where
// D = round(d x rate): the sum of the inputs minus the transitions, within one frame.
//
// The transition windows are filtered on their own, small graphs (2 x D frames each), and
// every other frame goes straight from the decoder to the encoder. This sidesteps the EOF
// ordering bugs of FFmpeg 5.1's xfade (MEDIA.md P2/P3) and avoids converting every frame to
// 4:4:4 and back, which makes the in-process stitch cheaper than the equivalent ffmpeg
// command line.
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace comfyrun::media {

struct StitchRequest {
  std::vector<std::string> inputs;            ///< clip paths, in order (at least one)
  std::string transition = "none";            ///< "none" or an xfade transition name
  double transition_seconds = 0.5;            ///< length of each transition (ignored for "none")
  std::string output_path;                    ///< the MP4 to write (replaced if it exists)
  const std::atomic<bool>* cancel = nullptr;  ///< polled per frame; may be null
  bool force_reencode = false;                ///< never stream-copy (benchmarks, broken source muxing)
};

struct StitchResult {
  double duration = 0;         ///< seconds of the output (video)
  bool stream_copied = false;  ///< true when no clip was re-encoded
  int64_t frames = 0;          ///< video frames written
};

/// Writes the joined clips to request.output_path. On failure returns false with *err set
/// ("clip2.mp4: Invalid data found when processing input", "transition of 2 s is longer
/// than clip b.mp4 (1.5 s)", "cancelled") and removes any partial output.
bool StitchVideos(const StitchRequest& request, StitchResult* result, std::string* err);

}  // namespace comfyrun::media
