// The fake ComfyUI's HTTP routes (/prompt, /upload/image, /view, /history, /queue, /ws,
// /interrupt, the test controls) and RunFakeComfyuiForever.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "comfyrun/core/util.h"
#include "support/fake_comfyui.h"
#include "support/fake_comfyui_internal.h"
#include "support/local_server.h"
#include "support/local_websocket.h"

namespace comfyrun::testing {

using namespace fake_comfyui_internal;

// ---- routes ----

Json FakeComfyui::ValidatePrompt(const Json& graph, int* status) const {
  *status = 400;
  auto bad = [](Json error) { return Json{{"error", std::move(error)}, {"node_errors", Json::object()}}; };
  if (!graph.is_object()) {
    return bad(ErrorObj("invalid_prompt", "Cannot execute because the prompt is not an object.", ""));
  }
  std::vector<std::string> outputs;
  for (auto it = graph.begin(); it != graph.end(); ++it) {
    const Json& node = it.value();
    if (!node.is_object() || !node.contains("class_type") || !node["class_type"].is_string()) {
      return bad(ErrorObj("invalid_prompt", "Cannot execute because a node is missing the class_type property.",
                          "Node ID '#" + it.key() + "'"));
    }
    std::string cls = node["class_type"].get<std::string>();
    auto spec = Classes().find(cls);
    if (spec == Classes().end()) {
      return bad(ErrorObj("invalid_prompt", "Cannot execute because node " + cls + " does not exist.",
                          "Node ID '#" + it.key() + "'"));
    }
    if (spec->second.output) outputs.push_back(it.key());
  }
  if (outputs.empty()) return bad(ErrorObj("prompt_no_outputs", "Prompt has no outputs", ""));

  Json node_errors = Json::object();
  for (const std::string& out : outputs) {
    std::set<std::string> seen;
    std::vector<std::string> stack = {out};
    while (!stack.empty()) {
      std::string id = stack.back();
      stack.pop_back();
      if (!seen.insert(id).second) continue;
      const Json& node = graph[id];
      const ClassSpec& spec = Classes().at(node["class_type"].get<std::string>());
      const Json inputs = node.contains("inputs") && node["inputs"].is_object() ? node["inputs"] : Json::object();
      Json errors = Json::array();
      for (const InputSpec& in : spec.required) {
        if (!inputs.contains(in.name)) {
          if (in.kind == InputSpec::kString) continue;  // widgets with defaults
          errors.push_back(
              ErrorObj("required_input_missing", "Required input is missing", in.name, Json{{"input_name", in.name}}));
          continue;
        }
        const Json& v = inputs[in.name];
        if (v.is_array() && v.size() == 2 && v[0].is_string()) {  // a link
          std::string src = v[0].get<std::string>();
          if (!graph.contains(src)) {
            errors.push_back(ErrorObj(
                "exception_during_inner_validation", "Exception when validating inner node", "'" + src + "'",
                Json{{"input_name", in.name},
                     {"exception_message", "'" + src + "'"},
                     {"exception_type", "KeyError"},
                     {"traceback", Json::array({"  File \"comfyui/execution.py\", line 788, in validate_inputs\n"})},
                     {"linked_node", v}}));
          } else {
            stack.push_back(src);
          }
          continue;
        }
        if ((in.kind == InputSpec::kInt || in.kind == InputSpec::kFloat) && v.is_number()) {
          Json config = Json::array({in.kind == InputSpec::kInt ? "INT" : "FLOAT", Json::object()});
          Json lo = in.kind == InputSpec::kInt ? Json(static_cast<int64_t>(in.min)) : Json(in.min);
          Json hi = in.kind == InputSpec::kInt ? Json(static_cast<int64_t>(in.max)) : Json(in.max);
          config[1] = Json{{"min", lo}, {"max", hi}};
          double d = v.get<double>();
          if (d > in.max) {
            errors.push_back(ErrorObj("value_bigger_than_max",
                                      "Value " + FormatNumber(v) + " bigger than max of " + FormatNumber(hi), in.name,
                                      Json{{"input_name", in.name}, {"input_config", config}, {"received_value", v}}));
          } else if (d < in.min) {
            errors.push_back(ErrorObj("value_smaller_than_min",
                                      "Value " + FormatNumber(v) + " smaller than min of " + FormatNumber(lo), in.name,
                                      Json{{"input_name", in.name}, {"input_config", config}, {"received_value", v}}));
          }
        }
        if (in.kind == InputSpec::kUploadedFile) {
          std::string name = v.is_string() ? v.get<std::string>() : v.dump();
          if (!inputs_.count(name)) {
            errors.push_back(
                ErrorObj("custom_validation_failed", "Custom validation failed for node",
                         in.name + " - Invalid " + (in.name == "image" ? "image" : in.name) + " file: " + name,
                         Json{{"input_name", in.name}}));
          }
        }
      }
      if (!errors.empty()) {
        if (!node_errors.contains(id)) {
          node_errors[id] =
              Json{{"errors", errors}, {"dependent_outputs", Json::array()}, {"class_type", node["class_type"]}};
        }
        Json& deps = node_errors[id]["dependent_outputs"];
        if (std::find(deps.begin(), deps.end(), Json(out)) == deps.end()) deps.push_back(out);
      }
    }
  }
  if (!node_errors.empty()) {
    return Json{{"error", ErrorObj("prompt_outputs_failed_validation", "Prompt outputs failed validation", "")},
                {"node_errors", node_errors}};
  }
  *status = 200;
  return nullptr;
}

LocalResponse FakeComfyui::PostPrompt(const LocalRequest& req) {
  Json body = Json::parse(req.body, nullptr, false);
  std::lock_guard<std::mutex> lock(mu_);
  double now = Now();
  Advance(now);
  if (body.is_discarded()) {
    prompts_rejected_++;
    LocalResponse r;
    r.status = 500;
    r.headers = {{"Content-Type", "text/plain; charset=utf-8"}};
    r.body = "500 Internal Server Error\n\nServer got itself in trouble";
    return r;
  }
  if (!body.is_object() || !body.contains("prompt")) {
    prompts_rejected_++;
    return JsonReply(400, Json{{"error", ErrorObj("no_prompt", "No prompt provided", "No prompt provided")},
                               {"node_errors", Json::object()}});
  }
  int status = 0;
  Json error = ValidatePrompt(body["prompt"], &status);
  if (status != 200) {
    prompts_rejected_++;
    return JsonReply(status, error);
  }
  if (lose_prompts_ > 0) {
    // Read and validated, then lost before it was queued: the client waits in vain.
    --lose_prompts_;
    prompts_lost_++;
    LocalResponse r = JsonReply(500, Json{{"error", "lost"}});
    r.delay = std::max(prompt_reply_delay_, 60.0);
    return r;
  }
  Prompt p;
  p.id = body.contains("prompt_id") && body["prompt_id"].is_string() ? body["prompt_id"].get<std::string>()
                                                                     : NewUuidForFake();
  p.number = number_++;
  p.graph = body["prompt"];
  p.extra = body.value("extra_data", Json::object());
  if (body.contains("client_id")) p.extra["client_id"] = body["client_id"];
  p.outputs_to_execute = Json::array();
  for (auto it = p.graph.begin(); it != p.graph.end(); ++it) {
    if (Classes().at(it.value()["class_type"].get<std::string>()).output) p.outputs_to_execute.push_back(it.key());
  }
  prompts_submitted_++;
  prompt_ids_.push_back(p.id);
  last_prompt_ = p.graph;
  Json reply = {{"prompt_id", p.id}, {"number", p.number}, {"node_errors", Json::object()}};
  pending_.push_back(std::move(p));
  max_outstanding_ = std::max(max_outstanding_, static_cast<int>(pending_.size() + running_.size()));
  StartPending(now);
  LocalResponse r = JsonReply(200, reply);
  r.delay = prompt_reply_delay_;  // queued now, answered later (SetPromptReplyDelay)
  return r;
}

LocalResponse FakeComfyui::PostUpload(const LocalRequest& req) {
  std::vector<LocalPart> parts = ParseMultipart(req);
  const LocalPart* file = nullptr;
  std::string subfolder;
  bool overwrite = false;
  for (const auto& part : parts) {
    if (part.name == "image") file = &part;
    if (part.name == "subfolder") subfolder = part.data;
    if (part.name == "overwrite") overwrite = part.data == "true" || part.data == "1";
  }
  if (!file || file->filename.empty()) return Bare(400);
  std::lock_guard<std::mutex> lock(mu_);
  std::string name = file->filename;
  auto full = [&](const std::string& n) { return subfolder.empty() ? n : subfolder + "/" + n; };
  if (!overwrite) {
    // Same name, other content: " (n)" before the extension; same content: reuse.
    std::string stem = name, ext;
    if (size_t dot = name.rfind('.'); dot != std::string::npos) {
      stem = name.substr(0, dot);
      ext = name.substr(dot);
    }
    for (int n = 1; inputs_.count(full(name)) && inputs_[full(name)] != file->data; ++n) {
      name = stem + " (" + std::to_string(n) + ")" + ext;
    }
  }
  inputs_[full(name)] = file->data;
  uploads_++;
  return JsonReply(200, Json{{"name", name}, {"subfolder", subfolder}, {"type", "input"}});
}

LocalResponse FakeComfyui::GetView(const LocalRequest& req) {
  std::string filename = req.QueryParam("filename");
  std::string subfolder = req.QueryParam("subfolder");
  std::string type = req.HasQueryParam("type") ? req.QueryParam("type") : "output";
  if (filename.empty() || filename[0] == '/' || filename.find("..") != std::string::npos ||
      subfolder.find("..") != std::string::npos) {
    return Bare(400);
  }
  std::lock_guard<std::mutex> lock(mu_);
  Advance(Now());
  const std::string* bytes = nullptr;
  if (type == "input") {
    auto it = inputs_.find(subfolder.empty() ? filename : subfolder + "/" + filename);
    if (it != inputs_.end()) bytes = &it->second;
  } else {
    auto it = files_.find(type + "/" + subfolder + "/" + filename);
    if (it != files_.end()) bytes = &it->second;
  }
  if (!bytes) return Bare(404);
  LocalResponse r;
  r.status = 200;
  r.headers = {{"Content-Type", ContentTypeFor(filename)}, {"Content-Disposition", "filename=\"" + filename + "\""}};
  r.body = *bytes;
  return r;
}

void FakeComfyui::Install(LocalServer& svr) {
  for (std::string pre : {"", "/api"}) {
    svr.Handle("GET", pre + "/system_stats", [this](const LocalRequest&) {
      Json body = {
          {"system",
           {{"os", "posix"},
            {"ram_total", 135148564480LL},
            {"ram_free", 134075088896LL},
            {"comfyui_version", "0.3.64"},
            {"required_frontend_version", "1.27.10"},
            {"installed_templates_version", nullptr},
            {"required_templates_version", "0.1.95"},
            {"python_version", "3.12.3 (fake)"},
            {"pytorch_version", "2.11.0+cu130"},
            {"embedded_python", false},
            {"argv", Json::array({"main.py", "--cpu", "--listen", "127.0.0.1", "--port", std::to_string(port_)})}}},
          {"devices", Json::array({{{"name", "cpu"},
                                    {"type", "cpu"},
                                    {"index", nullptr},
                                    {"vram_total", 135148564480LL},
                                    {"vram_free", 134075088896LL},
                                    {"torch_vram_total", 135148564480LL},
                                    {"torch_vram_free", 134075088896LL}}})}};
      return JsonReply(200, body);
    });
    svr.Handle("GET", pre + "/features", [](const LocalRequest&) {
      return JsonReply(200, Json{{"supports_preview_metadata", true}, {"max_upload_size", 104857600}});
    });
    svr.Handle("GET", pre + "/prompt", [this](const LocalRequest&) {
      std::lock_guard<std::mutex> lock(mu_);
      Advance(Now());
      return JsonReply(
          200, Json{{"exec_info", {{"queue_remaining", running_.size() + pending_.size() + finishing_.size()}}}});
    });
    svr.Handle("POST", pre + "/prompt", [this](const LocalRequest& req) { return PostPrompt(req); });
    svr.Handle("GET", pre + "/queue", [this](const LocalRequest&) {
      std::lock_guard<std::mutex> lock(mu_);
      Advance(Now());
      Json running = Json::array(), pending = Json::array();
      for (const Prompt& p : running_) running.push_back(QueueItem(p));
      for (const Finishing& f : finishing_) running.push_back(QueueItem(f.prompt));  // until task_done
      for (const Prompt& p : pending_) pending.push_back(QueueItem(p));
      return JsonReply(200, Json{{"queue_running", running}, {"queue_pending", pending}});
    });
    svr.Handle("POST", pre + "/queue", [this](const LocalRequest& req) {
      Json body = Json::parse(req.body, nullptr, false);
      std::lock_guard<std::mutex> lock(mu_);
      Advance(Now());
      if (body.is_object() && body.value("clear", false)) pending_.clear();
      if (body.is_object() && body.contains("delete") && body["delete"].is_array()) {
        for (const Json& id : body["delete"]) {
          queue_deletes_++;
          std::erase_if(pending_, [&](const Prompt& p) { return Json(p.id) == id; });
        }
      }
      return Bare(200);
    });
    svr.Handle("POST", pre + "/interrupt", [this](const LocalRequest& req) {
      Json body = Json::parse(req.body, nullptr, false);
      std::lock_guard<std::mutex> lock(mu_);
      double now = Now();
      Advance(now);
      interrupts_++;
      std::string id = body.is_object() ? body.value("prompt_id", "") : "";
      for (Prompt& p : running_) {
        if (id.empty() || p.id == id) {
          // The real server stops at the end of the running node; here: at once.
          p.interrupted = true;
          p.end = std::min(p.end, now);
        }
      }
      Advance(now);
      return Bare(200);
    });
    svr.Handle("GET", pre + "/history/*", [this, pre](const LocalRequest& req) {
      std::lock_guard<std::mutex> lock(mu_);
      Advance(Now());
      std::string id = req.path.substr(pre.size() + std::string("/history/").size());
      history_requests_++;
      Json body = Json::object();
      auto it = history_.find(id);
      if (it != history_.end()) body[it->first] = it->second;
      return JsonReply(200, body);
    });
    svr.Handle("GET", pre + "/history", [this](const LocalRequest& req) {
      std::lock_guard<std::mutex> lock(mu_);
      Advance(Now());
      size_t max_items = SIZE_MAX;
      if (req.HasQueryParam("max_items")) max_items = std::strtoul(req.QueryParam("max_items").c_str(), nullptr, 10);
      Json body = Json::object();
      for (auto it = history_order_.rbegin(); it != history_order_.rend() && body.size() < max_items; ++it) {
        if (history_.count(*it)) body[*it] = history_[*it];
      }
      return JsonReply(200, body);
    });
    svr.Handle("GET", pre + "/view", [this](const LocalRequest& req) { return GetView(req); });
    svr.Handle("GET", pre + "/ws", [this](const LocalRequest& req) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!ws_enabled_) return LocalResponse::Text(404, "404: Not Found");
      }
      if (LocalWebSocket::HandshakeReply(req).empty()) return LocalResponse::Text(400, "not a WebSocket upgrade");
      std::string sid = req.QueryParam("clientId");
      if (sid.empty()) sid = RandomHex(32);
      LocalResponse r;
      r.status = 101;
      r.takeover = [this, req, sid](int fd, std::string leftover) { AcceptSocket(fd, req, std::move(leftover), sid); };
      return r;
    });
    svr.Handle("POST", pre + "/upload/image", [this](const LocalRequest& req) { return PostUpload(req); });
  }
  // For end-to-end scripts driving `comfyrun_fakes comfyui`: the test switches over HTTP.
  svr.Handle("POST", "/_fake/comfy", [this](const LocalRequest& req) { return Control(req); });
  svr.Handle("GET", "/_fake/comfy", [this](const LocalRequest&) {
    std::lock_guard<std::mutex> lock(mu_);
    Advance(Now());
    return JsonReply(200, Json{{"promptsSubmitted", prompts_submitted_},
                               {"promptsLost", prompts_lost_},
                               {"interrupts", interrupts_},
                               {"queueDeletes", queue_deletes_},
                               {"running", running_.size()},
                               {"pending", pending_.size()},
                               {"promptIds", prompt_ids_}});
  });
}

LocalResponse FakeComfyui::Control(const LocalRequest& req) {
  Json body = Json::parse(req.body, nullptr, false);
  if (!body.is_object()) return JsonReply(400, Json{{"error", "a JSON object is expected"}});
  static const std::map<std::string, Fault> kFaults = {
      {"none", Fault::kNone},         {"execution_error", Fault::kExecutionError}, {"no_face", Fault::kNoFace},
      {"tiny", Fault::kTinyOutput},   {"lose_output", Fault::kLoseOutput},         {"corrupt", Fault::kCorruptOutput},
      {"small_png", Fault::kSmallPng}};
  if (body.contains("fault")) {
    auto it = body["fault"].is_string() ? kFaults.find(body["fault"].get<std::string>()) : kFaults.end();
    if (it == kFaults.end()) return JsonReply(400, Json{{"error", "unknown fault"}});
    SetFault(it->second, body.value("count", -1));
  }
  if (body.contains("runSeconds") && body["runSeconds"].is_number()) SetRunSeconds(body["runSeconds"].get<double>());
  if (body.contains("promptReplyDelay") && body["promptReplyDelay"].is_number())
    SetPromptReplyDelay(body["promptReplyDelay"].get<double>());
  if (body.contains("losePrompts") && body["losePrompts"].is_number()) LosePrompts(body["losePrompts"].get<int>());
  return JsonReply(200, Json{{"ok", true}});
}

int RunFakeComfyuiForever(int port, int slots, double run_seconds) {
  if (port != 0) {
    std::cerr << "fake comfyui: only ephemeral ports (port 0) are supported\n";
    return 2;
  }
  FakeComfyui::Options options;
  options.slots = slots;
  options.run_seconds = run_seconds;
  FakeComfyui fake(options);
  if (!fake.Start()) return 1;
  std::cout << "fake comfyui listening on " << fake.url() << std::endl;
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

}  // namespace comfyrun::testing
