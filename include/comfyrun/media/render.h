#pragma once
// Offline placeholder media for --offline: deterministic images and videos made locally from
// the prompt, so any workflow runs end to end with no network, no keys and no cost.
//
// Same prompt -> same pixels: colours, gradient layout and tone pitch come from a 64-bit
// FNV-1a hash of the prompt; different prompts look (and sound) different. The prompt is
// drawn on the picture when this libavfilter has drawtext. Videos are H.264 + AAC MP4 (a
// quiet sine tone), rendered with libx264 ultrafast so a 720p 8 s clip takes about a second.
#include <string>

extern "C" {
#include <libavutil/rational.h>
}

namespace comfyrun::media {

/// Writes a PNG of the given aspect ("16:9", "1:1", "9:16", ... default "1:1" when empty)
/// with 1024 pixels on the long side.
bool RenderOfflineImage(const std::string& prompt, const std::string& aspect_ratio, const std::string& output_png,
                        std::string* err);

/// Writes an MP4 of `seconds` (rounded to frames at 24 fps). `resolution` is "720p",
/// "1080p", "180p" (the short side) or "WxH"; empty means 720p. `first_frame_image` is ""
/// or a picture shown (fitted and padded) for the whole clip under the text.
bool RenderOfflineVideo(const std::string& prompt, double seconds, const std::string& aspect_ratio,
                        const std::string& resolution, const std::string& first_frame_image,
                        const std::string& output_mp4, std::string* err);

/// Everything RenderOfflineVideo decides, exposed for tests and benchmarks that need clips of
/// a given size, rate or without audio.
struct SyntheticVideoSpec {
  std::string prompt;
  int width = 320;
  int height = 180;
  AVRational fps{24, 1};
  double seconds = 2;
  bool audio = true;
  std::string first_frame_image;     ///< "" or a picture to show
  std::string preset = "ultrafast";  ///< libx264 preset
  bool draw_text = true;             ///< draw the prompt when drawtext exists
  /// "" or a lavfi source replacing the generated background, e.g. "color=c=black" or
  /// "testsrc2" (size and rate are appended); for test fixtures.
  std::string source_filter;
  int tone_hz = 0;  ///< 0: pitch from the prompt
};
bool RenderSyntheticVideo(const SyntheticVideoSpec& spec, const std::string& output_mp4, std::string* err);

/// Parses "16:9" into width:height; false for anything else.
bool ParseAspectRatio(const std::string& text, int* w, int* h);

/// Output size for an aspect ratio and a resolution ("720p" = 720 on the short side, or
/// "WxH"); both even. False with *err for an unreadable value.
bool VideoSize(const std::string& aspect_ratio, const std::string& resolution, int* width, int* height,
               std::string* err);

}  // namespace comfyrun::media
