// Implementation details: every JSON parse uses allow_exceptions=false and every access checks
// the type first, so a surprising server reply becomes an error string, never an exception.
#include "comfyrun/comfyui/protocol.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>

#include "comfyrun/core/util.h"

namespace comfyrun {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string JoinKeys(const Json& obj, size_t limit = 12) {
  std::string out;
  size_t n = 0;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (n++ == limit) {
      out += ", ...";
      break;
    }
    if (!out.empty()) out += ", ";
    out += it.key();
  }
  return out;
}

std::string StringField(const Json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  if (it == obj.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_null()) return "";
  return it->dump();
}

bool IsLocalFile(const std::string& path) {
  if (path.empty() || path.size() > 4096) return false;
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

}  // namespace

bool LoadComfyGraph(const Json& workflow, Json* graph, std::string* err) {
  if (workflow.is_string()) {
    std::string path = workflow.get<std::string>();
    std::string text, read_err;
    if (!ReadFile(path, &text, &read_err)) {
      *err = "reading workflow " + Quote(path) + ": " + read_err;
      return false;
    }
    *graph = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (graph->is_discarded()) {
      *err = "workflow " + Quote(path) + " is not valid JSON";
      return false;
    }
  } else if (workflow.is_object()) {
    *graph = workflow;
  } else {
    *err = "workflow must be an API-format graph object or the path of a workflow_api.json";
    return false;
  }
  if (!graph->is_object() || graph->empty()) {
    *err = "workflow is not an API-format graph ({\"<id>\": {\"class_type\", \"inputs\"}})";
    return false;
  }
  if (graph->contains("nodes") && graph->contains("links")) {
    *err = "workflow is a UI-format export; export it with \"Save (API Format)\" in ComfyUI";
    return false;
  }
  for (auto it = graph->begin(); it != graph->end(); ++it) {
    const Json& node = it.value();
    if (!node.is_object() || !node.contains("class_type") || !node["class_type"].is_string()) {
      *err = "workflow node " + Quote(it.key()) + " has no class_type (is this an API-format graph?)";
      return false;
    }
    if (node.contains("inputs") && !node["inputs"].is_object()) {
      *err = "workflow node " + Quote(it.key()) + ": inputs must be an object";
      return false;
    }
  }
  return true;
}

bool ApplyComfyOverrides(Json* graph, const Json& set, std::string* err) {
  if (set.is_null()) return true;
  if (!set.is_object()) {
    *err = "set must be an object {\"<comfy node id>.<input>\": value}";
    return false;
  }
  for (auto it = set.begin(); it != set.end(); ++it) {
    const std::string& key = it.key();
    size_t dot = key.rfind('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == key.size()) {
      *err = "set key " + Quote(key) + " must be \"<comfy node id>.<input name>\"";
      return false;
    }
    std::string id = key.substr(0, dot);
    std::string input = key.substr(dot + 1);
    auto node = graph->find(id);
    if (node == graph->end()) {
      std::vector<std::string> ids;
      for (auto n = graph->begin(); n != graph->end(); ++n) ids.push_back(n.key());
      std::string hint = ClosestMatch(id, ids);
      *err = "set " + Quote(key) + ": the workflow has no node " + Quote(id) +
             (hint.empty() ? "" : " (did you mean " + Quote(hint) + "?)") + "; its nodes are " + JoinKeys(*graph);
      return false;
    }
    Json& inputs = (*node)["inputs"];
    if (!inputs.is_object()) inputs = Json::object();
    if (!inputs.contains(input)) {
      std::vector<std::string> names;
      for (auto n = inputs.begin(); n != inputs.end(); ++n) names.push_back(n.key());
      std::string hint = ClosestMatch(input, names);
      *err = "set " + Quote(key) + ": node " + id + " (" + (*node)["class_type"].get<std::string>() +
             ") has no input " + Quote(input) + (hint.empty() ? "" : " (did you mean " + Quote(hint) + "?)") +
             (names.empty() ? "" : "; its inputs are " + JoinKeys(inputs));
      return false;
    }
    inputs[input] = it.value();
  }
  return true;
}

std::vector<ComfyUpload> FindComfyUploads(const Json& graph) {
  static const char* kUploadInputs[] = {"image", "mask", "video", "audio", "file"};
  std::vector<ComfyUpload> out;
  if (!graph.is_object()) return out;
  for (auto it = graph.begin(); it != graph.end(); ++it) {
    const Json& node = it.value();
    std::string cls = StringField(node, "class_type");
    if (cls.find("Load") == std::string::npos) continue;
    auto inputs = node.find("inputs");
    if (inputs == node.end() || !inputs->is_object()) continue;
    for (const char* name : kUploadInputs) {
      auto v = inputs->find(name);
      if (v == inputs->end() || !v->is_string()) continue;
      std::string path = v->get<std::string>();
      if (IsLocalFile(path)) out.push_back({it.key(), name, path});
    }
  }
  return out;
}

bool ComfySeedsFixed(const Json& graph) {
  if (!graph.is_object()) return true;
  for (const Json& node : graph) {
    if (!node.is_object() || !node.contains("inputs") || !node["inputs"].is_object()) continue;
    const Json& inputs = node["inputs"];
    for (const char* name : {"seed", "noise_seed"}) {
      auto it = inputs.find(name);
      if (it != inputs.end() && !it->is_number() && !it->is_string()) return false;  // a link, or null
    }
  }
  return true;
}

std::optional<std::string> ParseUploadReply(const std::string& body, std::string* err) {
  Json reply = Json::parse(body, nullptr, false);
  std::string name = StringField(reply, "name");
  if (!reply.is_object() || name.empty()) {
    *err = "/upload/image answered without a file name";
    return std::nullopt;
  }
  std::string sub = StringField(reply, "subfolder");
  return sub.empty() ? name : sub + "/" + name;
}

Json BuildPromptBody(const Json& graph, const std::string& client_id, const std::string& prompt_id) {
  Json body = Json::object();
  body["prompt"] = graph;
  if (!client_id.empty()) body["client_id"] = client_id;
  if (!prompt_id.empty()) body["prompt_id"] = prompt_id;
  return body;
}

ComfyPromptReply ParsePromptReply(const HttpResponse& r) {
  ComfyPromptReply out;
  if (r.transport_error != ErrorType::kNone) {
    out.error = r.transport_error;
    out.message = "POST /prompt: " + (r.error.empty() ? std::string(ErrorTypeName(r.transport_error)) : r.error);
    return out;
  }
  Json body = Json::parse(r.body, nullptr, false);
  if (r.status == 200) {
    out.prompt_id = StringField(body, "prompt_id");
    if (out.prompt_id.empty()) {
      out.error = ErrorType::kUnavailable;
      out.message = "POST /prompt answered 200 without a prompt_id";
    } else if (body.contains("node_errors") && body["node_errors"].is_object() && !body["node_errors"].empty()) {
      out.details["nodeErrors"] = body["node_errors"];  // some outputs were dropped
    }
    return out;
  }
  if (r.status == 400 && body.is_object()) {
    out.error = ErrorType::kInvalidInput;
    const Json& e = body.contains("error") ? body["error"] : Json();
    std::string msg = e.is_string() ? e.get<std::string>() : StringField(e, "message");
    std::string det = e.is_object() ? StringField(e, "details") : "";
    std::string text = "ComfyUI rejected the graph: " + (msg.empty() ? std::string("validation failed") : msg);
    if (!det.empty() && det != msg) text += " (" + det + ")";
    Json ids = Json::array();
    if (body.contains("node_errors") && body["node_errors"].is_object()) {
      const Json& ne = body["node_errors"];
      for (auto it = ne.begin(); it != ne.end(); ++it) {
        ids.push_back(it.key());
        std::string cls = StringField(it.value(), "class_type");
        text += "; node " + it.key() + (cls.empty() ? "" : " (" + cls + ")") + ":";
        const Json& errors = it.value().is_object() && it.value().contains("errors") ? it.value()["errors"] : Json();
        bool first = true;
        if (errors.is_array()) {
          for (const Json& one : errors) {
            std::string m = StringField(one, "message");
            std::string d = StringField(one, "details");
            text += std::string(first ? " " : ", ") + m + (d.empty() ? "" : ": " + d);
            first = false;
          }
        }
      }
      out.details["nodeErrors"] = ne;
    }
    out.details["comfyError"] = e;
    out.details["comfyNodeIds"] = ids;
    out.message = text;
    return out;
  }
  HttpResponse copy = r;
  out.error = ClassifyHttpError(copy);
  if (out.error == ErrorType::kNone) out.error = ErrorType::kUnavailable;
  std::string snippet = r.body.substr(0, 200);
  for (char& c : snippet)
    if (c == '\n' || c == '\r') c = ' ';
  out.message = "POST /prompt answered HTTP " + std::to_string(r.status) + (snippet.empty() ? "" : ": " + snippet);
  return out;
}

std::string ClassifyComfyFile(const std::string& key, bool animated, const std::string& filename) {
  std::string ext = Lower(std::filesystem::path(filename).extension().string());
  static const std::set<std::string> kVideo = {".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif", ".m4v"};
  static const std::set<std::string> kAudio = {".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac"};
  static const std::set<std::string> kImage = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".exr"};
  if (key == "audio" || kAudio.count(ext)) return "audio";
  if (key == "gifs" || key == "videos" || key == "video" || kVideo.count(ext)) return "video";
  if (key == "images" || key == "image") return animated ? "video" : "image";
  if (kImage.count(ext)) return "image";
  return "file";
}

std::optional<ComfyHistory> ParseHistoryReply(const std::string& body, const std::string& prompt_id, std::string* err) {
  Json reply = Json::parse(body, nullptr, false);
  if (!reply.is_object()) {
    *err = "/history answered something that is not a JSON object";
    return std::nullopt;
  }
  ComfyHistory h;
  auto entry_it = reply.find(prompt_id);
  if (entry_it == reply.end() || !entry_it->is_object()) return h;  // {}: not finished or unknown
  const Json& entry = *entry_it;
  const Json& status = entry.contains("status") ? entry["status"] : Json();
  std::string status_str = StringField(status, "status_str");
  if (status_str == "error") {
    h.state = ComfyHistory::State::kFailed;
    h.error = ErrorType::kExecution;
    h.message = "ComfyUI reported an error";
    const Json& messages = status.contains("messages") ? status["messages"] : Json();
    if (messages.is_array()) {
      for (const Json& m : messages) {
        if (!m.is_array() || m.size() < 2 || !m[0].is_string()) continue;
        std::string event = m[0].get<std::string>();
        const Json& data = m[1];
        std::string node = StringField(data, "node_id");
        std::string type = StringField(data, "node_type");
        std::string where = node.empty() ? "" : "node " + node + (type.empty() ? "" : " (" + type + ")");
        if (event == "execution_error") {
          std::string ex = StringField(data, "exception_message");
          std::string ex_type = StringField(data, "exception_type");
          h.message = "ComfyUI " + (where.empty() ? std::string("execution") : where) +
                      " failed: " + (ex_type.empty() ? "" : ex_type + ": ") + Trim(ex);
          h.details = {{"node", node}, {"nodeType", type}, {"exceptionType", ex_type}, {"exceptionMessage", ex}};
          if (IsNoFaceMessage(ex)) h.error = ErrorType::kNoFace;
          break;
        }
        if (event == "execution_interrupted") {
          h.message = "ComfyUI prompt was interrupted" + (where.empty() ? "" : " at " + where);
          h.details = {{"node", node}, {"nodeType", type}, {"interrupted", true}};
        }
      }
    }
    return h;
  }
  h.state = ComfyHistory::State::kSuccess;
  const Json& outputs = entry.contains("outputs") ? entry["outputs"] : Json();
  if (!outputs.is_object()) return h;
  for (auto node = outputs.begin(); node != outputs.end(); ++node) {
    if (!node->is_object()) continue;
    bool animated_all = false;
    std::vector<bool> animated;
    if (node->contains("animated") && (*node)["animated"].is_array()) {
      for (const Json& a : (*node)["animated"]) animated.push_back(a.is_boolean() && a.get<bool>());
      animated_all = !animated.empty() && std::all_of(animated.begin(), animated.end(), [](bool b) { return b; });
    }
    for (auto key = node->begin(); key != node->end(); ++key) {
      if (!key->is_array()) continue;
      size_t index = 0;
      for (const Json& item : *key) {
        if (!item.is_object() || !item.contains("filename")) {
          ++index;
          continue;
        }
        ComfyOutputFile f;
        f.node = node.key();
        f.filename = StringField(item, "filename");
        f.subfolder = StringField(item, "subfolder");
        f.type = StringField(item, "type");
        if (f.type.empty()) f.type = "output";
        bool anim = index < animated.size() ? animated[index] : animated_all;
        f.kind = ClassifyComfyFile(key.key(), anim, f.filename);
        if (!f.filename.empty()) h.files.push_back(std::move(f));
        ++index;
      }
    }
  }
  return h;
}

std::optional<ComfyQueuePosition> ParseQueueReply(const std::string& body, const std::string& prompt_id,
                                                  std::string* err) {
  Json reply = Json::parse(body, nullptr, false);
  if (!reply.is_object()) {
    *err = "/queue answered something that is not a JSON object";
    return std::nullopt;
  }
  auto id_of = [](const Json& item) -> std::string {
    if (item.is_array() && item.size() >= 2 && item[1].is_string()) return item[1].get<std::string>();
    return "";
  };
  ComfyQueuePosition pos;
  int running = 0;
  if (reply.contains("queue_running") && reply["queue_running"].is_array()) {
    for (const Json& item : reply["queue_running"]) {
      ++running;
      if (id_of(item) == prompt_id) pos.state = ComfyQueuePosition::State::kRunning;
    }
  }
  if (pos.state == ComfyQueuePosition::State::kRunning) return pos;
  if (reply.contains("queue_pending") && reply["queue_pending"].is_array()) {
    // The server runs pending items by their number (item[0]), lowest first.
    const Json& pending = reply["queue_pending"];
    double mine = 0;
    bool found = false;
    for (const Json& item : pending) {
      if (id_of(item) == prompt_id) {
        found = true;
        mine = item[0].is_number() ? item[0].get<double>() : 0;
      }
    }
    if (found) {
      pos.state = ComfyQueuePosition::State::kPending;
      pos.ahead = running;
      for (const Json& item : pending) {
        if (id_of(item) != prompt_id && item[0].is_number() && item[0].get<double>() < mine) pos.ahead++;
      }
    }
  }
  return pos;
}

bool IsNoFaceMessage(std::string_view message) {
  std::string m = Lower(message);
  if (m.find("no face") != std::string::npos || m.find("0 faces") != std::string::npos ||
      m.find("zero faces") != std::string::npos) {
    return true;
  }
  if (m.find("face") == std::string::npos) return false;
  static const char* kMissing[] = {"not found",        "not detected",     "not be detected", "not be found",
                                   "failed to detect", "could not detect", "couldn't detect", "could not find",
                                   "couldn't find",    "unable to detect", "unable to find",  "cannot find",
                                   "can't find",       "no detect"};
  for (const char* p : kMissing)
    if (m.find(p) != std::string::npos) return true;
  return false;
}

std::string ComfyViewUrl(const std::string& server, const ComfyOutputFile& file) {
  return server + "/view?filename=" + PercentEncode(file.filename) + "&subfolder=" + PercentEncode(file.subfolder) +
         "&type=" + PercentEncode(file.type);
}

std::string LocalOutputName(const ComfyOutputFile& file, std::set<std::string>* used) {
  auto safe = [](std::string s) {
    for (char& c : s) {
      unsigned char u = static_cast<unsigned char>(c);
      if (!(std::isalnum(u) || c == '-' || c == '_' || c == '.')) c = '_';
    }
    while (!s.empty() && s.front() == '.') s.erase(s.begin());
    return s;
  };
  std::string base = std::filesystem::path(file.filename).filename().string();
  std::string name = safe(file.node) + "_" + safe(base);
  if (name.size() > 200) name = name.substr(name.size() - 200);
  std::string stem = name, ext;
  size_t dot = name.rfind('.');
  if (dot != std::string::npos && dot > 0) {
    stem = name.substr(0, dot);
    ext = name.substr(dot);
  }
  std::string candidate = name;
  for (int n = 2; used->count(candidate); ++n) candidate = stem + "-" + std::to_string(n) + ext;
  used->insert(candidate);
  return candidate;
}

std::string NewUuid4() {
  std::string h = RandomHex(32);
  h[12] = '4';
  static const char* kVariant = "89ab";
  h[16] = kVariant[std::stoi(h.substr(16, 1), nullptr, 16) & 3];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

}  // namespace comfyrun
