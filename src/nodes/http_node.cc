// http: one HTTP request on the shared HttpLoop (no thread held while waiting); the reply's
// JSON fields named in `extract` become outputs.
#include <fmt/format.h>

#include "comfyrun/core/template.h"
#include "comfyrun/core/util.h"
#include "comfyrun/net/http_loop.h"
#include "comfyrun/nodes/builtin_nodes.h"

namespace comfyrun {
namespace {

/// What Cancel needs: the request in flight. Touched on the executor thread (Start, Cancel)
/// and read by the loop thread only through HttpLoop::Cancel, which is thread-safe.
struct HttpState {
  HttpLoop* http = nullptr;  ///< the loop the request runs on (set before it starts)
  std::atomic<uint64_t> request{0};
};

bool Extract(const Json& body, const std::string& path, Json* out, std::string* err) {
  auto ref = ParseReference(path, err);
  if (!ref) return false;
  ref->text = path;
  RootLookup lookup = [&body](const std::string& root) -> const Json* {
    return body.is_object() && body.contains(root) ? &body[root] : nullptr;
  };
  const Json* value = LookupReference(*ref, lookup, err);
  if (!value) {
    if (err->find("unknown node") != std::string::npos)
      *err = fmt::format("the reply has no field {}", Quote(ref->root));
    return false;
  }
  *out = *value;
  return true;
}

class HttpNode : public NodeKind {
 public:
  Mode mode() const override { return Mode::kAsync; }

  void Start(std::shared_ptr<NodeContext> ctx, LoopServices loop, std::function<void(NodeResult)> done) override {
    if (!loop.http) {
      done(NodeResult::Failure(ErrorType::kInternal, "http node started without an HTTP loop"));
      return;
    }
    const Json& in = ctx->inputs;
    HttpRequest request;
    request.method = in.value("method", std::string("GET"));
    request.url = in["url"].get<std::string>();
    request.timeout = ctx->attempt_timeout > 0 ? ctx->attempt_timeout : 300;
    // Credentials the user put in `headers` go only to the URL's own host, as libcurl and
    // browsers do: a redirect to another host or port drops them.
    request.secret_headers = {"authorization", "proxy-authorization", "cookie", "x-api-key",
                              "api-key",       "x-goog-api-key"};
    bool has_content_type = false;
    if (in.contains("headers") && in["headers"].is_object())
      for (auto it = in["headers"].begin(); it != in["headers"].end(); ++it) {
        std::string value = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
        request.headers.emplace_back(it.key(), value);
        has_content_type = has_content_type || EqualsIgnoreCase(it.key(), "content-type");
      }
    if (in.contains("body") && !in["body"].is_null()) {
      if (in["body"].is_string()) {
        request.body = in["body"].get<std::string>();
      } else {
        request.body = in["body"].dump();
        if (!has_content_type) request.headers.emplace_back("Content-Type", "application/json");
      }
    }
    auto state = std::make_shared<HttpState>();
    state->http = loop.http;
    ctx->kind_state = state;
    Json ok_status = in.contains("okStatus") ? in["okStatus"] : Json();
    Json extract = in.contains("extract") ? in["extract"] : Json::object();
    state->request = loop.http->Send(std::move(request), [ctx, done, ok_status, extract](const HttpResponse& response) {
      done(Finish(*ctx, response, ok_status, extract));
    });
  }

  void Cancel(std::shared_ptr<NodeContext> ctx) override {
    ctx->cancel_requested = true;
    if (auto state = std::static_pointer_cast<HttpState>(ctx->kind_state)) state->http->Cancel(state->request.load());
  }

 private:
  static bool EqualsIgnoreCase(const std::string& a, const std::string& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (tolower(static_cast<unsigned char>(a[i])) != tolower(static_cast<unsigned char>(b[i]))) return false;
    return true;
  }

  static NodeResult Finish(const NodeContext& ctx, const HttpResponse& response, const Json& ok_status,
                           const Json& extract) {
    if (response.transport_error != ErrorType::kNone) {
      // The loop's message already starts with the method and URL ("GET http://...: ...").
      NodeResult r = NodeResult::Failure(response.transport_error,
                                         !response.error.empty()
                                             ? response.error
                                             : fmt::format("{} {}: transfer failed", ctx.inputs.value("method", "GET"),
                                                           Redactor::Redact(ctx.inputs["url"].get<std::string>())));
      r.retry_after = response.retry_after;
      return r;
    }
    bool ok = response.status >= 200 && response.status < 300;
    if (ok_status.is_array()) {
      ok = false;
      for (const auto& s : ok_status) ok = ok || (s.is_number_integer() && s.get<int>() == response.status);
    }
    Json body = Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) body = Json(response.body);
    if (!ok) {
      std::string snippet = response.body.substr(0, 200);
      NodeResult r = NodeResult::Failure(
          ClassifyHttpError(response),
          fmt::format("HTTP {} from {}{}", response.status, Redactor::Redact(ctx.inputs["url"].get<std::string>()),
                      snippet.empty() ? "" : ": " + Redactor::Redact(snippet)));
      r.retry_after = response.retry_after;
      r.details = {{"status", response.status}};
      return r;
    }
    Json outputs = {{"status", response.status}, {"body", body}, {"headers", Json::object()}};
    for (const auto& [name, value] : response.headers) outputs["headers"][name] = value;
    for (auto it = extract.begin(); it != extract.end(); ++it) {
      Json value;
      std::string err;
      if (!Extract(body, it.value().get<std::string>(), &value, &err))
        return NodeResult::Failure(ErrorType::kOutputInvalid, fmt::format("extract {}: {}", it.key(), err));
      outputs[it.key()] = value;
    }
    // Invalid UTF-8 in a reply must not break the journal's JSON.
    try {
      (void)outputs.dump();
    } catch (const std::exception&) {
      outputs["body"] = Json::parse(Json(response.body).dump(-1, ' ', false, Json::error_handler_t::replace));
    }
    return NodeResult::Success(std::move(outputs));
  }
};
}  // namespace

NodeKind* HttpNodeKind() {
  static HttpNode kind;
  return &kind;
}

}  // namespace comfyrun
