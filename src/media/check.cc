// CheckImageFile / CheckVideoFile (media/check.h): the validation a generated file passes
// before a generation node completes, reached from the executable through the module table
// (providers/provider_util.h has the executable's wrappers).
//
// Thread: called on worker threads only (RemoteJob::OffLoop); libav's demuxers and decoders
// are safe to use from several threads as long as each context stays on one thread.
#include "comfyrun/media/check.h"

#include <fmt/format.h>

#include <filesystem>
#include <memory>

#include "comfyrun/media/av.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
}

namespace comfyrun::media {
namespace {

/// Opens `path`, reads stream info and finds the best video stream.
bool OpenVideoInput(const std::string& path, InputFormatPtr* input, int* stream, std::string* err) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    *err = fmt::format("cannot read {}: {}", path, ec.message());
    return false;
  }
  if (size == 0) {
    *err = "the file is empty";
    return false;
  }
  AVFormatContext* raw = nullptr;
  int rc = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (rc < 0) {
    *err = fmt::format("not a readable media file ({})", AvErrorString(rc));
    return false;
  }
  input->reset(raw);
  rc = avformat_find_stream_info(raw, nullptr);
  if (rc < 0) {
    *err = fmt::format("cannot read stream info ({})", AvErrorString(rc));
    return false;
  }
  *stream = av_find_best_stream(raw, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (*stream < 0) {
    *err = "no picture stream in the file";
    return false;
  }
  return true;
}

/// Decodes the first frame of `stream`; also reports, through *end_seconds, how far the
/// stream's packets reach when `scan_all` is set.
bool DecodeFirstFrame(AVFormatContext* input, int stream, bool scan_all, double* end_seconds, int* width, int* height,
                      std::string* err) {
  AVStream* st = input->streams[stream];
  const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
  if (!codec) {
    *err = fmt::format("no decoder for codec {}", avcodec_get_name(st->codecpar->codec_id));
    return false;
  }
  CodecContextPtr dec(avcodec_alloc_context3(codec));
  if (!dec || avcodec_parameters_to_context(dec.get(), st->codecpar) < 0) {
    *err = "cannot set up the decoder";
    return false;
  }
  dec->thread_count = 1;
  int rc = avcodec_open2(dec.get(), codec, nullptr);
  if (rc < 0) {
    *err = fmt::format("cannot open the decoder ({})", AvErrorString(rc));
    return false;
  }
  PacketPtr pkt(av_packet_alloc());
  FramePtr frame(av_frame_alloc());
  bool decoded = false;
  int64_t max_end = AV_NOPTS_VALUE;
  int read_error = 0;
  while (true) {
    rc = av_read_frame(input, pkt.get());
    if (rc < 0) {
      if (rc != AVERROR_EOF) read_error = rc;
      break;
    }
    if (pkt->stream_index == stream) {
      int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
      if (ts != AV_NOPTS_VALUE) {
        int64_t end = ts + std::max<int64_t>(pkt->duration, 0);
        if (max_end == AV_NOPTS_VALUE || end > max_end) max_end = end;
      }
      if (!decoded && avcodec_send_packet(dec.get(), pkt.get()) >= 0) {
        if (avcodec_receive_frame(dec.get(), frame.get()) >= 0) {
          decoded = true;
          *width = frame->width;
          *height = frame->height;
        }
      }
    }
    av_packet_unref(pkt.get());
    if (decoded && !scan_all) break;
  }
  if (!decoded) {  // flush: single-frame images and decoders with delay
    avcodec_send_packet(dec.get(), nullptr);
    if (avcodec_receive_frame(dec.get(), frame.get()) >= 0) {
      decoded = true;
      *width = frame->width;
      *height = frame->height;
    }
  }
  if (!decoded) {
    *err = read_error ? fmt::format("no frame decodes ({})", AvErrorString(read_error)) : "no frame decodes";
    return false;
  }
  if (end_seconds) {
    *end_seconds =
        max_end == AV_NOPTS_VALUE
            ? -1
            : double(max_end - (st->start_time != AV_NOPTS_VALUE ? st->start_time : 0)) * av_q2d(st->time_base);
  }
  return true;
}

}  // namespace

bool CheckImageFile(const std::string& path, int* width, int* height, std::string* err) {
  QuietLibavLogs();  // a file that fails is reported through *err, not libav's chatter
  InputFormatPtr input;
  int stream = -1;
  if (!OpenVideoInput(path, &input, &stream, err)) return false;
  int w = 0, h = 0;
  if (!DecodeFirstFrame(input.get(), stream, /*scan_all=*/false, nullptr, &w, &h, err)) return false;
  if (w <= 0 || h <= 0) {
    *err = "the image has no size";
    return false;
  }
  if (width) *width = w;
  if (height) *height = h;
  return true;
}

bool CheckVideoFile(const std::string& path, double* duration, std::string* err) {
  QuietLibavLogs();
  InputFormatPtr input;
  int stream = -1;
  if (!OpenVideoInput(path, &input, &stream, err)) return false;
  AVStream* st = input->streams[stream];
  double d = -1;
  if (input->duration > 0)
    d = double(input->duration) / AV_TIME_BASE;
  else if (st->duration > 0)
    d = double(st->duration) * av_q2d(st->time_base);
  if (d <= 0) {
    *err = "the video has no duration";
    return false;
  }
  int w = 0, h = 0;
  double reached = -1;
  if (!DecodeFirstFrame(input.get(), stream, /*scan_all=*/true, &reached, &w, &h, err)) return false;
  // A file cut short keeps its header's duration but loses its last packets.
  if (reached >= 0 && reached + 1.0 < d) {
    *err = fmt::format("the video stops at {:.1f}s of {:.1f}s (truncated?)", reached, d);
    return false;
  }
  *duration = d;
  return true;
}

}  // namespace comfyrun::media
