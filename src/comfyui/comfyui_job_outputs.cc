// Downloading a finished prompt's output files, checking them by decoding, and the node's
// success result. Part of ComfyuiJob (see comfyui_job.h).
//
// The check decodes each image and video with libav (the media module, loaded on first use),
// which a file too small to be real fails anyway: a byte count proves nothing (a valid 64x64
// PNG from a real ComfyUI 0.3.64 server is 438 bytes, below the 1 KB floor this used to
// apply). minImageBytes / minVideoBytes remain as optional extra floors. Decoding blocks, so
// it runs on a worker thread (net/off_loop_threads.h StartOffLoopThread), never on the loop.
#include <cctype>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "comfyrun/core/util.h"
#include "comfyrun/engine/retry.h"
#include "comfyrun/net/off_loop_threads.h"
#include "comfyrun/providers/provider_util.h"
#include "comfyui_job.h"

namespace comfyrun {
namespace {

/// Empty when `path` (a ComfyUI output of `kind`) is a whole file of its kind, else why not.
/// Images and videos are decoded. An animated WebP (ComfyUI's SaveAnimatedWEBP) cannot be
/// decoded by this libav (FFmpeg 5.1), so only its RIFF/WEBP header is checked; audio and
/// other files are checked to be non-empty.
std::string CheckOutputFile(const std::string& kind, const std::string& path) {
  std::error_code ec;
  uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec || size == 0) return "the file is empty";
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string err;
  if (kind == "image") {
    int w = 0, h = 0;
    if (!CheckImageFile(path, &w, &h, &err)) return "the image does not decode: " + err;
  } else if (kind == "video" && ext == ".webp") {
    std::ifstream in(path, std::ios::binary);
    char head[12] = {};
    in.read(head, sizeof head);
    if (std::string(head, 4) != "RIFF" || std::string(head + 8, 4) != "WEBP") return "not a WebP file";
  } else if (kind == "video") {
    double duration = 0;
    if (!CheckVideoFile(path, &duration, &err)) return "the video does not decode: " + err;
  }
  return "";
}

}  // namespace

void ComfyuiJob::DownloadNext(size_t index) {
  if (index == files_.size()) {
    CheckOutputs();
    return;
  }
  if (index == 0) {
    std::string err;
    if (!MakeDirs(ctx_->node_dir, &err)) {
      Fail(ErrorType::kInternal, "creating " + ctx_->node_dir + ": " + err, false);
      return;
    }
  }
  const ComfyOutputFile& f = files_[index];
  std::string path = (std::filesystem::path(ctx_->node_dir) / LocalOutputName(f, &used_names_)).string();
  ShowProgress("downloading " + std::to_string(index + 1) + "/" + std::to_string(files_.size()));
  HttpRequest req;
  req.url = ComfyViewUrl(server_, f);
  req.download_path = path + ".part";
  req.timeout = pool_->options().download_timeout;
  Send(std::move(req), [this, index, path](const HttpResponse& r) {
    const ComfyOutputFile& file = files_[index];
    std::error_code ec;
    if (!r.ok()) {
      std::filesystem::remove(path + ".part", ec);
      std::string what = "downloading " + file.filename + " (node " + file.node + ")";
      if (r.transport_error == ErrorType::kNone && r.status == 404) {
        FailOutput(what + ": the server has no such file (HTTP 404)", Json::object());
      } else {
        // Transient: the prompt's history survives, so a retry re-attaches and downloads again.
        Fail(ErrorType::kUnavailable,
             what + ": " + (r.transport_error != ErrorType::kNone ? r.error : "HTTP " + std::to_string(r.status)),
             false);
      }
      return;
    }
    std::filesystem::rename(path + ".part", path, ec);
    if (ec) {
      Fail(ErrorType::kInternal, "renaming " + path + ".part: " + ec.message(), false);
      return;
    }
    uintmax_t size = std::filesystem::file_size(path, ec);
    if (ec) size = 0;
    // Optional floors (no default): the real check is CheckOutputs' decoding.
    const char* limit_name = file.kind == "image" ? "minImageBytes" : file.kind == "video" ? "minVideoBytes" : nullptr;
    const Json& lim = limit_name && ctx_->inputs.contains(limit_name) ? ctx_->inputs[limit_name] : Json();
    if (lim.is_number() && static_cast<double>(size) < lim.get<double>()) {
      FailOutput(file.kind + " " + file.filename + " from ComfyUI node " + file.node + " is " + std::to_string(size) +
                     " bytes, below " + limit_name + " " + std::to_string(static_cast<long long>(lim.get<double>())),
                 Json{{"path", path}, {"bytes", size}});
      return;
    }
    local_paths_.push_back(path);
    DownloadNext(index + 1);
  });
}

void ComfyuiJob::CheckOutputs() {
  std::vector<std::pair<std::string, std::string>> todo;  // kind, path
  for (size_t i = 0; i < files_.size(); ++i) todo.emplace_back(files_[i].kind, local_paths_[i]);
  ShowProgress("checking " + std::to_string(todo.size()) + " file(s)");
  auto self = std::static_pointer_cast<ComfyuiJob>(shared_from_this());
  std::string err;
  bool started = StartOffLoopThread(
      [self, todo = std::move(todo)] {
        std::string error, bad;
        uintmax_t bytes = 0;
        for (const auto& [kind, path] : todo) {
          error = CheckOutputFile(kind, path);
          if (!error.empty()) {
            bad = path;
            std::error_code ec;
            bytes = std::filesystem::file_size(path, ec);
            break;
          }
        }
        // The executor joins these threads before it destroys the loop, so posting is safe.
        self->OnLoop([self, error, bad, bytes] { self->OnOutputsChecked(error, bad, bytes); });
      },
      &err);
  if (!started) Fail(ErrorType::kInternal, "cannot start a thread to check the outputs: " + err, false);
}

void ComfyuiJob::OnOutputsChecked(const std::string& error, const std::string& path, uintmax_t bytes) {
  if (error.empty()) {
    FinishSuccess();
    return;
  }
  std::string name = std::filesystem::path(path).filename().string();
  FailOutput("ComfyUI output " + name + " from " + Host() + " is not valid: " + error,
             Json{{"path", path}, {"bytes", bytes}});
}

void ComfyuiJob::FailOutput(const std::string& message, Json details) {
  details["server"] = server_;
  details["promptId"] = prompt_id_;
  NodeResult r = NodeResult::Failure(ErrorType::kOutputInvalid, message);
  r.provider = "comfyui";
  r.submission_finished = true;  // the prompt is over; only a new one makes other files
  r.details = std::move(details);
  MarkRegenerates(&r, !seeds_fixed_);
  Finish(std::move(r));
}

void ComfyuiJob::FinishSuccess() {
  Json images = Json::array(), videos = Json::array(), audio = Json::array(), files = Json::array();
  for (size_t i = 0; i < files_.size(); ++i) {
    const ComfyOutputFile& f = files_[i];
    const std::string& path = local_paths_[i];
    if (f.kind == "image") images.push_back(path);
    if (f.kind == "video") videos.push_back(path);
    if (f.kind == "audio") audio.push_back(path);
    files.push_back(Json{{"node", f.node}, {"kind", f.kind}, {"path", path}, {"filename", f.filename}});
  }
  Json out = Json::object();
  out["images"] = images;
  out["videos"] = videos;
  out["audio"] = audio;
  out["files"] = files;
  if (!images.empty()) out["imagePath"] = images[0];
  if (!videos.empty()) out["videoPath"] = videos[0];
  out["promptId"] = prompt_id_;
  out["server"] = server_;
  NodeResult result = NodeResult::Success(std::move(out));
  result.provider = "comfyui";
  Finish(std::move(result));
}

}  // namespace comfyrun
