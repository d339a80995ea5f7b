// Implementation details: a filter graph of generators (gradients at a quarter of the size,
// scaled up; or the given picture, pushed once per frame) + drawbox + drawtext, and a sine
// tone, pulled frame by frame into MediaWriter (video) or the PNG encoder (image).
#include "comfyrun/media/render.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "comfyrun/media/av.h"
#include "comfyrun/media/filter_graph.h"
#include "comfyrun/media/writer.h"

extern "C" {
#include <libavfilter/buffersink.h>
}

namespace comfyrun::media {
namespace {

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string Hex6(uint64_t v) {
  char buf[16];
  snprintf(buf, sizeof(buf), "0x%06x", static_cast<unsigned>(v & 0xffffff));
  return buf;
}

/// Prompt text safe inside a drawtext option: letters, digits, spaces and . - ! ?; cut into
/// lines of at most `width` characters, at most `max_lines` lines.
std::vector<std::string> TextLines(const std::string& prompt, size_t width, size_t max_lines) {
  std::string clean;
  for (unsigned char c : prompt) {
    bool keep = std::isalnum(c) || c == '.' || c == '-' || c == '!' || c == '?';
    clean += keep ? static_cast<char>(c) : ' ';
  }
  std::vector<std::string> lines;
  std::string line, word;
  auto flush_word = [&] {
    if (word.empty()) return;
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      lines.push_back(line);
      line.clear();
    }
    if (!line.empty()) line += ' ';
    line += word.substr(0, width);
    word.clear();
  };
  for (char c : clean) {
    if (c == ' ')
      flush_word();
    else
      word += c;
  }
  flush_word();
  if (!line.empty()) lines.push_back(line);
  if (lines.size() > max_lines) {
    lines.resize(max_lines);
    lines.back() += "...";
  }
  return lines;
}

/// The picture chain after the background: boxes and the prompt text (moving slightly, so
/// freezedetect does not flag the clip).
std::string Decorations(const std::string& prompt, int width, int height, uint64_t h, bool draw_text, bool moving) {
  std::string chain;
  const int bw = width / 6, bh = height / 6;
  for (int k = 0; k < 3; ++k) {
    uint64_t hk = h >> (k * 13);
    int x = static_cast<int>(hk % static_cast<uint64_t>(width - bw));
    int y = static_cast<int>((hk >> 20) % static_cast<uint64_t>(height - bh));
    chain += ",drawbox=x=" + std::to_string(x) + ":y=" + std::to_string(y) + ":w=" + std::to_string(bw) +
             ":h=" + std::to_string(bh) + ":color=" + Hex6(hk >> 7) + "@0.6:t=fill";
  }
  if (draw_text && avfilter_get_by_name("drawtext")) {
    const int fontsize = std::max(10, height / 18);
    const size_t per_line = std::max<size_t>(8, static_cast<size_t>(width * 1.7 / fontsize));
    auto lines = TextLines(prompt.empty() ? std::string("offline") : prompt, per_line, 4);
    for (size_t i = 0; i < lines.size(); ++i) {
      std::string x = moving ? "(w-tw)/2+sin(t*2)*w/40" : "(w-tw)/2";
      chain += ",drawtext=text='" + lines[i] + "':fontsize=" + std::to_string(fontsize) +
               ":fontcolor=white:borderw=2:bordercolor=black:x=" + x + ":y=h*0.62+" +
               std::to_string(static_cast<int>(i * fontsize * 1.3));
    }
    chain += ",drawtext=text='OFFLINE PLACEHOLDER':fontsize=" + std::to_string(std::max(8, fontsize * 2 / 3)) +
             ":fontcolor=white@0.8:x=10:y=10";
  }
  return chain;
}

std::string Background(int width, int height, AVRational fps, uint64_t h) {
  const int sw = std::max(16, width / 4 / 2 * 2), sh = std::max(16, height / 4 / 2 * 2);
  return "gradients=s=" + std::to_string(sw) + "x" + std::to_string(sh) + ":r=" + std::to_string(fps.num) + "/" +
         std::to_string(fps.den) + ":c0=" + Hex6(h) + ":c1=" + Hex6(h >> 24) + ":c2=" + Hex6(h >> 40 | h << 24) +
         ":nb_colors=3:seed=" + std::to_string(h % 4000000000ull) + ":speed=0.02,scale=" + std::to_string(width) + ":" +
         std::to_string(height) + ":flags=bilinear,setsar=1";
}

bool DecodePicture(const std::string& path, FramePtr* out, std::string* err) {
  InputFormatPtr ic;
  if (!OpenInput(path, &ic, err)) return false;
  int v = av_find_best_stream(ic.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (v < 0) {
    *err = path + ": no picture";
    return false;
  }
  CodecContextPtr dec;
  if (!OpenDecoder(ic->streams[v], &dec, err)) {
    *err = path + ": " + *err;
    return false;
  }
  PacketPtr pkt = MakePacket();
  FramePtr frame = MakeFrame();
  bool flushed = false;
  for (;;) {
    int rc = avcodec_receive_frame(dec.get(), frame.get());
    if (rc >= 0) {
      *out = std::move(frame);
      return true;
    }
    if (rc != AVERROR(EAGAIN) || flushed) break;
    rc = av_read_frame(ic.get(), pkt.get());
    if (rc < 0) {
      avcodec_send_packet(dec.get(), nullptr);
      flushed = true;
      continue;
    }
    if (pkt->stream_index == v) avcodec_send_packet(dec.get(), pkt.get());
    av_packet_unref(pkt.get());
  }
  *err = path + ": cannot decode picture";
  return false;
}

bool BuildVideoGraph(const SyntheticVideoSpec& spec, const AVFrame* picture, bool draw_text, FilterGraph* g,
                     std::string* err) {
  const uint64_t h = Fnv1a(spec.prompt);
  std::string desc;
  if (picture) {
    if (!g->AddVideoSource("img", picture->width, picture->height, static_cast<AVPixelFormat>(picture->format),
                           av_inv_q(spec.fps), spec.fps, picture->sample_aspect_ratio, err))
      return false;
    desc = "[img]scale=" + std::to_string(spec.width) + ":" + std::to_string(spec.height) +
           ":force_original_aspect_ratio=decrease,pad=" + std::to_string(spec.width) + ":" +
           std::to_string(spec.height) + ":(ow-iw)/2:(oh-ih)/2:color=" + Hex6(h) + ",setsar=1";
  } else if (!spec.source_filter.empty()) {
    const char sep = spec.source_filter.find('=') == std::string::npos ? '=' : ':';
    desc = spec.source_filter + sep + "size=" + std::to_string(spec.width) + "x" + std::to_string(spec.height) +
           ":rate=" + std::to_string(spec.fps.num) + "/" + std::to_string(spec.fps.den) + ",setsar=1";
  } else {
    desc = Background(spec.width, spec.height, spec.fps, h);
  }
  if (spec.source_filter.empty() || draw_text)
    desc += Decorations(spec.prompt, spec.width, spec.height, h, draw_text, true);
  desc += ",format=yuv420p[vout]";
  if (spec.audio) {
    const int freq = spec.tone_hz > 0 ? spec.tone_hz : 220 + static_cast<int>((h >> 32) % 440);
    desc += ";sine=f=" + std::to_string(freq) +
            ":r=48000,volume=0.08,aformat=sample_fmts=fltp:channel_layouts=stereo[aout]";
  }
  if (!g->AddSink("vout", AVMEDIA_TYPE_VIDEO, err)) return false;
  if (spec.audio && !g->AddSink("aout", AVMEDIA_TYPE_AUDIO, err)) return false;
  return g->Configure(desc, err);
}

}  // namespace

bool ParseAspectRatio(const std::string& text, int* w, int* h) {
  int a = 0, b = 0;
  char sep = 0;
  if (sscanf(text.c_str(), "%d%c%d", &a, &sep, &b) != 3 || (sep != ':' && sep != 'x' && sep != '/') || a <= 0 ||
      b <= 0 || a > 100 * b || b > 100 * a)
    return false;
  *w = a;
  *h = b;
  return true;
}

bool VideoSize(const std::string& aspect_ratio, const std::string& resolution, int* width, int* height,
               std::string* err) {
  int aw = 16, ah = 9;
  if (!aspect_ratio.empty() && !ParseAspectRatio(aspect_ratio, &aw, &ah)) {
    *err = "unreadable aspect ratio '" + aspect_ratio + "'";
    return false;
  }
  int w = 0, h = 0;
  if (sscanf(resolution.c_str(), "%dx%d", &w, &h) == 2 && w > 0 && h > 0) {
    *width = std::max(2, w / 2 * 2);
    *height = std::max(2, h / 2 * 2);
    return true;
  }
  int short_side = 720;
  if (!resolution.empty()) {
    std::string r = resolution;
    if (r == "4k" || r == "4K") r = "2160p";
    if (sscanf(r.c_str(), "%dp", &short_side) != 1 || short_side < 16 || short_side > 4320) {
      *err = "unreadable resolution '" + resolution + "'";
      return false;
    }
  }
  const int long_side = static_cast<int>(std::lround(short_side * std::max(aw, ah) / double(std::min(aw, ah)) / 2)) * 2;
  short_side = short_side / 2 * 2;
  *width = aw >= ah ? long_side : short_side;
  *height = aw >= ah ? short_side : long_side;
  return true;
}

bool RenderSyntheticVideo(const SyntheticVideoSpec& spec, const std::string& output_mp4, std::string* err) {
  QuietLibavLogs();
  try {
    if (spec.width < 16 || spec.height < 16 || spec.seconds <= 0 || spec.fps.num <= 0) {
      *err = "invalid video size or duration";
      return false;
    }
    FramePtr picture;
    if (!spec.first_frame_image.empty() && !DecodePicture(spec.first_frame_image, &picture, err)) return false;
    FilterGraph g;
    std::string graph_err;
    if (!BuildVideoGraph(spec, picture.get(), spec.draw_text, &g, &graph_err)) {
      // drawtext can fail at init (no fonts); fall back to the picture without text.
      g = FilterGraph();
      if (!BuildVideoGraph(spec, picture.get(), false, &g, err)) return false;
    }
    if (spec.audio) av_buffersink_set_frame_size(g.sink("aout"), 1024);

    MediaWriter writer;
    VideoEncodeSettings vs;
    vs.width = spec.width;
    vs.height = spec.height;
    vs.fps = spec.fps;
    vs.preset = spec.preset;
    AudioEncodeSettings as;
    if (!writer.Open(output_mp4, vs, spec.audio ? &as : nullptr, err)) return false;
    const int64_t frames = std::max<int64_t>(1, std::llround(spec.seconds * av_q2d(spec.fps)));
    const int64_t samples = av_rescale(frames, 48000LL * spec.fps.den, spec.fps.num);
    FramePtr frame = MakeFrame();
    int64_t audio_done = 0;
    for (int64_t i = 0; i < frames; ++i) {
      if (picture) {
        FramePtr copy(av_frame_clone(picture.get()));
        copy->pts = i;
        if (!g.Push("img", copy.get(), err)) return false;
      }
      if (g.Pull("vout", frame.get(), err) != FilterGraph::PullStatus::kFrame) {
        if (err->empty()) *err = "video generator stopped early";
        return false;
      }
      if (!writer.WriteVideo(frame.get(), err)) return false;
      const int64_t audio_due = spec.audio ? av_rescale(i + 1, samples, frames) : 0;
      while (audio_done < audio_due) {
        if (g.Pull("aout", frame.get(), err) != FilterGraph::PullStatus::kFrame) {
          if (err->empty()) *err = "audio generator stopped early";
          return false;
        }
        frame->nb_samples = static_cast<int>(std::min<int64_t>(frame->nb_samples, samples - audio_done));
        audio_done += frame->nb_samples;
        if (!writer.WriteAudio(frame.get(), err)) return false;
      }
    }
    return writer.Finish(err);
  } catch (const std::exception& e) {
    *err = std::string("internal error: ") + e.what();
  } catch (...) {
    *err = "internal error";
  }
  return false;
}

bool RenderOfflineVideo(const std::string& prompt, double seconds, const std::string& aspect_ratio,
                        const std::string& resolution, const std::string& first_frame_image,
                        const std::string& output_mp4, std::string* err) {
  SyntheticVideoSpec spec;
  spec.prompt = prompt;
  spec.seconds = seconds;
  spec.first_frame_image = first_frame_image;
  if (!VideoSize(aspect_ratio, resolution, &spec.width, &spec.height, err)) return false;
  if (!(seconds > 0 && seconds <= 600)) {
    *err = "video duration must be in (0, 600] seconds";
    return false;
  }
  bool ok = RenderSyntheticVideo(spec, output_mp4, err);
  if (!ok) {
    std::error_code ec;
    std::filesystem::remove(output_mp4, ec);
  }
  return ok;
}

bool RenderOfflineImage(const std::string& prompt, const std::string& aspect_ratio, const std::string& output_png,
                        std::string* err) {
  QuietLibavLogs();
  try {
    int aw = 1, ah = 1;
    if (!aspect_ratio.empty() && !ParseAspectRatio(aspect_ratio, &aw, &ah)) {
      *err = "unreadable aspect ratio '" + aspect_ratio + "'";
      return false;
    }
    int width = 1024, height = 1024;
    if (aw > ah) height = static_cast<int>(std::lround(1024.0 * ah / aw / 2)) * 2;
    if (ah > aw) width = static_cast<int>(std::lround(1024.0 * aw / ah / 2)) * 2;
    const uint64_t h = Fnv1a(prompt);
    const std::string desc = Background(width, height, {1, 1}, h) + Decorations(prompt, width, height, h, true, false) +
                             ",format=rgb24[out]";
    FilterGraph g;
    std::string graph_err;
    if (!g.AddSink("out", AVMEDIA_TYPE_VIDEO, err)) return false;
    if (!g.Configure(desc, &graph_err)) {
      g = FilterGraph();
      if (!g.AddSink("out", AVMEDIA_TYPE_VIDEO, err) ||
          !g.Configure(Background(width, height, {1, 1}, h) + Decorations(prompt, width, height, h, false, false) +
                           ",format=rgb24[out]",
                       err))
        return false;
    }
    FramePtr frame = MakeFrame();
    if (g.Pull("out", frame.get(), err) != FilterGraph::PullStatus::kFrame) {
      if (err->empty()) *err = "image generator produced nothing";
      return false;
    }
    const AVCodec* png = avcodec_find_encoder(AV_CODEC_ID_PNG);
    if (!png) {
      *err = "no PNG encoder in this libavcodec";
      return false;
    }
    CodecContextPtr enc(avcodec_alloc_context3(png));
    enc->width = width;
    enc->height = height;
    enc->pix_fmt = AV_PIX_FMT_RGB24;
    enc->time_base = {1, 1};
    int rc = avcodec_open2(enc.get(), png, nullptr);
    if (rc < 0) {
      *err = "opening png encoder: " + AvErrorString(rc);
      return false;
    }
    frame->pts = 0;
    PacketPtr pkt = MakePacket();
    if ((rc = avcodec_send_frame(enc.get(), frame.get())) < 0 ||
        (rc = avcodec_receive_packet(enc.get(), pkt.get())) < 0) {
      *err = "encoding png: " + AvErrorString(rc);
      return false;
    }
    const std::string tmp = output_png + ".part";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(pkt->data), pkt->size);
      if (!out.good()) {
        *err = output_png + ": cannot write";
        return false;
      }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, output_png, ec);
    if (ec) {
      *err = output_png + ": " + ec.message();
      std::filesystem::remove(tmp, ec);
      return false;
    }
    return true;
  } catch (const std::exception& e) {
    *err = std::string("internal error: ") + e.what();
  } catch (...) {
    *err = "internal error";
  }
  return false;
}

}  // namespace comfyrun::media
