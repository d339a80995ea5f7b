#include "comfyrun/media/writer.h"

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
}

namespace comfyrun::media {

bool MediaWriter::Open(const std::string& path, const VideoEncodeSettings& video, const AudioEncodeSettings* audio,
                       std::string* err) {
  QuietLibavLogs();
  path_ = path;
  AVFormatContext* raw = nullptr;
  int rc = avformat_alloc_output_context2(&raw, nullptr, "mp4", path.c_str());
  if (rc < 0 || !raw) {
    *err = path + ": " + AvErrorString(rc);
    return false;
  }
  oc_.reset(raw);
  pkt_ = MakePacket();

  const AVCodec* vcodec = FindH264Encoder();
  if (!vcodec) {
    *err = "no H.264 encoder in this libavcodec";
    return false;
  }
  venc_.reset(avcodec_alloc_context3(vcodec));
  venc_->width = video.width;
  venc_->height = video.height;
  venc_->pix_fmt = AV_PIX_FMT_YUV420P;
  venc_->sample_aspect_ratio = AVRational{1, 1};
  venc_->framerate = video.fps;
  venc_->time_base = av_inv_q(video.fps);
  if (oc_->oformat->flags & AVFMT_GLOBALHEADER) venc_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  {
    Dict opts;
    opts.Set("threads", "auto");
    if (std::string(vcodec->name) == "libx264") {
      opts.Set("preset", video.preset);
      opts.Set("crf", std::to_string(video.crf));
    }
    rc = avcodec_open2(venc_.get(), vcodec, &opts.get());
    if (rc < 0) {
      *err = std::string("opening ") + vcodec->name + " encoder: " + AvErrorString(rc);
      return false;
    }
  }
  vst_ = avformat_new_stream(oc_.get(), nullptr);
  avcodec_parameters_from_context(vst_->codecpar, venc_.get());
  vst_->time_base = venc_->time_base;
  vst_->avg_frame_rate = video.fps;

  if (audio) {
    const AVCodec* acodec = avcodec_find_encoder(AV_CODEC_ID_AAC);
    if (!acodec) {
      *err = "no AAC encoder in this libavcodec";
      return false;
    }
    aenc_.reset(avcodec_alloc_context3(acodec));
    aenc_->sample_rate = audio->sample_rate;
    aenc_->sample_fmt = AV_SAMPLE_FMT_FLTP;
    av_channel_layout_default(&aenc_->ch_layout, audio->channels);
    aenc_->bit_rate = audio->bit_rate;
    aenc_->time_base = AVRational{1, audio->sample_rate};
    if (oc_->oformat->flags & AVFMT_GLOBALHEADER) aenc_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    rc = avcodec_open2(aenc_.get(), acodec, nullptr);
    if (rc < 0) {
      *err = "opening aac encoder: " + AvErrorString(rc);
      return false;
    }
    ast_ = avformat_new_stream(oc_.get(), nullptr);
    avcodec_parameters_from_context(ast_->codecpar, aenc_.get());
    ast_->time_base = aenc_->time_base;
    fifo_.reset(av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, audio->channels, 4096));
    aframe_ = MakeFrame();
  }

  rc = avio_open(&oc_->pb, path.c_str(), AVIO_FLAG_WRITE);
  if (rc < 0) {
    *err = path + ": " + AvErrorString(rc);
    return false;
  }
  // Hold packets until every stream has one: the stitcher encodes a clip's audio after
  // its video, and the default 10 s interleave window would give up on long clips.
  oc_->max_interleave_delta = 0;
  Dict mux;
  mux.Set("movflags", "+faststart");
  rc = avformat_write_header(oc_.get(), &mux.get());
  if (rc < 0) {
    *err = path + ": writing header: " + AvErrorString(rc);
    return false;
  }
  return true;
}

bool MediaWriter::Drain(AVCodecContext* enc, AVStream* st, std::string* err) {
  for (;;) {
    int rc = avcodec_receive_packet(enc, pkt_.get());
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return true;
    if (rc < 0) {
      *err = "encoding: " + AvErrorString(rc);
      return false;
    }
    // libx264 in 5.1 returns duration 0; without it the last frame's length is lost (P10).
    if (pkt_->duration == 0 && enc == venc_.get()) pkt_->duration = 1;
    av_packet_rescale_ts(pkt_.get(), enc->time_base, st->time_base);
    pkt_->stream_index = st->index;
    rc = av_interleaved_write_frame(oc_.get(), pkt_.get());
    if (rc < 0) {
      *err = path_ + ": writing: " + AvErrorString(rc);
      return false;
    }
  }
}

bool MediaWriter::EncodeVideo(AVFrame* frame, std::string* err) {
  int rc = avcodec_send_frame(venc_.get(), frame);
  if (rc < 0) {
    *err = "encoding video: " + AvErrorString(rc);
    return false;
  }
  return Drain(venc_.get(), vst_, err);
}

bool MediaWriter::WriteVideo(AVFrame* frame, std::string* err) {
  if (frame->width != venc_->width || frame->height != venc_->height || frame->format != AV_PIX_FMT_YUV420P) {
    *err = "internal: picture does not match the encoder";
    return false;
  }
  frame->pts = video_pts_++;
  frame->pict_type = AV_PICTURE_TYPE_NONE;  // decoded frame types must not force x264's (P9)
  frame->sample_aspect_ratio = AVRational{1, 1};
  return EncodeVideo(frame, err);
}

bool MediaWriter::EncodeAudio(AVFrame* frame, std::string* err) {
  int rc = avcodec_send_frame(aenc_.get(), frame);
  if (rc < 0) {
    *err = "encoding audio: " + AvErrorString(rc);
    return false;
  }
  return Drain(aenc_.get(), ast_, err);
}

bool MediaWriter::EncodeAudioFromFifo(bool flush, std::string* err) {
  const int fs = aenc_->frame_size > 0 ? aenc_->frame_size : 1024;
  while (av_audio_fifo_size(fifo_.get()) >= fs || (flush && av_audio_fifo_size(fifo_.get()) > 0)) {
    int n = std::min(fs, av_audio_fifo_size(fifo_.get()));
    av_frame_unref(aframe_.get());
    aframe_->nb_samples = n;
    aframe_->format = AV_SAMPLE_FMT_FLTP;
    aframe_->sample_rate = aenc_->sample_rate;
    av_channel_layout_copy(&aframe_->ch_layout, &aenc_->ch_layout);
    int rc = av_frame_get_buffer(aframe_.get(), 0);
    if (rc < 0) {
      *err = "audio buffer: " + AvErrorString(rc);
      return false;
    }
    av_audio_fifo_read(fifo_.get(), reinterpret_cast<void**>(aframe_->data), n);
    aframe_->pts = audio_pts_;
    audio_pts_ += n;
    if (!EncodeAudio(aframe_.get(), err)) return false;
  }
  return true;
}

bool MediaWriter::WriteAudio(const AVFrame* frame, std::string* err) {
  if (!aenc_) return true;
  if (frame->format != AV_SAMPLE_FMT_FLTP || frame->ch_layout.nb_channels != aenc_->ch_layout.nb_channels) {
    *err = "internal: samples do not match the encoder";
    return false;
  }
  if (av_audio_fifo_write(fifo_.get(), reinterpret_cast<void**>(const_cast<uint8_t**>(frame->extended_data)),
                          frame->nb_samples) < frame->nb_samples) {
    *err = "audio fifo: out of memory";
    return false;
  }
  return EncodeAudioFromFifo(false, err);
}

bool MediaWriter::Finish(std::string* err) {
  if (finished_) return true;
  finished_ = true;
  if (!EncodeVideo(nullptr, err)) return false;
  if (aenc_) {
    if (!EncodeAudioFromFifo(true, err)) return false;
    if (!EncodeAudio(nullptr, err)) return false;
  }
  int rc = av_write_trailer(oc_.get());
  if (rc < 0) {
    *err = path_ + ": writing trailer: " + AvErrorString(rc);
    return false;
  }
  rc = avio_closep(&oc_->pb);
  if (rc < 0) {
    *err = path_ + ": closing: " + AvErrorString(rc);
    return false;
  }
  return true;
}

}  // namespace comfyrun::media
