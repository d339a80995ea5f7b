// Tests of the media module (stitch, probe, offline render, node kinds, loading) on small
// synthetic clips made with RenderSyntheticVideo. Each stitch result is compared with what the ffmpeg
// command line gives for the same job, measured with ffprobe (both run as subprocesses).
//
// MediaBench (skipped by default) is the benchmark behind scripts/bench/stitch:
//   build/comfyrun_tests -ts=MediaBench --no-skip
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "comfyrun/core/json.h"
#include "comfyrun/media/av.h"
#include "comfyrun/media/media_nodes.h"
#include "comfyrun/media/module.h"
#include "comfyrun/media/probe.h"
#include "comfyrun/media/render.h"
#include "comfyrun/media/stitch.h"

namespace comfyrun::media {
namespace {

namespace fs = std::filesystem;

// This binary links the media code (CMakeLists.txt: comfyrun_media_code): every media call
// in it (node kinds, provider media checks, offline rendering) uses the built-in table
// instead of dlopening comfyrun_media.so. Registered before main, so before any test runs.
[[maybe_unused]] const bool kBuiltinModule = (UseBuiltinModule(comfyrun_media_module()), true);

std::string Run(const std::string& cmd, int* status = nullptr) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  if (status) *status = rc;
  return out;
}

/// ffprobe's view of a file: format duration, and per stream type the packet count and
/// duration, size and codec.
struct Probe {
  double duration = 0;
  int64_t video_packets = 0, audio_packets = 0;
  double video_duration = 0, audio_duration = 0;
  int width = 0, height = 0;
  std::string video_codec, audio_codec, pix_fmt, profile;
  bool moov_first = false;
};

Probe FfProbe(const std::string& path) {
  Probe p;
  Json j = Json::parse(Run("ffprobe -v error -count_packets -show_entries "
                           "format=duration:stream=codec_type,codec_name,nb_read_packets,duration,"
                           "width,height,pix_fmt,profile -of json '" +
                           path + "'"),
                       nullptr, false);
  if (j.is_discarded()) return p;
  auto num = [](const Json& v) { return v.is_string() ? std::stod(v.get<std::string>()) : 0.0; };
  if (j.contains("format")) p.duration = num(j["format"].value("duration", Json("0")));
  for (const Json& s : j.value("streams", Json::array())) {
    const std::string type = s.value("codec_type", "");
    const int64_t packets = std::stoll(s.value("nb_read_packets", "0"));
    const double dur = num(s.value("duration", Json("0")));
    if (type == "video") {
      p.video_packets = packets;
      p.video_duration = dur;
      p.width = s.value("width", 0);
      p.height = s.value("height", 0);
      p.video_codec = s.value("codec_name", "");
      p.pix_fmt = s.value("pix_fmt", "");
      p.profile = s.value("profile", "");
    } else if (type == "audio") {
      p.audio_packets = packets;
      p.audio_duration = dur;
      p.audio_codec = s.value("codec_name", "");
    }
  }
  // +faststart: the moov box comes before mdat.
  std::ifstream in(path, std::ios::binary);
  std::string head(1 << 16, '\0');
  in.read(head.data(), head.size());
  size_t moov = head.find("moov"), mdat = head.find("mdat");
  p.moov_first = moov != std::string::npos && (mdat == std::string::npos || moov < mdat);
  return p;
}

std::string Clip(const std::string& name, int w, int h, AVRational fps, double seconds, bool audio = true,
                 const std::string& prompt = "") {
  SyntheticVideoSpec spec;
  spec.prompt = prompt.empty() ? name : prompt;
  spec.width = w;
  spec.height = h;
  spec.fps = fps;
  spec.seconds = seconds;
  spec.audio = audio;
  std::string err;
  std::string path = (fs::current_path() / name).string();
  REQUIRE_MESSAGE(RenderSyntheticVideo(spec, path, &err), err);
  return path;
}

std::string Ffmpeg(const std::string& args) {
  return "ffmpeg -hide_banner -loglevel error -nostdin -y -threads 0 " + args;
}

/// Decoded bytes of the first video frame of a file (yuv420p planes, row by row).
std::string FirstFrameBytes(const std::string& path) {
  InputFormatPtr ic;
  std::string err;
  if (!OpenInput(path, &ic, &err)) return "";
  int v = av_find_best_stream(ic.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  CodecContextPtr dec;
  if (v < 0 || !OpenDecoder(ic->streams[v], &dec, &err)) return "";
  PacketPtr pkt = MakePacket();
  FramePtr f = MakeFrame();
  while (av_read_frame(ic.get(), pkt.get()) >= 0) {
    if (pkt->stream_index == v) avcodec_send_packet(dec.get(), pkt.get());
    av_packet_unref(pkt.get());
    if (avcodec_receive_frame(dec.get(), f.get()) >= 0) break;
  }
  if (!f->data[0]) {
    avcodec_send_packet(dec.get(), nullptr);
    if (avcodec_receive_frame(dec.get(), f.get()) < 0) return "";
  }
  std::string bytes;
  for (int plane = 0; plane < 3 && f->data[plane]; ++plane) {
    int h = plane ? (f->height + 1) / 2 : f->height;
    int w = plane ? (f->width + 1) / 2 : f->width;
    if (f->format == AV_PIX_FMT_RGB24 && plane > 0) break;
    if (f->format == AV_PIX_FMT_RGB24) w = f->width * 3;
    for (int y = 0; y < h; ++y) bytes.append(reinterpret_cast<const char*>(f->data[plane] + y * f->linesize[plane]), w);
  }
  return bytes;
}

constexpr double kFrame24 = 1.0 / 24;

}  // namespace

TEST_SUITE("Media") {
  TEST_CASE("offline render is deterministic per prompt" * doctest::timeout(30)) {
    std::string err;
    REQUIRE_MESSAGE(RenderOfflineVideo("a red fox in snow", 1, "16:9", "180p", "", "a.mp4", &err), err);
    REQUIRE_MESSAGE(RenderOfflineVideo("a red fox in snow", 1, "16:9", "180p", "", "b.mp4", &err), err);
    REQUIRE_MESSAGE(RenderOfflineVideo("a city at night", 1, "16:9", "180p", "", "c.mp4", &err), err);
    std::string a = FirstFrameBytes("a.mp4"), b = FirstFrameBytes("b.mp4"), c = FirstFrameBytes("c.mp4");
    REQUIRE(!a.empty());
    CHECK(a == b);
    CHECK(a != c);
    Probe p = FfProbe("a.mp4");
    CHECK(p.width == 320);
    CHECK(p.height == 180);
    CHECK(p.video_codec == "h264");
    CHECK(p.audio_codec == "aac");
    CHECK(p.video_duration == doctest::Approx(1.0).epsilon(0.05));
    CHECK(p.moov_first);

    // Portrait, and a first-frame picture.
    REQUIRE_MESSAGE(RenderOfflineImage("a red fox in snow", "9:16", "fox.png", &err), err);
    REQUIRE_MESSAGE(RenderOfflineImage("a red fox in snow", "9:16", "fox2.png", &err), err);
    REQUIRE_MESSAGE(RenderOfflineImage("a city at night", "9:16", "city.png", &err), err);
    CHECK(FirstFrameBytes("fox.png") == FirstFrameBytes("fox2.png"));
    CHECK(FirstFrameBytes("fox.png") != FirstFrameBytes("city.png"));
    ProbeResult img;
    REQUIRE_MESSAGE(ProbeMedia("fox.png", {}, &img, &err), err);
    CHECK(img.width == 576);
    CHECK(img.height == 1024);
    REQUIRE_MESSAGE(RenderOfflineVideo("fox walks", 1, "9:16", "180p", "fox.png", "d.mp4", &err), err);
    Probe d = FfProbe("d.mp4");
    CHECK(d.width == 180);
    CHECK(d.height == 320);

    CHECK_FALSE(RenderOfflineImage("x", "wide", "x.png", &err));
    CHECK(err.find("wide") != std::string::npos);
    CHECK_FALSE(RenderOfflineVideo("x", 1, "16:9", "180p", "missing.png", "x.mp4", &err));
    CHECK(err.find("missing.png") != std::string::npos);
  }

  TEST_CASE("3 compatible clips without transition are stream-copied like the concat demuxer" * doctest::timeout(30)) {
    std::vector<std::string> clips = {Clip("c1.mp4", 320, 180, {24, 1}, 2), Clip("c2.mp4", 320, 180, {24, 1}, 2),
                                      Clip("c3.mp4", 320, 180, {24, 1}, 2)};
    StitchRequest req;
    req.inputs = clips;
    req.output_path = "copy.mp4";
    StitchResult res;
    std::string err;
    REQUIRE_MESSAGE(StitchVideos(req, &res, &err), err);
    CHECK(res.stream_copied);
    CHECK(res.frames == 144);
    CHECK(res.duration == doctest::Approx(6.0).epsilon(0.01));

    std::ofstream("list.txt") << "file '" << clips[0] << "'\nfile '" << clips[1] << "'\nfile '" << clips[2] << "'\n";
    int rc = 0;
    Run(Ffmpeg("-f concat -safe 0 -i list.txt -c copy -movflags +faststart cli_copy.mp4"), &rc);
    REQUIRE(rc == 0);
    Probe ours = FfProbe("copy.mp4"), cli = FfProbe("cli_copy.mp4");
    CHECK(ours.moov_first);
    CHECK(ours.video_packets == cli.video_packets);
    CHECK(ours.video_duration == doctest::Approx(cli.video_duration).epsilon(0.01));
    CHECK(std::abs(ours.duration - cli.duration) <= kFrame24);
    CHECK(std::abs(ours.audio_duration - 6.0) <= kFrame24);
    CHECK(ours.audio_codec == "aac");
  }

  TEST_CASE("3 clips with a dissolve match the xfade/acrossfade command line" * doctest::timeout(40)) {
    std::vector<std::string> clips = {Clip("d1.mp4", 320, 180, {24, 1}, 2), Clip("d2.mp4", 320, 180, {24, 1}, 2),
                                      Clip("d3.mp4", 320, 180, {24, 1}, 2)};
    StitchRequest req;
    req.inputs = clips;
    req.transition = "dissolve";
    req.transition_seconds = 0.5;
    req.output_path = "dissolve.mp4";
    StitchResult res;
    std::string err;
    REQUIRE_MESSAGE(StitchVideos(req, &res, &err), err);
    CHECK_FALSE(res.stream_copied);
    CHECK(res.frames == 144 - 2 * 12);
    CHECK(std::abs(res.duration - 5.0) <= kFrame24);

    int rc = 0;
    Run(Ffmpeg("-i " + clips[0] + " -i " + clips[1] + " -i " + clips[2] +
               " -filter_complex '[0:v][1:v]xfade=transition=dissolve:duration=0.5:offset=1.5[v01];"
               "[v01][2:v]xfade=transition=dissolve:duration=0.5:offset=3[v];"
               "[0:a][1:a]acrossfade=d=0.5[a01];[a01][2:a]acrossfade=d=0.5[a]' -map '[v]' -map '[a]' "
               "-c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -b:a 128k -movflags +faststart "
               "cli_dissolve.mp4"),
        &rc);
    REQUIRE(rc == 0);
    Probe ours = FfProbe("dissolve.mp4"), cli = FfProbe("cli_dissolve.mp4");
    CHECK(ours.moov_first);
    CHECK(ours.pix_fmt == "yuv420p");
    CHECK(ours.pix_fmt == cli.pix_fmt);
    CHECK(ours.profile == cli.profile);
    CHECK(std::abs(ours.video_packets - cli.video_packets) <= 2);  // 5.1's CLI may lose one per join
    CHECK(std::abs(ours.video_duration - cli.video_duration) <= 2 * kFrame24);
    CHECK(std::abs(ours.audio_duration - cli.audio_duration) <= kFrame24);
    CHECK(std::abs(ours.audio_duration - ours.video_duration) <= kFrame24);
  }

  TEST_CASE("mismatched sizes and frame rates are normalised and re-encoded" * doctest::timeout(40)) {
    std::vector<std::string> clips = {Clip("m1.mp4", 320, 180, {24, 1}, 2), Clip("m2.mp4", 240, 240, {30, 1}, 1.5),
                                      Clip("m3.mp4", 426, 240, {25, 1}, 2)};
    std::string err;
    StitchResult cut, fade;
    StitchRequest req;
    req.inputs = clips;
    req.output_path = "mixed_cut.mp4";
    REQUIRE_MESSAGE(StitchVideos(req, &cut, &err), err);
    CHECK_FALSE(cut.stream_copied);
    CHECK(std::abs(cut.duration - 5.5) <= kFrame24);
    req.transition = "wipeleft";
    req.transition_seconds = 0.5;
    req.output_path = "mixed_fade.mp4";
    REQUIRE_MESSAGE(StitchVideos(req, &fade, &err), err);
    CHECK(std::abs(fade.duration - 4.5) <= kFrame24);

    // The same job on the command line: normalise every input, then concat.
    std::string norm;
    for (int i = 0; i < 3; ++i)
      norm += "[" + std::to_string(i) +
              ":v]fps=24,scale=320:180:force_original_aspect_ratio=decrease,"
              "pad=320:180:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p[v" +
              std::to_string(i) +
              "];"
              "[" +
              std::to_string(i) + ":a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[a" +
              std::to_string(i) + "];";
    int rc = 0;
    Run(Ffmpeg("-i " + clips[0] + " -i " + clips[1] + " -i " + clips[2] + " -filter_complex '" + norm +
               "[v0][a0][v1][a1][v2][a2]concat=n=3:v=1:a=1[v][a]' -map '[v]' -map '[a]' -c:v libx264 "
               "-preset veryfast -c:a aac -b:a 128k cli_mixed.mp4"),
        &rc);
    REQUIRE(rc == 0);
    Probe ours = FfProbe("mixed_cut.mp4"), cli = FfProbe("cli_mixed.mp4"), f = FfProbe("mixed_fade.mp4");
    CHECK(ours.width == 320);
    CHECK(ours.height == 180);
    CHECK(f.width == 320);
    CHECK(std::abs(ours.video_packets - cli.video_packets) <= 1);
    CHECK(std::abs(ours.video_duration - cli.video_duration) <= kFrame24);
    CHECK(std::abs(ours.audio_duration - ours.video_duration) <= kFrame24);
    CHECK(std::abs(f.audio_duration - f.video_duration) <= kFrame24);
  }

  TEST_CASE("a clip without audio gets silence" * doctest::timeout(30)) {
    std::vector<std::string> clips = {Clip("s1.mp4", 320, 180, {24, 1}, 2), Clip("s2.mp4", 320, 180, {24, 1}, 2, false),
                                      Clip("s3.mp4", 320, 180, {24, 1}, 2)};
    std::string err;
    for (std::string t : {"none", "fade"}) {
      CAPTURE(t);
      StitchRequest req;
      req.inputs = clips;
      req.transition = t;
      req.output_path = "silence_" + t + ".mp4";
      StitchResult res;
      REQUIRE_MESSAGE(StitchVideos(req, &res, &err), err);
      CHECK_FALSE(res.stream_copied);
      Probe p = FfProbe(req.output_path);
      const double want = t == "none" ? 6.0 : 5.0;
      CHECK(std::abs(p.video_duration - want) <= kFrame24);
      CHECK(p.audio_codec == "aac");
      CHECK(std::abs(p.audio_duration - want) <= kFrame24);
    }
    // No clip has audio: the output has none either (and is a plain stream copy).
    StitchRequest req;
    req.inputs = {clips[1], clips[1]};
    req.output_path = "mute.mp4";
    StitchResult res;
    REQUIRE_MESSAGE(StitchVideos(req, &res, &err), err);
    CHECK(res.stream_copied);
    CHECK(FfProbe("mute.mp4").audio_codec.empty());
  }

  TEST_CASE("bad inputs give errors naming the file" * doctest::timeout(30)) {
    std::string good = Clip("g.mp4", 320, 180, {24, 1}, 1);
    std::ofstream("corrupt.mp4") << std::string(5000, 'x');
    {  // a truncated MP4: the header is there, the moov is not
      std::ifstream in(good, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), {});
      std::ofstream("truncated.mp4", std::ios::binary) << bytes.substr(0, bytes.size() / 3);
    }
    std::string err;
    StitchResult res;
    auto stitch = [&](std::vector<std::string> in, std::string t = "none", double d = 0.5) {
      StitchRequest req;
      req.inputs = std::move(in);
      req.transition = t;
      req.transition_seconds = d;
      req.output_path = "bad_out.mp4";
      err.clear();
      bool ok = StitchVideos(req, &res, &err);
      CHECK_FALSE(fs::exists("bad_out.mp4"));
      return ok;
    };
    CHECK_FALSE(stitch({}));
    CHECK(err.find("no input") != std::string::npos);
    CHECK_FALSE(stitch({good, "missing.mp4"}));
    CHECK(err.find("missing.mp4") != std::string::npos);
    CHECK_FALSE(stitch({good, "corrupt.mp4"}, "dissolve"));
    CHECK(err.find("corrupt.mp4") != std::string::npos);
    CHECK_FALSE(stitch({"truncated.mp4", good}));
    CHECK(err.find("truncated.mp4") != std::string::npos);
    CHECK_FALSE(stitch({good, good}, "dissolve", 1.5));
    CHECK(err.find("g.mp4") != std::string::npos);
    CHECK(err.find("longer than") != std::string::npos);
    CHECK_FALSE(stitch({good, good}, "nosuchtransition"));
    CHECK(!err.empty());

    std::atomic<bool> cancel{true};
    StitchRequest req;
    req.inputs = {good, good};
    req.transition = "fade";
    req.output_path = "cancelled.mp4";
    req.cancel = &cancel;
    CHECK_FALSE(StitchVideos(req, &res, &err));
    CHECK(err == "cancelled");
  }

  TEST_CASE("probe reports streams and runs checks" * doctest::timeout(30)) {
    std::string clip = Clip("p.mp4", 320, 180, {24, 1}, 2);
    SyntheticVideoSpec black;
    black.width = 320;
    black.height = 180;
    black.seconds = 2;
    black.source_filter = "color=c=black";
    black.draw_text = false;
    std::string err;
    REQUIRE_MESSAGE(RenderSyntheticVideo(black, "black.mp4", &err), err);

    ProbeChecks checks;
    checks.min_duration = 1;
    checks.has_audio = true;
    checks.max_black = 0.5;
    checks.max_frozen = 0.5;
    ProbeResult r;
    REQUIRE_MESSAGE(ProbeMedia(clip, checks, &r, &err), err);
    CHECK(r.ok());
    CHECK(r.container.find("mp4") != std::string::npos);
    CHECK(r.video_codec == "h264");
    CHECK(r.audio_codec == "aac");
    CHECK(r.width == 320);
    CHECK(r.fps == doctest::Approx(24));
    CHECK(r.duration == doctest::Approx(2).epsilon(0.05));
    CHECK(*r.black_seconds < 0.5);
    CHECK(*r.frozen_seconds < 0.5);
    CHECK(r.quality_score > 0.8);
    Json j = r.ToJson();
    for (const char* k : {"container", "streams", "videoCodec", "audioCodec", "width", "height", "fps", "duration",
                          "size", "hasAudio", "hasVideo", "blackSeconds", "frozenSeconds", "qualityScore"})
      CHECK_MESSAGE(j.contains(k), k);

    REQUIRE_MESSAGE(ProbeMedia("black.mp4", checks, &r, &err), err);
    CHECK_FALSE(r.ok());
    CHECK(*r.black_seconds == doctest::Approx(2).epsilon(0.1));
    CHECK(*r.frozen_seconds > 1.5);
    CHECK(r.failed_checks.size() == 2);
    CHECK(r.quality_score < 0.5);

    checks = {};
    checks.max_duration = 1;
    checks.min_bytes = 1 << 30;
    REQUIRE(ProbeMedia(clip, checks, &r, &err));
    REQUIRE(r.failed_checks.size() == 2);
    CHECK(r.failed_checks[0].find("minBytes") != std::string::npos);
    CHECK(r.failed_checks[1].find("maxDuration") != std::string::npos);
    CHECK_FALSE(ProbeMedia("nothere.mp4", {}, &r, &err));
    CHECK(err.find("nothere.mp4") != std::string::npos);
  }

  TEST_CASE("video_stitch and media_probe node kinds" * doctest::timeout(30)) {
    std::string a = Clip("n1.mp4", 320, 180, {24, 1}, 1), b = Clip("n2.mp4", 320, 180, {24, 1}, 1);
    fs::create_directories("node");
    NodeContext ctx;
    ctx.node_dir = (fs::current_path() / "node").string();
    ctx.inputs = {
        {"videoPaths", {a, b}}, {"transitionType", "fade"}, {"transitionDuration", 0.25}, {"output", "joined.mp4"}};
    NodeResult r = VideoStitchNodeKind()->Run(ctx);
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.outputs["videoPath"] == (fs::current_path() / "node" / "joined.mp4").string());
    CHECK(r.outputs["duration"].get<double>() == doctest::Approx(1.75).epsilon(0.03));

    ctx.inputs = {
        {"videoPaths", {a, "gone.mp4"}}, {"transitionType", "none"}, {"transitionDuration", 0.5}, {"output", "x.mp4"}};
    r = VideoStitchNodeKind()->Run(ctx);
    CHECK(r.error == ErrorType::kInvalidInput);
    CHECK(r.message.find("gone.mp4") != std::string::npos);

    NodeContext probe;
    probe.inputs = {{"path", (fs::current_path() / "node" / "joined.mp4").string()},
                    {"minDuration", 1},
                    {"hasAudio", true},
                    {"maxDuration", nullptr}};
    r = MediaProbeNodeKind()->Run(probe);
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.outputs["hasVideo"] == true);
    CHECK(r.outputs["width"] == 320);
    probe.inputs["minDuration"] = 10;
    r = MediaProbeNodeKind()->Run(probe);
    CHECK(r.error == ErrorType::kOutputInvalid);
    CHECK(r.message.find("minDuration") != std::string::npos);
  }

  TEST_CASE("the media module next to the binary loads and works through dlopen" * doctest::timeout(30)) {
    // build/comfyrun_media.so, built with build/comfyrun (a dependency of this binary).
    const std::string path = (fs::path(COMFYRUN_BINARY).parent_path() / kModuleFileName).string();
    std::string err;
    const Module* m = LoadModuleFrom(path, &err);
    REQUIRE_MESSAGE(m, err);
    CHECK(m != comfyrun_media_module());  // the module's own table, not this binary's
    CHECK(m->abi == kModuleAbi);
    CHECK(std::string(m->version) == COMFYRUN_VERSION);
    CHECK(m->layout == CurrentLayout());
    // One call across the boundary: strings in, a result and a message out.
    std::string png = (fs::current_path() / "module.png").string();
    REQUIRE_MESSAGE(m->render_offline_image("through the module", "1:1", png, &err), err);
    int w = 0, h = 0;
    REQUIRE_MESSAGE(m->check_image_file(png, &w, &h, &err), err);
    CHECK(w == 1024);
    CHECK(h == 1024);
    NodeContext ctx;
    ctx.inputs = {{"path", png}, {"hasAudio", true}};
    NodeResult r = m->run_media_probe(ctx);
    CHECK(r.error == ErrorType::kOutputInvalid);
    CHECK(r.message.find("hasAudio") != std::string::npos);
    CHECK(r.details["width"] == 1024);
  }

  TEST_CASE("a media module that cannot load is refused with what was looked for" * doctest::timeout(10)) {
    std::string err;
    CHECK(LoadModuleFrom("/nonexistent/dir/comfyrun_media.so", &err) == nullptr);
    CHECK(err.find("cannot load the media module") != std::string::npos);
    CHECK(err.find("/nonexistent/dir/comfyrun_media.so") != std::string::npos);

    // A shared library that is not a media module.
    CHECK(LoadModuleFrom("libm.so.6", &err) == nullptr);
    CHECK(err.find("not a comfyrun media module") != std::string::npos);

    // A table from another build: the header is checked before any entry point is used.
    Module other = *comfyrun_media_module();
    CHECK(CheckModule(other, "x.so", &err));
    other.abi = kModuleAbi + 1;
    CHECK_FALSE(CheckModule(other, "x.so", &err));
    CHECK(err.find("interface version") != std::string::npos);
    other = *comfyrun_media_module();
    other.layout.node_context += 8;
    CHECK_FALSE(CheckModule(other, "x.so", &err));
    CHECK(err.find("another build") != std::string::npos);
    other = *comfyrun_media_module();
    other.version = "0.0.0-other";
    CHECK_FALSE(CheckModule(other, "x.so", &err));
    CHECK(err.find("0.0.0-other") != std::string::npos);
    other = *comfyrun_media_module();
    other.check_video_file = nullptr;
    CHECK_FALSE(CheckModule(other, "x.so", &err));
  }

  TEST_CASE("node types that need the media module" * doctest::timeout(5)) {
    for (const char* t : {"video_stitch", "media_probe", "character_image", "video_generation", "sora2_video"})
      CHECK_MESSAGE(NodeTypeNeedsModule(t), t);
    for (const char* t : {"value", "shell", "http", "comfyui", ""}) CHECK_FALSE_MESSAGE(NodeTypeNeedsModule(t), t);
  }

  TEST_CASE("the module is looked for next to the executable unless COMFYRUN_MEDIA_MODULE says" *
            doctest::timeout(10)) {
    const char* saved = std::getenv(kModuleEnv);
    std::string saved_value = saved ? saved : "";
    ::unsetenv(kModuleEnv);
    CHECK(ModulePath() == (fs::canonical("/proc/self/exe").parent_path() / kModuleFileName).string());
    ::setenv(kModuleEnv, "/opt/x/media.so", 1);
    CHECK(ModulePath() == "/opt/x/media.so");
    ::setenv(kModuleEnv, "", 1);  // empty: as if unset
    CHECK(ModulePath().ends_with(std::string("/") + kModuleFileName));
    if (saved)
      ::setenv(kModuleEnv, saved_value.c_str(), 1);
    else
      ::unsetenv(kModuleEnv);
  }

}  // TEST_SUITE("Media")

}  // namespace comfyrun::media

// The benchmark behind scripts/bench/stitch; skipped unless asked for:
//   comfyrun_tests -ts=MediaBench --no-skip
// Three 8 s 1280x720 30 fps clips (testsrc2 + sine, x264 default preset, like MEDIA.md §7),
// each job 3 times; prints the medians side by side with the same job on the command line.
namespace comfyrun::media {
namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename F>
std::vector<double> Time(int runs, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    auto s = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count());
  }
  return t;
}

std::string Runs(const std::vector<double>& v) {
  std::string s;
  char buf[32];
  for (double x : v) {
    snprintf(buf, sizeof(buf), "%s%.3f", s.empty() ? "" : ",", x);
    s += buf;
  }
  return s;
}

}  // namespace

TEST_CASE("MediaBench: 3-clip stitch in process against the ffmpeg command line" * doctest::test_suite("MediaBench") *
          doctest::skip() * doctest::timeout(1800)) {
  const char* runs_env = getenv("BENCH_RUNS");
  const int runs = runs_env ? std::max(1, atoi(runs_env)) : 3;
  std::vector<std::string> clips;
  for (int i = 1; i <= 3; ++i) {
    SyntheticVideoSpec spec;
    spec.width = 1280;
    spec.height = 720;
    spec.fps = {30, 1};
    spec.seconds = 8;
    spec.source_filter = "testsrc2";
    spec.draw_text = false;
    spec.tone_hz = 220 * i;
    spec.preset = "medium";
    std::string path = (fs::current_path() / ("clip" + std::to_string(i) + ".mp4")).string();
    std::string err;
    REQUIRE_MESSAGE(RenderSyntheticVideo(spec, path, &err), err);
    clips.push_back(path);
  }
  std::ofstream("list.txt") << "file '" << clips[0] << "'\nfile '" << clips[1] << "'\nfile '" << clips[2] << "'\n";
  const std::string ins = "-i " + clips[0] + " -i " + clips[1] + " -i " + clips[2];
  const std::string enc =
      " -map '[v]' -map '[a]' -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -b:a 128k -movflags +faststart ";
  struct Job {
    std::string name;
    std::string transition;
    bool force_reencode;
    std::string cli;
  };
  std::vector<Job> jobs = {
      {"concat, stream copy", "none", false,
       Ffmpeg("-f concat -safe 0 -i list.txt -c copy -movflags +faststart cli_copy.mp4")},
      {"concat, re-encode (veryfast)", "none", true,
       Ffmpeg(ins + " -filter_complex '[0:v][0:a][1:v][1:a][2:v][2:a]concat=n=3:v=1:a=1[v][a]'" + enc +
              "cli_reencode.mp4")},
      {"dissolve 0.5 s (veryfast)", "dissolve", false,
       Ffmpeg(ins +
              " -filter_complex '[0:v][1:v]xfade=transition=dissolve:duration=0.5:offset=7.5[v01];"
              "[v01][2:v]xfade=transition=dissolve:duration=0.5:offset=15[v];"
              "[0:a][1:a]acrossfade=d=0.5[a01];[a01][2:a]acrossfade=d=0.5[a]'" +
              enc + "cli_dissolve.mp4")},
  };
  const char* cli_out[] = {"cli_copy.mp4", "cli_reencode.mp4", "cli_dissolve.mp4"};
  printf("\n%-30s %10s %10s %7s  %-28s %-28s\n", "job (3 x 8 s 720p30)", "comfyrun", "ffmpeg CLI", "ratio",
         "comfyrun dur/frames", "CLI dur/frames");
  std::vector<std::string> details;
  for (size_t k = 0; k < jobs.size(); ++k) {
    const Job& j = jobs[k];
    const std::string out = "ours_" + std::to_string(k) + ".mp4";
    std::string err;
    bool ok = true;
    // Alternate the two sides so that load from elsewhere hits both alike.
    std::vector<double> ours, cli;
    for (int r = 0; r < runs; ++r) {
      ours.push_back(Time(1, [&] {
        StitchRequest req;
        req.inputs = clips;
        req.transition = j.transition;
        req.transition_seconds = 0.5;
        req.force_reencode = j.force_reencode;
        req.output_path = out;
        StitchResult res;
        ok = ok && StitchVideos(req, &res, &err);
      })[0]);
      REQUIRE_MESSAGE(ok, err);
      cli.push_back(Time(1, [&] { Run(j.cli); })[0]);
    }
    Probe a = FfProbe(out), b = FfProbe(cli_out[k]);
    char da[64], db[64];
    snprintf(da, sizeof(da), "%.3f s / %lld", a.video_duration, static_cast<long long>(a.video_packets));
    snprintf(db, sizeof(db), "%.3f s / %lld", b.video_duration, static_cast<long long>(b.video_packets));
    printf("%-30s %9.3fs %9.3fs %6.2fx  %-28s %-28s\n", j.name.c_str(), Median(ours), Median(cli),
           Median(ours) / Median(cli), da, db);
    details.push_back(j.name + ": comfyrun runs " + Runs(ours) + "; CLI runs " + Runs(cli) + "; sizes " +
                      std::to_string(fs::file_size(out)) + " / " + std::to_string(fs::file_size(cli_out[k])) +
                      " bytes");
  }
  printf("\n(medians of %d runs; wall clock, CLI includes process start-up)\n", runs);
  for (const auto& d : details) printf("  %s\n", d.c_str());
  fflush(stdout);
}

}  // namespace comfyrun::media
