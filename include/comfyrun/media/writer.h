#pragma once
// MediaWriter: H.264 (+ AAC) encoders and an MP4 muxer behind one small interface, used by
// the stitcher's re-encode paths and by the offline renderer.
//
// Timestamps belong to the writer: video frames are numbered 0, 1, 2, ... at the configured
// rate and audio samples are counted, so callers only hand over pictures and samples in order.
#include <cstdint>
#include <string>

#include "comfyrun/media/av.h"

namespace comfyrun::media {

struct VideoEncodeSettings {
  int width = 0;
  int height = 0;
  AVRational fps{30, 1};
  std::string preset = "veryfast";  ///< libx264 preset (ignored by other encoders)
  int crf = 23;
};

/// Audio is always 48 kHz-style float planar (fltp), the native AAC encoder's format.
struct AudioEncodeSettings {
  int sample_rate = 48000;
  int channels = 2;
  int64_t bit_rate = 128000;
};

class MediaWriter {
 public:
  /// Opens encoders and the output file (mp4, +faststart). `audio` may be null (video only).
  bool Open(const std::string& path, const VideoEncodeSettings& video, const AudioEncodeSettings* audio,
            std::string* err);
  /// Encodes one picture (yuv420p, the configured size). The frame is not consumed.
  bool WriteVideo(AVFrame* frame, std::string* err);
  /// Queues fltp samples (the configured rate and channel count) and encodes every full
  /// encoder frame. The frame is not consumed.
  bool WriteAudio(const AVFrame* frame, std::string* err);
  /// Flushes encoders, writes the trailer (moving moov to the front) and closes the file.
  bool Finish(std::string* err);

  bool has_audio() const { return aenc_ != nullptr; }
  int64_t video_frames() const { return video_pts_; }
  int64_t audio_samples() const { return audio_pts_; }

 private:
  bool EncodeVideo(AVFrame* frame, std::string* err);
  bool EncodeAudio(AVFrame* frame, std::string* err);
  bool Drain(AVCodecContext* enc, AVStream* st, std::string* err);
  bool EncodeAudioFromFifo(bool flush, std::string* err);

  std::string path_;
  OutputFormatPtr oc_;
  CodecContextPtr venc_, aenc_;
  AVStream* vst_ = nullptr;  ///< owned by oc_
  AVStream* ast_ = nullptr;  ///< owned by oc_
  AudioFifoPtr fifo_;
  PacketPtr pkt_;
  FramePtr aframe_;
  int64_t video_pts_ = 0;
  int64_t audio_pts_ = 0;
  bool finished_ = false;
};

}  // namespace comfyrun::media
