// Implementation details: see stitch.h for the three paths. Frames are numbered, not timed:
// after normalisation clip i is exactly K_i pictures at the output rate and S_i audio
// samples at 48 kHz, so transitions, offsets and the output length are integer arithmetic.
#include "comfyrun/media/stitch.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>

#include "comfyrun/media/av.h"
#include "comfyrun/media/filter_graph.h"
#include "comfyrun/media/writer.h"
#include "stitch_clips.h"

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
}

namespace comfyrun::media {
namespace {

constexpr int kSampleRate = 48000;
constexpr int kChannels = 2;

// ---------------------------------------------------------------------------------------
// Re-encode

/// Planar stereo float samples of one clip, already at 48 kHz.
struct Samples {
  std::vector<float> ch[kChannels];
  int64_t size() const { return static_cast<int64_t>(ch[0].size()); }
  void Resize(int64_t n) {
    for (auto& c : ch) c.resize(n, 0.f);
  }
};

/// An fltp stereo frame holding samples [from, from + n) of `s`.
FramePtr AudioFrame(const Samples& s, int64_t from, int64_t n) {
  FramePtr f = MakeFrame();
  f->nb_samples = static_cast<int>(n);
  f->format = AV_SAMPLE_FMT_FLTP;
  f->sample_rate = kSampleRate;
  av_channel_layout_default(&f->ch_layout, kChannels);
  if (av_frame_get_buffer(f.get(), 0) < 0) return nullptr;
  for (int c = 0; c < kChannels; ++c) memcpy(f->extended_data[c], s.ch[c].data() + from, n * sizeof(float));
  return f;
}

class Stitcher {
 public:
  Stitcher(const StitchRequest& req, std::vector<Clip>& clips) : req_(req), clips_(clips) {}

  bool Run(StitchResult* result, std::string* err);

 private:
  bool DecodeClip(size_t i, std::string* err);
  bool OnPicture(size_t i, FramePtr frame, std::string* err);
  bool RunVideoTransition(std::string* err);
  bool FinishClipAudio(size_t i, Samples&& samples, std::string* err);
  bool WriteSamples(const Samples& s, int64_t from, int64_t to, std::string* err);

  const StitchRequest& req_;
  std::vector<Clip>& clips_;
  bool transitions_ = false;
  bool any_audio_ = false;
  int width_ = 0, height_ = 0;
  AVRational fps_{30, 1};
  int64_t d_frames_ = 0;          ///< D: frames per transition (0 for hard cuts)
  int64_t d_samples_ = 0;         ///< the same length in audio samples
  std::vector<int64_t> frames_;   ///< K_i
  std::vector<int64_t> samples_;  ///< S_i
  MediaWriter writer_;
  int64_t picture_index_ = 0;          ///< pictures of the current clip so far
  std::vector<FramePtr> tail_, head_;  ///< transition windows (previous clip's end, this one's start)
  Samples audio_tail_;                 ///< last d_samples_ of the previous clip
};

bool Stitcher::Run(StitchResult* result, std::string* err) {
  const Clip& c0 = clips_[0];
  transitions_ = req_.transition != "none" && clips_.size() > 1;
  for (const Clip& c : clips_) any_audio_ |= c.audio != nullptr;

  // Output geometry: the first clip's display size, even, and its frame rate.
  const AVCodecParameters* p0 = c0.video->codecpar;
  AVRational sar = c0.video->codecpar->sample_aspect_ratio;
  double dar_w = p0->width * (sar.num > 0 && sar.den > 0 ? av_q2d(sar) : 1.0);
  width_ = std::max(2, static_cast<int>(std::lround(dar_w / 2)) * 2);
  height_ = std::max(2, p0->height / 2 * 2);
  fps_ = c0.fps;
  if (fps_.num <= 0 || fps_.den <= 0 || av_q2d(fps_) > 240 || av_q2d(fps_) < 1) fps_ = {30, 1};
  const double rate = av_q2d(fps_);

  for (const Clip& c : clips_) frames_.push_back(std::max<int64_t>(1, std::llround(c.duration * rate)));
  if (transitions_) {
    d_frames_ = std::llround(req_.transition_seconds * rate);
    if (req_.transition_seconds <= 0 || d_frames_ < 1) {
      *err = "transition duration " + Seconds(req_.transition_seconds) + " is shorter than one frame";
      return false;
    }
    for (size_t i = 0; i < clips_.size(); ++i) {
      const bool middle = i > 0 && i + 1 < clips_.size();
      const int64_t need = middle ? 2 * d_frames_ : d_frames_;
      if (frames_[i] <= need) {
        *err = middle ? "clip " + clips_[i].path + " (" + Seconds(clips_[i].duration) +
                            ") is shorter than its two transitions (2 x " + Seconds(req_.transition_seconds) + ")"
                      : "transition of " + Seconds(req_.transition_seconds) + " is longer than clip " + clips_[i].path +
                            " (" + Seconds(clips_[i].duration) + ")";
        return false;
      }
    }
    if (!avfilter_get_by_name("xfade") || !avfilter_get_by_name("acrossfade")) {
      *err = "this libavfilter has no xfade/acrossfade filter";
      return false;
    }
  }
  for (int64_t k : frames_) samples_.push_back(av_rescale(k, static_cast<int64_t>(kSampleRate) * fps_.den, fps_.num));
  d_samples_ = av_rescale(d_frames_, static_cast<int64_t>(kSampleRate) * fps_.den, fps_.num);

  VideoEncodeSettings vs;
  vs.width = width_;
  vs.height = height_;
  vs.fps = fps_;
  AudioEncodeSettings as;
  if (!writer_.Open(req_.output_path, vs, any_audio_ ? &as : nullptr, err)) return false;

  for (size_t i = 0; i < clips_.size(); ++i) {
    if (!DecodeClip(i, err)) return false;
  }
  if (!writer_.Finish(err)) return false;
  result->frames = writer_.video_frames();
  result->duration = writer_.video_frames() / rate;
  result->stream_copied = false;
  return true;
}

/// The normalisation chain for one clip: square pixels, fit + pad, rate, yuv420p.
std::string NormaliseChain(const AVStream* st, int width, int height, AVRational fps) {
  const AVCodecParameters* p = st->codecpar;
  AVRational sar = p->sample_aspect_ratio;
  double dar = p->width * (sar.num > 0 && sar.den > 0 ? av_q2d(sar) : 1.0) / p->height;
  int sw = width, sh = height;
  if (dar > static_cast<double>(width) / height) {
    sh = std::max(2, static_cast<int>(std::lround(width / dar / 2)) * 2);
  } else {
    sw = std::max(2, static_cast<int>(std::lround(height * dar / 2)) * 2);
  }
  std::string chain = "setpts=PTS-STARTPTS,fps=" + std::to_string(fps.num) + "/" + std::to_string(fps.den);
  if (sw != p->width || sh != p->height) chain += ",scale=" + std::to_string(sw) + ":" + std::to_string(sh);
  chain += ",setsar=1";
  if (sw != width || sh != height)
    chain += ",pad=" + std::to_string(width) + ":" + std::to_string(height) + ":(ow-iw)/2:(oh-ih)/2";
  chain += ",format=yuv420p";
  return chain;
}

bool Stitcher::DecodeClip(size_t i, std::string* err) {
  Clip& c = clips_[i];
  CodecContextPtr vdec, adec;
  if (!OpenDecoder(c.video, &vdec, err)) {
    *err = c.path + ": " + *err;
    return false;
  }
  if (c.audio && any_audio_ && !OpenDecoder(c.audio, &adec, err)) {
    *err = c.path + ": " + *err;
    return false;
  }

  FilterGraph graph;
  if (!graph.AddVideoSource("in", vdec->width, vdec->height, vdec->pix_fmt, c.video->time_base, c.fps,
                            vdec->sample_aspect_ratio, err) ||
      !graph.AddSink("out", AVMEDIA_TYPE_VIDEO, err) ||
      !graph.Configure("[in]" + NormaliseChain(c.video, width_, height_, fps_) + "[out]", err)) {
    *err = c.path + ": " + *err;
    return false;
  }

  SwrPtr swr;
  if (adec) {
    AVChannelLayout in_layout{}, out_layout{};
    if (adec->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
      av_channel_layout_default(&in_layout, adec->ch_layout.nb_channels);
    else
      av_channel_layout_copy(&in_layout, &adec->ch_layout);
    av_channel_layout_default(&out_layout, kChannels);
    SwrContext* s = nullptr;
    int rc = swr_alloc_set_opts2(&s, &out_layout, AV_SAMPLE_FMT_FLTP, kSampleRate, &in_layout, adec->sample_fmt,
                                 adec->sample_rate, 0, nullptr);
    av_channel_layout_uninit(&in_layout);
    av_channel_layout_uninit(&out_layout);
    swr.reset(s);
    if (rc < 0 || (rc = swr_init(s)) < 0) {
      *err = c.path + ": audio resampler: " + AvErrorString(rc);
      return false;
    }
  }

  picture_index_ = 0;
  Samples audio;
  const int64_t want_samples = any_audio_ ? samples_[i] : 0;
  std::vector<float> conv[kChannels];
  auto take_audio = [&](const AVFrame* f) -> bool {
    int out_n = swr_get_out_samples(swr.get(), f ? f->nb_samples : 0);
    if (out_n <= 0) return true;
    for (auto& v : conv) v.resize(out_n);
    uint8_t* outp[kChannels] = {reinterpret_cast<uint8_t*>(conv[0].data()), reinterpret_cast<uint8_t*>(conv[1].data())};
    int n = swr_convert(swr.get(), outp, out_n, f ? const_cast<const uint8_t**>(f->extended_data) : nullptr,
                        f ? f->nb_samples : 0);
    if (n < 0) {
      *err = c.path + ": resampling: " + AvErrorString(n);
      return false;
    }
    int64_t room = std::max<int64_t>(0, want_samples - audio.size());
    int64_t keep = std::min<int64_t>(room, n);
    for (int ch = 0; ch < kChannels; ++ch)
      audio.ch[ch].insert(audio.ch[ch].end(), conv[ch].begin(), conv[ch].begin() + keep);
    return true;
  };

  FramePtr frame = MakeFrame();
  FramePtr filtered = MakeFrame();
  FramePtr last;                      // the last normalised picture, repeated when the clip runs short
  int64_t last_end = AV_NOPTS_VALUE;  // in the stream time base
  auto drain_graph = [&]() -> int {   // 1 = EOF reached, 0 = again, -1 = error
    for (;;) {
      switch (graph.Pull("out", filtered.get(), err)) {
        case FilterGraph::PullStatus::kFrame: {
          if (picture_index_ >= frames_[i]) continue;  // beyond K_i: cut
          last.reset(av_frame_clone(filtered.get()));
          if (!last || !OnPicture(i, FramePtr(av_frame_clone(filtered.get())), err)) return -1;
          break;
        }
        case FilterGraph::PullStatus::kAgain:
          return 0;
        case FilterGraph::PullStatus::kEof:
          return 1;
        case FilterGraph::PullStatus::kError:
          *err = c.path + ": " + *err;
          return -1;
      }
    }
  };
  auto receive_video = [&]() -> bool {
    for (;;) {
      int rc = avcodec_receive_frame(vdec.get(), frame.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return true;
      if (rc < 0) {
        *err = c.path + ": decoding video: " + AvErrorString(rc);
        return false;
      }
      frame->pts = frame->best_effort_timestamp;
      if (frame->pts == AV_NOPTS_VALUE) continue;
      int64_t dur = frame->pkt_duration > 0
                        ? frame->pkt_duration
                        : av_rescale_q(1, av_inv_q(c.fps.num > 0 ? c.fps : fps_), c.video->time_base);
      last_end = std::max(last_end == AV_NOPTS_VALUE ? 0 : last_end, frame->pts + dur);
      if (!graph.Push("in", frame.get(), err)) {
        *err = c.path + ": " + *err;
        return false;
      }
      if (drain_graph() < 0) return false;
      if (Cancelled(req_)) {
        *err = "cancelled";
        return false;
      }
    }
  };
  auto receive_audio = [&]() -> bool {
    for (;;) {
      int rc = avcodec_receive_frame(adec.get(), frame.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return true;
      if (rc < 0) {
        *err = c.path + ": decoding audio: " + AvErrorString(rc);
        return false;
      }
      bool ok = take_audio(frame.get());
      av_frame_unref(frame.get());
      if (!ok) return false;
    }
  };

  PacketPtr pkt = MakePacket();
  for (;;) {
    int rc = av_read_frame(c.ic.get(), pkt.get());
    if (rc == AVERROR_EOF) break;
    if (rc < 0) {
      *err = c.path + ": " + AvErrorString(rc);
      return false;
    }
    if (pkt->stream_index == c.video->index) {
      rc = avcodec_send_packet(vdec.get(), pkt.get());
      av_packet_unref(pkt.get());
      // A damaged packet is skipped (the decoder conceals it), as the ffmpeg CLI does.
      if (rc < 0 && rc != AVERROR(EAGAIN) && rc != AVERROR_INVALIDDATA) {
        *err = c.path + ": decoding video: " + AvErrorString(rc);
        return false;
      }
      if (!receive_video()) return false;
    } else if (adec && pkt->stream_index == c.audio->index) {
      rc = avcodec_send_packet(adec.get(), pkt.get());
      av_packet_unref(pkt.get());
      if (rc < 0 && rc != AVERROR(EAGAIN) && rc != AVERROR_INVALIDDATA) {
        *err = c.path + ": decoding audio: " + AvErrorString(rc);
        return false;
      }
      if (!receive_audio()) return false;
    } else {
      av_packet_unref(pkt.get());
    }
  }
  avcodec_send_packet(vdec.get(), nullptr);
  if (!receive_video()) return false;
  if (adec) {
    avcodec_send_packet(adec.get(), nullptr);
    if (!receive_audio() || !take_audio(nullptr)) return false;
  }
  // An explicit end pts keeps `fps` from dropping the last picture (MEDIA.md P5).
  if (!graph.Close("in", last_end == AV_NOPTS_VALUE ? 0 : last_end, err)) return false;
  if (drain_graph() < 0) return false;
  if (!last) {
    *err = c.path + ": no decodable video frames";
    return false;
  }
  if (!CheckComplete(c, last_end * av_q2d(c.video->time_base), err)) return false;
  while (picture_index_ < frames_[i]) {  // clip ran short: hold the last picture
    if (!OnPicture(i, FramePtr(av_frame_clone(last.get())), err)) return false;
  }
  if (any_audio_) {
    audio.Resize(samples_[i]);  // pad with silence (or a silent track for a clip without audio)
    if (!FinishClipAudio(i, std::move(audio), err)) return false;
  }
  return true;
}

bool Stitcher::OnPicture(size_t i, FramePtr frame, std::string* err) {
  if (!frame) {
    *err = "out of memory";
    return false;
  }
  const int64_t j = picture_index_++;
  if (transitions_ && i > 0 && j < d_frames_) {
    head_.push_back(std::move(frame));
    if (static_cast<int64_t>(head_.size()) == d_frames_) return RunVideoTransition(err);
    return true;
  }
  if (transitions_ && i + 1 < clips_.size() && j >= frames_[i] - d_frames_) {
    tail_.push_back(std::move(frame));
    return true;
  }
  return writer_.WriteVideo(frame.get(), err);
}

bool Stitcher::RunVideoTransition(std::string* err) {
  // One small graph per join: D pictures of each side, offset 0. Both inputs are queued in
  // full and closed before anything is pulled, so 5.1's xfade never sees input 0's EOF
  // while input 1 still owes frames (MEDIA.md P3).
  FilterGraph g;
  const AVRational tb = av_inv_q(fps_);
  char dur[32];
  snprintf(dur, sizeof(dur), "%.6f", d_frames_ / av_q2d(fps_));
  if (!g.AddVideoSource("a", width_, height_, AV_PIX_FMT_YUV420P, tb, fps_, {1, 1}, err) ||
      !g.AddVideoSource("b", width_, height_, AV_PIX_FMT_YUV420P, tb, fps_, {1, 1}, err) ||
      !g.AddSink("out", AVMEDIA_TYPE_VIDEO, err) ||
      !g.Configure("[a][b]xfade=transition=" + req_.transition + ":duration=" + dur + ":offset=0,format=yuv420p[out]",
                   err))
    return false;
  for (int side = 0; side < 2; ++side) {
    auto& frames = side == 0 ? tail_ : head_;
    const char* name = side == 0 ? "a" : "b";
    for (size_t k = 0; k < frames.size(); ++k) {
      frames[k]->pts = static_cast<int64_t>(k);
      frames[k]->pict_type = AV_PICTURE_TYPE_NONE;
      if (!g.Push(name, frames[k].get(), err)) return false;
    }
  }
  if (!g.Close("b", d_frames_, err) || !g.Close("a", d_frames_, err)) return false;
  FramePtr out = MakeFrame();
  int64_t produced = 0;
  FramePtr last;
  for (;;) {
    auto st = g.Pull("out", out.get(), err);
    if (st == FilterGraph::PullStatus::kError) return false;
    if (st != FilterGraph::PullStatus::kFrame) break;
    if (produced >= d_frames_) continue;
    ++produced;
    if (!writer_.WriteVideo(out.get(), err)) return false;
    last.reset(av_frame_clone(out.get()));
  }
  if (produced == 0) {
    *err = "xfade produced no frames";
    return false;
  }
  for (; produced < d_frames_; ++produced)  // never seen; keeps the length exact regardless
    if (!writer_.WriteVideo(last.get(), err)) return false;
  tail_.clear();
  head_.clear();
  return true;
}

bool Stitcher::WriteSamples(const Samples& s, int64_t from, int64_t to, std::string* err) {
  constexpr int64_t kChunk = 4096;
  for (int64_t p = from; p < to; p += kChunk) {
    FramePtr f = AudioFrame(s, p, std::min(kChunk, to - p));
    if (!f) {
      *err = "out of memory";
      return false;
    }
    if (!writer_.WriteAudio(f.get(), err)) return false;
  }
  return true;
}

bool Stitcher::FinishClipAudio(size_t i, Samples&& s, std::string* err) {
  const bool has_head = transitions_ && i > 0;
  const bool has_tail = transitions_ && i + 1 < clips_.size();
  const int64_t n = s.size();
  int64_t body_from = 0;
  if (has_head) {
    FilterGraph g;
    AVChannelLayout stereo{};
    av_channel_layout_default(&stereo, kChannels);
    bool ok = g.AddAudioSource("a", kSampleRate, AV_SAMPLE_FMT_FLTP, stereo, err) &&
              g.AddAudioSource("b", kSampleRate, AV_SAMPLE_FMT_FLTP, stereo, err) &&
              g.AddSink("out", AVMEDIA_TYPE_AUDIO, err) &&
              g.Configure("[a][b]acrossfade=ns=" + std::to_string(d_samples_) +
                              ",aformat=sample_fmts=fltp:channel_layouts=stereo[out]",
                          err);
    av_channel_layout_uninit(&stereo);
    if (!ok) return false;
    FramePtr a = AudioFrame(audio_tail_, 0, d_samples_);
    FramePtr b = AudioFrame(s, 0, d_samples_);
    if (!a || !b) {
      *err = "out of memory";
      return false;
    }
    a->pts = 0;
    b->pts = 0;
    if (!g.Push("a", a.get(), err) || !g.Close("a", d_samples_, err) || !g.Push("b", b.get(), err) ||
        !g.Close("b", d_samples_, err))
      return false;
    FramePtr out = MakeFrame();
    int64_t produced = 0;
    for (;;) {
      auto st = g.Pull("out", out.get(), err);
      if (st == FilterGraph::PullStatus::kError) return false;
      if (st != FilterGraph::PullStatus::kFrame) break;
      int64_t take = std::min<int64_t>(out->nb_samples, d_samples_ - produced);
      if (take <= 0) continue;
      out->nb_samples = static_cast<int>(take);
      if (!writer_.WriteAudio(out.get(), err)) return false;
      produced += take;
    }
    if (produced < d_samples_) {  // keep A/V lengths equal whatever the filter did
      Samples silence;
      silence.Resize(d_samples_ - produced);
      if (!WriteSamples(silence, 0, silence.size(), err)) return false;
    }
    body_from = d_samples_;
  }
  const int64_t body_to = has_tail ? n - d_samples_ : n;
  if (!WriteSamples(s, body_from, body_to, err)) return false;
  if (has_tail) {
    audio_tail_.Resize(0);
    for (int c = 0; c < kChannels; ++c) audio_tail_.ch[c].assign(s.ch[c].begin() + body_to, s.ch[c].end());
  }
  return true;
}

bool StitchImpl(const StitchRequest& req, StitchResult* result, std::string* err) {
  if (req.inputs.empty()) {
    *err = "no input clips";
    return false;
  }
  if (req.output_path.empty()) {
    *err = "no output path";
    return false;
  }
  if (req.transition.empty() || req.transition.find_first_of(":,;[]='\\ ") != std::string::npos) {
    *err = "invalid transition name '" + req.transition + "'";
    return false;
  }
  std::vector<Clip> clips(req.inputs.size());
  for (size_t i = 0; i < req.inputs.size(); ++i) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(req.inputs[i], ec)) {
      *err = req.inputs[i] + ": no such file";
      return false;
    }
    if (!OpenClip(req.inputs[i], &clips[i], err)) return false;
  }
  // A single clip has nothing to transition to: copy it when it can be.
  const bool cuts = req.transition == "none" || clips.size() == 1;
  if (cuts && !req.force_reencode && CanStreamCopy(clips)) return StreamCopy(req, clips, result, err);
  Stitcher stitcher(req, clips);
  return stitcher.Run(result, err);
}

}  // namespace

bool StitchVideos(const StitchRequest& request, StitchResult* result, std::string* err) {
  QuietLibavLogs();
  StitchResult local;
  std::string e;
  bool ok = false;
  try {
    ok = StitchImpl(request, &local, &e);
  } catch (const std::exception& ex) {
    e = std::string("internal error: ") + ex.what();
  } catch (...) {
    e = "internal error";
  }
  if (!ok) {
    if (!request.output_path.empty()) {
      std::error_code ec;
      std::filesystem::remove(request.output_path, ec);
    }
    if (err) *err = e;
    return false;
  }
  if (result) *result = local;
  return true;
}

}  // namespace comfyrun::media
