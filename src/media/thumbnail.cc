// MakeThumbnail (media/thumbnail.h): the pictures of the HTML run report's gallery. Decodes
// one frame, scales it down with swscale and encodes it as a JPEG with libavcodec's MJPEG
// encoder, all in memory: the report embeds the bytes as a data URI, so nothing is written.
//
// Thread: called from the report command's thread only; every libav object is local.
#include "comfyrun/media/thumbnail.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "comfyrun/media/av.h"

extern "C" {
#include <libavutil/imgutils.h>
}

namespace comfyrun::media {
namespace {

/// The most frames decoded while looking for the poster frame: a video whose timestamps never
/// reach the target (broken pts) still gets a poster, and a long GOP costs bounded time.
constexpr int kMaxFramesDecoded = 400;

/// Seconds of a frame from its best-effort timestamp, relative to the stream's start.
double FrameSeconds(const AVFrame* frame, const AVStream* st) {
  int64_t ts = frame->best_effort_timestamp;
  if (ts == AV_NOPTS_VALUE) return -1;
  if (st->start_time != AV_NOPTS_VALUE) ts -= st->start_time;
  return static_cast<double>(ts) * av_q2d(st->time_base);
}

/// Decodes frames of `stream` until one is at `target` seconds or later (the first frame
/// when target is 0), and keeps it in *picked.
bool DecodePoster(AVFormatContext* input, int stream, AVCodecContext* dec, double target, FramePtr* picked,
                  std::string* err) {
  const AVStream* st = input->streams[stream];
  PacketPtr pkt = MakePacket();
  FramePtr frame = MakeFrame();
  if (!pkt || !frame) {
    *err = "out of memory";
    return false;
  }
  int decoded = 0;
  bool done = false;
  auto take = [&]() {  // receives every frame the decoder has ready
    while (!done && avcodec_receive_frame(dec, frame.get()) >= 0) {
      ++decoded;
      *picked = MakeFrame();
      av_frame_move_ref(picked->get(), frame.get());
      double t = FrameSeconds(picked->get(), st);
      if (target <= 0 || t < 0 || t >= target || decoded >= kMaxFramesDecoded) done = true;
    }
  };
  int read_error = 0;
  while (!done) {
    int rc = av_read_frame(input, pkt.get());
    if (rc < 0) {
      if (rc != AVERROR_EOF) read_error = rc;
      break;
    }
    if (pkt->stream_index == stream && avcodec_send_packet(dec, pkt.get()) >= 0) take();
    av_packet_unref(pkt.get());
  }
  if (!done) {  // end of file before the target: the frames the decoder still holds
    avcodec_send_packet(dec, nullptr);
    take();
  }
  if (!*picked) {
    *err = read_error ? fmt::format("no frame decodes ({})", AvErrorString(read_error)) : "no frame decodes";
    return false;
  }
  return true;
}

/// Scales `src` to width x height and encodes it as a baseline JPEG.
bool EncodeJpeg(const AVFrame* src, int width, int height, std::string* jpeg, std::string* err) {
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
  if (!codec) {
    *err = "this libavcodec has no JPEG encoder";
    return false;
  }
  CodecContextPtr enc(avcodec_alloc_context3(codec));
  if (!enc) {
    *err = "out of memory";
    return false;
  }
  // YUVJ420P: full-range 4:2:0, what the MJPEG encoder takes without -strict.
  enc->width = width;
  enc->height = height;
  enc->pix_fmt = AV_PIX_FMT_YUVJ420P;
  enc->time_base = AVRational{1, 25};
  enc->flags |= AV_CODEC_FLAG_QSCALE;
  enc->global_quality = FF_QP2LAMBDA * 4;  // qscale 4: small files, no visible blocks at 256 px
  int rc = avcodec_open2(enc.get(), codec, nullptr);
  if (rc < 0) {
    *err = fmt::format("cannot open the JPEG encoder ({})", AvErrorString(rc));
    return false;
  }
  SwsPtr sws(sws_getContext(src->width, src->height, static_cast<AVPixelFormat>(src->format), width, height,
                            AV_PIX_FMT_YUVJ420P, SWS_AREA, nullptr, nullptr, nullptr));
  if (!sws) {
    const char* name = av_get_pix_fmt_name(static_cast<AVPixelFormat>(src->format));
    *err = fmt::format("cannot scale from pixel format {}", name ? name : "?");
    return false;
  }
  FramePtr dst = MakeFrame();
  if (!dst) {
    *err = "out of memory";
    return false;
  }
  dst->format = AV_PIX_FMT_YUVJ420P;
  dst->width = width;
  dst->height = height;
  if ((rc = av_frame_get_buffer(dst.get(), 0)) < 0) {
    *err = fmt::format("cannot allocate a frame ({})", AvErrorString(rc));
    return false;
  }
  sws_scale(sws.get(), src->data, src->linesize, 0, src->height, dst->data, dst->linesize);
  dst->pts = 0;
  dst->quality = enc->global_quality;
  if ((rc = avcodec_send_frame(enc.get(), dst.get())) < 0 || (rc = avcodec_send_frame(enc.get(), nullptr)) < 0) {
    *err = fmt::format("cannot encode the thumbnail ({})", AvErrorString(rc));
    return false;
  }
  PacketPtr pkt = MakePacket();
  jpeg->clear();
  while (pkt && avcodec_receive_packet(enc.get(), pkt.get()) >= 0) {
    jpeg->append(reinterpret_cast<const char*>(pkt->data), static_cast<size_t>(pkt->size));
    av_packet_unref(pkt.get());
  }
  if (jpeg->empty()) {
    *err = "the JPEG encoder gave no picture";
    return false;
  }
  return true;
}

}  // namespace

bool MakeThumbnail(const std::string& path, int max_width, Thumbnail* out, std::string* err) {
  *out = Thumbnail();
  InputFormatPtr input;
  if (!OpenInput(path, &input, err)) return false;
  int stream = av_find_best_stream(input.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (stream < 0) {
    *err = path + ": no picture stream in the file";
    return false;
  }
  const AVStream* st = input->streams[stream];
  // Still images (PNG, JPEG, WebP) have no duration; a video has one.
  double duration = -1;
  if (input->duration > 0)
    duration = static_cast<double>(input->duration) / AV_TIME_BASE;
  else if (st->duration > 0)
    duration = static_cast<double>(st->duration) * av_q2d(st->time_base);
  out->video = duration > 0 && !(st->disposition & AV_DISPOSITION_ATTACHED_PIC);
  if (out->video) out->duration_seconds = duration;

  CodecContextPtr dec;
  if (!OpenDecoder(st, &dec, err)) {
    *err = path + ": " + *err;
    return false;
  }
  FramePtr picked;
  double target = out->video ? std::min(1.0, duration * 0.1) : 0;
  if (!DecodePoster(input.get(), stream, dec.get(), target, &picked, err)) {
    *err = path + ": " + *err;
    return false;
  }
  const AVFrame* f = picked.get();
  if (f->width <= 0 || f->height <= 0) {
    *err = path + ": the picture has no size";
    return false;
  }
  out->source_width = f->width;
  out->source_height = f->height;
  // Never scaled up; even sizes for 4:2:0; at least 2x2.
  int width = std::clamp(std::min(max_width, f->width), 2, 4096) & ~1;
  int height = static_cast<int>(std::lround(static_cast<double>(f->height) * width / f->width));
  height = std::clamp(height, 2, 4096) & ~1;
  if (!EncodeJpeg(f, width, height, &out->jpeg, err)) {
    *err = path + ": " + *err;
    return false;
  }
  out->width = width;
  out->height = height;
  return true;
}

}  // namespace comfyrun::media
