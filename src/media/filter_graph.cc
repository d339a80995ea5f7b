#include "comfyrun/media/filter_graph.h"

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/channel_layout.h>
#include <libavutil/pixdesc.h>
}

namespace comfyrun::media {

FilterGraph::FilterGraph() : graph_(avfilter_graph_alloc()) {}

bool FilterGraph::AddVideoSource(const std::string& name, int width, int height, AVPixelFormat fmt,
                                 AVRational time_base, AVRational frame_rate, AVRational sar, std::string* err) {
  if (sar.num <= 0 || sar.den <= 0) sar = AVRational{1, 1};
  std::string args = "video_size=" + std::to_string(width) + "x" + std::to_string(height) +
                     ":pix_fmt=" + std::to_string(static_cast<int>(fmt)) +
                     ":time_base=" + std::to_string(time_base.num) + "/" + std::to_string(time_base.den) +
                     ":pixel_aspect=" + std::to_string(sar.num) + "/" + std::to_string(sar.den);
  if (frame_rate.num > 0 && frame_rate.den > 0)
    args += ":frame_rate=" + std::to_string(frame_rate.num) + "/" + std::to_string(frame_rate.den);
  AVFilterContext* ctx = nullptr;
  int rc = avfilter_graph_create_filter(&ctx, avfilter_get_by_name("buffer"), name.c_str(), args.c_str(), nullptr,
                                        graph_.get());
  if (rc < 0) {
    *err = "buffer source: " + AvErrorString(rc);
    return false;
  }
  sources_.push_back({name, ctx});
  return true;
}

bool FilterGraph::AddAudioSource(const std::string& name, int sample_rate, AVSampleFormat fmt,
                                 const AVChannelLayout& layout, std::string* err) {
  char desc[128] = {0};
  AVChannelLayout tmp{};
  if (layout.order == AV_CHANNEL_ORDER_UNSPEC || layout.nb_channels == 0) {
    av_channel_layout_default(&tmp, layout.nb_channels > 0 ? layout.nb_channels : 2);
  } else {
    av_channel_layout_copy(&tmp, &layout);
  }
  av_channel_layout_describe(&tmp, desc, sizeof(desc));
  av_channel_layout_uninit(&tmp);
  std::string args = "time_base=1/" + std::to_string(sample_rate) + ":sample_rate=" + std::to_string(sample_rate) +
                     ":sample_fmt=" + av_get_sample_fmt_name(fmt) + ":channel_layout=" + desc;
  AVFilterContext* ctx = nullptr;
  int rc = avfilter_graph_create_filter(&ctx, avfilter_get_by_name("abuffer"), name.c_str(), args.c_str(), nullptr,
                                        graph_.get());
  if (rc < 0) {
    *err = "abuffer source: " + AvErrorString(rc);
    return false;
  }
  sources_.push_back({name, ctx});
  return true;
}

bool FilterGraph::AddSink(const std::string& name, AVMediaType type, std::string* err) {
  const char* filter = type == AVMEDIA_TYPE_AUDIO ? "abuffersink" : "buffersink";
  AVFilterContext* ctx = nullptr;
  int rc =
      avfilter_graph_create_filter(&ctx, avfilter_get_by_name(filter), name.c_str(), nullptr, nullptr, graph_.get());
  if (rc < 0) {
    *err = std::string(filter) + ": " + AvErrorString(rc);
    return false;
  }
  sinks_.push_back({name, ctx});
  return true;
}

bool FilterGraph::Configure(const std::string& desc, std::string* err) {
  // Sources are "open outputs" of existing filters, sinks are "open inputs" (avfilter.h).
  AVFilterInOut* outputs = nullptr;
  for (auto it = sources_.rbegin(); it != sources_.rend(); ++it) {
    AVFilterInOut* io = avfilter_inout_alloc();
    io->name = av_strdup(it->name.c_str());
    io->filter_ctx = it->ctx;
    io->pad_idx = 0;
    io->next = outputs;
    outputs = io;
  }
  AVFilterInOut* inputs = nullptr;
  for (auto it = sinks_.rbegin(); it != sinks_.rend(); ++it) {
    AVFilterInOut* io = avfilter_inout_alloc();
    io->name = av_strdup(it->name.c_str());
    io->filter_ctx = it->ctx;
    io->pad_idx = 0;
    io->next = inputs;
    inputs = io;
  }
  int rc = avfilter_graph_parse_ptr(graph_.get(), desc.c_str(), &inputs, &outputs, nullptr);
  FilterInOutPtr free_inputs(inputs), free_outputs(outputs);
  if (rc < 0) {
    *err = "filter graph '" + desc + "': " + AvErrorString(rc);
    return false;
  }
  rc = avfilter_graph_config(graph_.get(), nullptr);
  if (rc < 0) {
    *err = "configuring filter graph: " + AvErrorString(rc);
    return false;
  }
  return true;
}

AVFilterContext* FilterGraph::Find(const std::vector<Endpoint>& list, const std::string& name) const {
  for (const auto& e : list)
    if (e.name == name) return e.ctx;
  return nullptr;
}

AVFilterContext* FilterGraph::sink(const std::string& name) const { return Find(sinks_, name); }

bool FilterGraph::Push(const std::string& source, AVFrame* frame, std::string* err) {
  AVFilterContext* src = Find(sources_, source);
  int rc = src ? av_buffersrc_add_frame_flags(src, frame, 0) : AVERROR(EINVAL);
  if (rc < 0) {
    *err = "filtering: " + AvErrorString(rc);
    return false;
  }
  return true;
}

bool FilterGraph::Close(const std::string& source, int64_t pts, std::string* err) {
  AVFilterContext* src = Find(sources_, source);
  int rc = src ? av_buffersrc_close(src, pts, 0) : AVERROR(EINVAL);
  if (rc < 0) {
    *err = "closing filter source: " + AvErrorString(rc);
    return false;
  }
  return true;
}

FilterGraph::PullStatus FilterGraph::Pull(const std::string& sink_name, AVFrame* out, std::string* err) {
  AVFilterContext* s = sink(sink_name);
  av_frame_unref(out);
  int rc = s ? av_buffersink_get_frame(s, out) : AVERROR(EINVAL);
  if (rc >= 0) return PullStatus::kFrame;
  if (rc == AVERROR(EAGAIN)) return PullStatus::kAgain;
  if (rc == AVERROR_EOF) return PullStatus::kEof;
  *err = "filtering: " + AvErrorString(rc);
  return PullStatus::kError;
}

}  // namespace comfyrun::media
