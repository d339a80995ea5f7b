#include "comfyrun/media/av.h"

#include <mutex>

extern "C" {
#include <libavutil/error.h>
#include <libavutil/log.h>
}

namespace comfyrun::media {

std::string AvErrorString(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(err, buf, sizeof(buf));
  return buf;
}

void OutputFormatDeleter::operator()(AVFormatContext* c) const {
  if (!c) return;
  if (c->pb && c->oformat && !(c->oformat->flags & AVFMT_NOFILE)) avio_closep(&c->pb);
  avformat_free_context(c);
}

std::string Dict::UnusedKeys() const {
  std::string out;
  const AVDictionaryEntry* e = nullptr;
  while ((e = av_dict_get(dict_, "", e, AV_DICT_IGNORE_SUFFIX))) {
    if (!out.empty()) out += ",";
    out += e->key;
  }
  return out;
}

FramePtr MakeFrame() { return FramePtr(av_frame_alloc()); }
PacketPtr MakePacket() { return PacketPtr(av_packet_alloc()); }

void QuietLibavLogs() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_level(AV_LOG_FATAL); });
}

bool OpenInput(const std::string& path, InputFormatPtr* out, std::string* err) {
  QuietLibavLogs();
  AVFormatContext* raw = nullptr;
  int rc = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (rc < 0) {  // avformat_open_input frees the context on failure
    *err = path + ": " + AvErrorString(rc);
    return false;
  }
  InputFormatPtr ic(raw);
  rc = avformat_find_stream_info(ic.get(), nullptr);
  if (rc < 0) {
    *err = path + ": " + AvErrorString(rc);
    return false;
  }
  *out = std::move(ic);
  return true;
}

bool OpenDecoder(const AVStream* stream, CodecContextPtr* out, std::string* err) {
  const AVCodec* dec = avcodec_find_decoder(stream->codecpar->codec_id);
  if (!dec) {
    *err = std::string("no decoder for ") + avcodec_get_name(stream->codecpar->codec_id);
    return false;
  }
  CodecContextPtr ctx(avcodec_alloc_context3(dec));
  if (!ctx) {
    *err = "out of memory";
    return false;
  }
  int rc = avcodec_parameters_to_context(ctx.get(), stream->codecpar);
  if (rc < 0) {
    *err = AvErrorString(rc);
    return false;
  }
  ctx->pkt_timebase = stream->time_base;
  Dict opts;
  opts.Set("threads", "auto");
  rc = avcodec_open2(ctx.get(), dec, &opts.get());
  if (rc < 0) {
    *err = std::string("opening ") + dec->name + " decoder: " + AvErrorString(rc);
    return false;
  }
  *out = std::move(ctx);
  return true;
}

const AVCodec* FindH264Encoder() {
  if (const AVCodec* c = avcodec_find_encoder_by_name("libx264")) return c;
  // Hardware encoders (nvenc, vaapi, ...) are listed but rarely open; the caller reports
  // the avcodec_open2 error when this one does not.
  return avcodec_find_encoder(AV_CODEC_ID_H264);
}

std::string FilterEscape(const std::string& value) {
  // Two levels: the option value is quoted for the filter's option parser, and the whole
  // description is parsed by the graph parser, which treats [],;' and \ specially.
  std::string level1;
  for (char c : value) {
    if (c == '\'' || c == '\\' || c == ':') level1 += '\\';
    level1 += c;
  }
  std::string level2;
  for (char c : level1) {
    if (c == '\\' || c == '\'' || c == '[' || c == ']' || c == ',' || c == ';') level2 += '\\';
    level2 += c;
  }
  return level2;
}

}  // namespace comfyrun::media
