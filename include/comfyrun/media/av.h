#pragma once
// RAII ownership for the libav* (FFmpeg 5.1) objects comfyrun uses, plus small helpers shared
// by the media module (probe, stitch, render). Every libav object is held by one of the
// unique_ptr aliases below, so an early `return false` on any error path frees everything.
//
// Pointers handed to libav functions that take `T**` (avformat_open_input, ...) are released
// from the owner first and re-wrapped afterwards; see OpenInput for the pattern.
#include <cstdint>
#include <memory>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/dict.h>
#include <libavutil/frame.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

namespace comfyrun::media {

/// "Invalid data found when processing input" for an AVERROR code.
std::string AvErrorString(int err);

struct InputFormatDeleter {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
/// An output context also owns its AVIOContext (closed here when the muxer did not).
struct OutputFormatDeleter {
  void operator()(AVFormatContext* c) const;
};
struct CodecContextDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FilterGraphDeleter {
  void operator()(AVFilterGraph* g) const { avfilter_graph_free(&g); }
};
struct FilterInOutDeleter {
  void operator()(AVFilterInOut* io) const { avfilter_inout_free(&io); }
};
struct SwsDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};
struct SwrDeleter {
  void operator()(SwrContext* s) const { swr_free(&s); }
};
struct AudioFifoDeleter {
  void operator()(AVAudioFifo* f) const { av_audio_fifo_free(f); }
};

using InputFormatPtr = std::unique_ptr<AVFormatContext, InputFormatDeleter>;
using OutputFormatPtr = std::unique_ptr<AVFormatContext, OutputFormatDeleter>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using FilterGraphPtr = std::unique_ptr<AVFilterGraph, FilterGraphDeleter>;
using FilterInOutPtr = std::unique_ptr<AVFilterInOut, FilterInOutDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;
using SwrPtr = std::unique_ptr<SwrContext, SwrDeleter>;
using AudioFifoPtr = std::unique_ptr<AVAudioFifo, AudioFifoDeleter>;

/// An AVDictionary that frees itself. Pass `&d.get()` where libav wants AVDictionary**.
class Dict {
 public:
  Dict() = default;
  ~Dict() { av_dict_free(&dict_); }
  Dict(const Dict&) = delete;
  Dict& operator=(const Dict&) = delete;
  void Set(const char* key, const std::string& value) { av_dict_set(&dict_, key, value.c_str(), 0); }
  AVDictionary*& get() { return dict_; }
  /// The keys nobody consumed (after avcodec_open2 / avformat_write_header), "" if none.
  std::string UnusedKeys() const;

 private:
  AVDictionary* dict_ = nullptr;
};

FramePtr MakeFrame();
PacketPtr MakePacket();

/// Sets libav's global log level once (fatal only): errors reach the caller through `err`
/// strings, and library chatter would garble the progress line.
void QuietLibavLogs();

/// Opens and probes a media file. Errors name the file: "clip.mp4: No such file or directory".
bool OpenInput(const std::string& path, InputFormatPtr* out, std::string* err);

/// A decoder for `stream` with threads=auto and pkt_timebase set.
bool OpenDecoder(const AVStream* stream, CodecContextPtr* out, std::string* err);

/// The H.264 encoder to use: libx264 when this libavcodec has it, else the first H.264
/// encoder that opens; nullptr when there is none.
const AVCodec* FindH264Encoder();

/// Quotes a value for a filter-graph string (option value inside a filter description).
std::string FilterEscape(const std::string& value);

}  // namespace comfyrun::media
