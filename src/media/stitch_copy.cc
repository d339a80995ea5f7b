// The stream-copy path of stitching and the clip helpers both paths use (stitch_clips.h).
#include <cmath>
#include <cstdio>

#include "stitch_clips.h"

extern "C" {
#include <libavutil/opt.h>
}

namespace comfyrun::media {

bool Cancelled(const StitchRequest& r) { return r.cancel && r.cancel->load(std::memory_order_relaxed); }

std::string Seconds(double s) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%g s", std::round(s * 1000) / 1000);
  return buf;
}

bool OpenClip(const std::string& path, Clip* clip, std::string* err) {
  clip->path = path;
  if (!OpenInput(path, &clip->ic, err)) return false;
  AVFormatContext* ic = clip->ic.get();
  int v = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (v < 0 || ic->streams[v]->codecpar->width <= 0) {
    *err = path + ": no video stream";
    return false;
  }
  clip->video = ic->streams[v];
  int a = av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, v, nullptr, 0);
  if (a >= 0) clip->audio = ic->streams[a];
  if (clip->video->duration > 0 && clip->video->duration != AV_NOPTS_VALUE) {
    clip->duration = clip->video->duration * av_q2d(clip->video->time_base);
  } else if (ic->duration > 0) {
    clip->duration = ic->duration / static_cast<double>(AV_TIME_BASE);
  }
  if (clip->duration <= 0) {
    *err = path + ": unknown or zero duration";
    return false;
  }
  clip->fps = av_guess_frame_rate(ic, clip->video, nullptr);
  return true;
}

bool SameBytes(const AVCodecParameters* a, const AVCodecParameters* b) {
  return a->extradata_size == b->extradata_size &&
         (a->extradata_size == 0 || memcmp(a->extradata, b->extradata, a->extradata_size) == 0);
}

/// True when the clips can be joined by stream copy (MEDIA.md §5, "compatibility check").
bool CanStreamCopy(const std::vector<Clip>& clips) {
  const Clip& c0 = clips[0];
  const AVCodecParameters* v0 = c0.video->codecpar;
  if (avformat_query_codec(av_guess_format("mp4", nullptr, nullptr), v0->codec_id, FF_COMPLIANCE_NORMAL) != 1)
    return false;
  for (const Clip& c : clips) {
    const AVCodecParameters* v = c.video->codecpar;
    if (v->codec_id != v0->codec_id || v->width != v0->width || v->height != v0->height || v->format != v0->format ||
        v->profile != v0->profile || !SameBytes(v, v0) || av_cmp_q(c.fps, c0.fps) != 0 ||
        av_cmp_q(c.video->time_base, c0.video->time_base) != 0)
      return false;
    if ((c.audio == nullptr) != (c0.audio == nullptr)) return false;
    if (c.audio) {
      const AVCodecParameters* a = c.audio->codecpar;
      const AVCodecParameters* a0 = c0.audio->codecpar;
      if (a->codec_id != a0->codec_id || a->sample_rate != a0->sample_rate ||
          av_channel_layout_compare(&a->ch_layout, &a0->ch_layout) != 0 || !SameBytes(a, a0) ||
          av_cmp_q(c.audio->time_base, c0.audio->time_base) != 0)
        return false;
    }
  }
  return true;
}

/// A file whose readable media ends well before its declared duration is truncated or
/// damaged; joining it would silently shorten the output.
bool CheckComplete(const Clip& c, double readable, std::string* err) {
  if (readable >= c.duration * 0.9 - 0.1) return true;
  *err =
      c.path + ": truncated or damaged file (" + Seconds(c.duration) + " declared, " + Seconds(readable) + " readable)";
  return false;
}

// ---------------------------------------------------------------------------------------
// Stream copy

bool StreamCopy(const StitchRequest& req, std::vector<Clip>& clips, StitchResult* result, std::string* err) {
  AVFormatContext* raw = nullptr;
  int rc = avformat_alloc_output_context2(&raw, nullptr, "mp4", req.output_path.c_str());
  if (rc < 0) {
    *err = req.output_path + ": " + AvErrorString(rc);
    return false;
  }
  OutputFormatPtr oc(raw);
  const Clip& c0 = clips[0];
  AVStream* in0[2] = {c0.video, c0.audio};
  AVStream* out[2] = {nullptr, nullptr};
  for (int k = 0; k < 2; ++k) {
    if (!in0[k]) continue;
    out[k] = avformat_new_stream(oc.get(), nullptr);
    avcodec_parameters_copy(out[k]->codecpar, in0[k]->codecpar);
    out[k]->codecpar->codec_tag = 0;
    out[k]->time_base = in0[k]->time_base;
    if (k == 0) out[k]->avg_frame_rate = c0.fps;
  }
  rc = avio_open(&oc->pb, req.output_path.c_str(), AVIO_FLAG_WRITE);
  if (rc < 0) {
    *err = req.output_path + ": " + AvErrorString(rc);
    return false;
  }
  Dict mux;
  mux.Set("movflags", "+faststart");
  rc = avformat_write_header(oc.get(), &mux.get());
  if (rc < 0) {
    *err = req.output_path + ": writing header: " + AvErrorString(rc);
    return false;
  }

  PacketPtr pkt = MakePacket();
  int64_t offset_us = 0;  // where the current clip starts in the output
  int64_t last_dts[2] = {AV_NOPTS_VALUE, AV_NOPTS_VALUE};
  int64_t frames = 0;
  for (size_t i = 0; i < clips.size(); ++i) {
    Clip& c = clips[i];
    AVStream* in[2] = {c.video, c.audio};
    int64_t end_us = 0;
    for (;;) {
      if (Cancelled(req)) {
        *err = "cancelled";
        return false;
      }
      rc = av_read_frame(c.ic.get(), pkt.get());
      if (rc == AVERROR_EOF) break;
      if (rc < 0) {
        *err = c.path + ": " + AvErrorString(rc);
        return false;
      }
      int k = -1;
      for (int j = 0; j < 2; ++j)
        if (in[j] && pkt->stream_index == in[j]->index) k = j;
      if (k < 0 || pkt->pts == AV_NOPTS_VALUE) {
        av_packet_unref(pkt.get());
        continue;
      }
      const AVRational tb = in[k]->time_base;
      if (pkt->dts == AV_NOPTS_VALUE) pkt->dts = pkt->pts;
      // The AAC priming packet of a later clip would overlap the previous clip's end.
      if (k == 1 && i > 0 && pkt->pts + pkt->duration <= 0) {
        av_packet_unref(pkt.get());
        continue;
      }
      end_us = std::max(end_us, av_rescale_q(pkt->pts + pkt->duration, tb, AV_TIME_BASE_Q));
      const int64_t shift = av_rescale_q(offset_us, AV_TIME_BASE_Q, tb);
      pkt->pts += shift;
      pkt->dts += shift;
      av_packet_rescale_ts(pkt.get(), tb, out[k]->time_base);
      if (last_dts[k] != AV_NOPTS_VALUE && pkt->dts <= last_dts[k]) {
        pkt->dts = last_dts[k] + 1;
        if (pkt->pts < pkt->dts) pkt->pts = pkt->dts;
      }
      last_dts[k] = pkt->dts;
      pkt->stream_index = out[k]->index;
      pkt->pos = -1;
      if (k == 0) ++frames;
      rc = av_interleaved_write_frame(oc.get(), pkt.get());
      if (rc < 0) {
        *err = req.output_path + ": writing: " + AvErrorString(rc);
        return false;
      }
    }
    if (!CheckComplete(c, end_us / static_cast<double>(AV_TIME_BASE), err)) return false;
    offset_us += end_us;
  }
  rc = av_write_trailer(oc.get());
  if (rc >= 0) rc = avio_closep(&oc->pb);
  if (rc < 0) {
    *err = req.output_path + ": " + AvErrorString(rc);
    return false;
  }
  result->duration = offset_us / static_cast<double>(AV_TIME_BASE);
  result->stream_copied = true;
  result->frames = frames;
  return true;
}

}  // namespace comfyrun::media
