// Implementation details: stream facts come from avformat_find_stream_info. Black and frozen
// stretches: the first video stream is decoded, scaled down to at most 320 pixels wide
// (both detectors look at whole-picture statistics, so this changes little and saves most
// of the filter time) and run through blackdetect + freezedetect; their per-frame metadata
// (lavfi.black_start/end, lavfi.freezedetect.freeze_start/end) gives the stretches, and a
// stretch still open at the end of the file lasts until the last frame ends.
#include "comfyrun/media/probe.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "comfyrun/media/av.h"
#include "comfyrun/media/filter_graph.h"

namespace comfyrun::media {
namespace {

const char* TypeName(AVMediaType t) {
  switch (t) {
    case AVMEDIA_TYPE_VIDEO:
      return "video";
    case AVMEDIA_TYPE_AUDIO:
      return "audio";
    case AVMEDIA_TYPE_SUBTITLE:
      return "subtitle";
    default:
      return "data";
  }
}

std::string Num(double v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%g", std::round(v * 1000) / 1000);
  return buf;
}

/// Tracks the longest stretch between "start" and "end" marks (seconds).
struct Stretch {
  double start = -1;
  double longest = 0;
  void Start(double t) {
    if (start < 0) start = t;
  }
  void End(double t) {
    if (start >= 0) longest = std::max(longest, t - start);
    start = -1;
  }
};

bool MetaValue(const AVFrame* f, const char* key, double* v) {
  const AVDictionaryEntry* e = av_dict_get(f->metadata, key, nullptr, 0);
  if (!e) return false;
  *v = strtod(e->value, nullptr);
  return true;
}

bool DetectStretches(AVFormatContext* ic, int vindex, double* black, double* frozen, std::string* err) {
  AVStream* st = ic->streams[vindex];
  CodecContextPtr dec;
  if (!OpenDecoder(st, &dec, err)) return false;
  FilterGraph g;
  const int w = dec->width > 320 ? 320 : dec->width;
  if (!g.AddVideoSource("in", dec->width, dec->height, dec->pix_fmt, st->time_base,
                        av_guess_frame_rate(ic, st, nullptr), dec->sample_aspect_ratio, err) ||
      !g.AddSink("out", AVMEDIA_TYPE_VIDEO, err) ||
      !g.Configure("[in]scale=" + std::to_string(w) +
                       ":-2:flags=fast_bilinear,blackdetect=d=0:pix_th=0.10,"
                       "freezedetect=n=-60dB:d=0.2[out]",
                   err))
    return false;
  Stretch b, fz;
  double last_end = 0;
  const double tb = av_q2d(st->time_base);
  const AVRational rate = av_guess_frame_rate(ic, st, nullptr);
  const double frame_len = rate.num > 0 ? av_q2d(av_inv_q(rate)) : 0.04;
  FramePtr frame = MakeFrame(), out = MakeFrame();
  auto drain = [&]() -> bool {
    for (;;) {
      auto s = g.Pull("out", out.get(), err);
      if (s == FilterGraph::PullStatus::kError) return false;
      if (s != FilterGraph::PullStatus::kFrame) return true;
      double v = 0;
      const double t = out->pts * tb;
      last_end = std::max(last_end, t + frame_len);
      if (MetaValue(out.get(), "lavfi.black_start", &v)) b.Start(v);
      if (MetaValue(out.get(), "lavfi.black_end", &v)) b.End(v);
      if (MetaValue(out.get(), "lavfi.freezedetect.freeze_start", &v)) fz.Start(v);
      if (MetaValue(out.get(), "lavfi.freezedetect.freeze_end", &v)) fz.End(v);
    }
  };
  auto receive = [&]() -> bool {
    for (;;) {
      int rc = avcodec_receive_frame(dec.get(), frame.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return true;
      if (rc < 0) {
        *err = "decoding: " + AvErrorString(rc);
        return false;
      }
      frame->pts = frame->best_effort_timestamp;
      if (frame->pts == AV_NOPTS_VALUE) continue;
      if (!g.Push("in", frame.get(), err) || !drain()) return false;
    }
  };
  PacketPtr pkt = MakePacket();
  while (av_read_frame(ic, pkt.get()) >= 0) {
    if (pkt->stream_index == vindex) avcodec_send_packet(dec.get(), pkt.get());
    av_packet_unref(pkt.get());
    if (!receive()) return false;
  }
  avcodec_send_packet(dec.get(), nullptr);
  if (!receive()) return false;
  if (!g.Close("in", static_cast<int64_t>(last_end / tb), err) || !drain()) return false;
  b.End(last_end);
  fz.End(last_end);
  *black = b.longest;
  *frozen = fz.longest;
  return true;
}

}  // namespace

Json ProbeResult::ToJson() const {
  Json s = Json::array();
  for (const StreamInfo& st : streams) {
    Json j = {{"type", st.type}, {"codec", st.codec}};
    if (st.type == "video") {
      j["width"] = st.width;
      j["height"] = st.height;
      j["fps"] = st.fps;
    } else if (st.type == "audio") {
      j["sampleRate"] = st.sample_rate;
      j["channels"] = st.channels;
    }
    j["duration"] = st.duration;
    s.push_back(std::move(j));
  }
  Json j = {{"container", container},
            {"streams", std::move(s)},
            {"videoCodec", video_codec},
            {"audioCodec", audio_codec},
            {"width", width},
            {"height", height},
            {"fps", fps},
            {"duration", duration},
            {"size", size},
            {"hasAudio", has_audio},
            {"hasVideo", has_video}};
  j["blackSeconds"] = black_seconds ? Json(*black_seconds) : Json(nullptr);
  j["frozenSeconds"] = frozen_seconds ? Json(*frozen_seconds) : Json(nullptr);
  j["qualityScore"] = quality_score;
  j["failedChecks"] = failed_checks;
  return j;
}

bool ProbeMedia(const std::string& path, const ProbeChecks& checks, ProbeResult* result, std::string* err) {
  try {
    ProbeResult r;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      *err = path + ": no such file";
      return false;
    }
    r.size = static_cast<int64_t>(std::filesystem::file_size(path, ec));
    InputFormatPtr ic;
    if (!OpenInput(path, &ic, err)) return false;
    r.container = ic->iformat->name;
    if (ic->duration > 0) r.duration = ic->duration / static_cast<double>(AV_TIME_BASE);
    int vindex = -1;
    for (unsigned i = 0; i < ic->nb_streams; ++i) {
      const AVStream* st = ic->streams[i];
      const AVCodecParameters* p = st->codecpar;
      if (st->disposition & AV_DISPOSITION_ATTACHED_PIC) continue;
      StreamInfo si;
      si.type = TypeName(p->codec_type);
      si.codec = avcodec_get_name(p->codec_id);
      if (st->duration > 0 && st->duration != AV_NOPTS_VALUE) si.duration = st->duration * av_q2d(st->time_base);
      if (p->codec_type == AVMEDIA_TYPE_VIDEO) {
        si.width = p->width;
        si.height = p->height;
        AVRational fr = av_guess_frame_rate(ic.get(), const_cast<AVStream*>(st), nullptr);
        si.fps = fr.num > 0 && fr.den > 0 ? std::round(av_q2d(fr) * 1000) / 1000 : 0;
        if (!r.has_video) {
          r.has_video = true;
          vindex = static_cast<int>(i);
          r.video_codec = si.codec;
          r.width = si.width;
          r.height = si.height;
          r.fps = si.fps;
        }
      } else if (p->codec_type == AVMEDIA_TYPE_AUDIO) {
        si.sample_rate = p->sample_rate;
        si.channels = p->ch_layout.nb_channels;
        if (!r.has_audio) {
          r.has_audio = true;
          r.audio_codec = si.codec;
        }
      }
      if (r.duration <= 0) r.duration = std::max(r.duration, si.duration);
      r.streams.push_back(std::move(si));
    }

    auto check = [&](bool ok, const std::string& why) {
      ++r.checks_run;
      if (!ok) r.failed_checks.push_back(why);
    };
    if (checks.min_bytes)
      check(r.size >= *checks.min_bytes,
            "size " + std::to_string(r.size) + " bytes is below minBytes " + std::to_string(*checks.min_bytes));
    if (checks.min_duration)
      check(r.duration >= *checks.min_duration,
            "duration " + Num(r.duration) + " s is below minDuration " + Num(*checks.min_duration) + " s");
    if (checks.max_duration)
      check(r.duration <= *checks.max_duration,
            "duration " + Num(r.duration) + " s is above maxDuration " + Num(*checks.max_duration) + " s");
    if (checks.has_audio)
      check(r.has_audio == *checks.has_audio,
            *checks.has_audio ? "hasAudio: the file has no audio stream" : "hasAudio: the file has an audio stream");
    if (checks.has_video)
      check(r.has_video == *checks.has_video,
            *checks.has_video ? "hasVideo: the file has no video stream" : "hasVideo: the file has a video stream");
    if ((checks.max_black || checks.max_frozen) && vindex >= 0) {
      double black = 0, frozen = 0;
      std::string derr;
      if (!DetectStretches(ic.get(), vindex, &black, &frozen, &derr)) {
        *err = path + ": " + derr;
        return false;
      }
      r.black_seconds = black;
      r.frozen_seconds = frozen;
      if (checks.max_black)
        check(black <= *checks.max_black,
              "maxBlack: a black stretch of " + Num(black) + " s is longer than " + Num(*checks.max_black) + " s");
      if (checks.max_frozen)
        check(frozen <= *checks.max_frozen,
              "maxFrozen: a frozen stretch of " + Num(frozen) + " s is longer than " + Num(*checks.max_frozen) + " s");
    } else if (checks.max_black || checks.max_frozen) {
      check(false, "maxBlack/maxFrozen: the file has no video stream");
    }

    // qualityScore: the share of checks passed, then up to half off for each of the
    // longest black and frozen stretches as a share of the duration. 0 when nothing plays.
    double score = r.checks_run > 0 ? static_cast<double>(r.checks_run - r.failed_checks.size()) / r.checks_run : 1.0;
    if (r.duration > 0) {
      if (r.black_seconds) score *= 1 - 0.5 * std::min(1.0, *r.black_seconds / r.duration);
      if (r.frozen_seconds) score *= 1 - 0.5 * std::min(1.0, *r.frozen_seconds / r.duration);
    }
    if (!r.has_video && !r.has_audio) score = 0;
    r.quality_score = std::clamp(score, 0.0, 1.0);
    *result = std::move(r);
    return true;
  } catch (const std::exception& e) {
    *err = std::string("internal error: ") + e.what();
  } catch (...) {
    *err = "internal error";
  }
  return false;
}

}  // namespace comfyrun::media
