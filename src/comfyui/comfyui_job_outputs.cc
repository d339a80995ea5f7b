// Downloading a finished prompt's output files and the node's success result. Part of
// ComfyuiJob (see comfyui_job.h).
#include "comfyui_job.h"

#include <filesystem>
#include <system_error>

#include "comfyrun/util.h"

namespace comfyrun {

void ComfyuiJob::DownloadNext(size_t index) {
  if (index == files_.size()) {
    FinishSuccess();
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
        Fail(ErrorType::kOutputInvalid, what + ": the server has no such file (HTTP 404)", true);
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
    const char* limit_name = file.kind == "image" ? "minImageBytes" : file.kind == "video" ? "minVideoBytes" : nullptr;
    if (limit_name) {
      const Json& lim = ctx_->inputs.contains(limit_name) ? ctx_->inputs[limit_name] : Json();
      double min = lim.is_number() ? lim.get<double>() : (file.kind == "image" ? 1024 : 10240);
      if (static_cast<double>(size) < min) {
        Fail(ErrorType::kOutputInvalid,
             file.kind + " " + file.filename + " from ComfyUI node " + file.node + " is " + std::to_string(size) +
                 " bytes, below " + limit_name + " " + std::to_string(static_cast<long long>(min)),
             true, Json{{"path", path}, {"bytes", size}});
        return;
      }
    }
    local_paths_.push_back(path);
    DownloadNext(index + 1);
  });
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
