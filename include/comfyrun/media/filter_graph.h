#pragma once
// FilterGraph: an AVFilterGraph with named buffer sources and sinks, built from a filter
// description whose labels ([v0], [aout], ...) are those names. Owns everything it creates.
//
//   FilterGraph g;
//   g.AddVideoSource("in", ...); g.AddSink("out", AVMEDIA_TYPE_VIDEO, &err);
//   g.Configure("[in]scale=320:180[out]", &err);
//   g.Push("in", frame); ... g.Close("in", end_pts); while (g.Pull("out", f) == kFrame) ...
#include <string>
#include <vector>

#include "comfyrun/media/av.h"

namespace comfyrun::media {

class FilterGraph {
 public:
  enum class PullStatus { kFrame, kAgain, kEof, kError };

  FilterGraph();
  /// A `buffer` source. `frame_rate` may be {0,1} when unknown (xfade needs it set).
  bool AddVideoSource(const std::string& name, int width, int height, AVPixelFormat fmt, AVRational time_base,
                      AVRational frame_rate, AVRational sar, std::string* err);
  /// An `abuffer` source; time_base is 1/sample_rate.
  bool AddAudioSource(const std::string& name, int sample_rate, AVSampleFormat fmt, const AVChannelLayout& layout,
                      std::string* err);
  /// A `buffersink` or `abuffersink`.
  bool AddSink(const std::string& name, AVMediaType type, std::string* err);
  /// Parses `desc` (labels = source and sink names) and configures the graph.
  bool Configure(const std::string& desc, std::string* err);

  /// Hands a frame to a source; the source takes the frame's references (frame is reset).
  bool Push(const std::string& source, AVFrame* frame, std::string* err);
  /// Ends a source's stream; `pts` (source time base) is where the last frame ends.
  bool Close(const std::string& source, int64_t pts, std::string* err);
  /// Takes the next frame of a sink into `out` (unreferenced first).
  PullStatus Pull(const std::string& sink, AVFrame* out, std::string* err);

  AVFilterContext* sink(const std::string& name) const;
  AVFilterGraph* graph() const { return graph_.get(); }

 private:
  struct Endpoint {
    std::string name;
    AVFilterContext* ctx;  ///< owned by graph_
  };
  AVFilterContext* Find(const std::vector<Endpoint>& list, const std::string& name) const;

  FilterGraphPtr graph_;
  std::vector<Endpoint> sources_;
  std::vector<Endpoint> sinks_;
};

}  // namespace comfyrun::media
