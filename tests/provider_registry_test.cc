// The provider registry (providers/provider.h): every row is complete and consistent, and
// what used to be written per provider (the node-type table, the kind lookup, pool depths and
// rates, Config's variables, the preflight message) comes from the rows.
#include <doctest/doctest.h>

#include <set>

#include "comfyrun/core/config.h"
#include "comfyrun/core/node_registry.h"
#include "comfyrun/core/rate.h"
#include "comfyrun/core/workflow.h"
#include "comfyrun/engine/node_kind.h"
#include "comfyrun/providers/preflight.h"
#include "comfyrun/providers/provider.h"

namespace comfyrun {
namespace {

TEST_SUITE("provider_registry") {
  TEST_CASE("every provider has a unique name, registered node types, a pool and its variables") {
    std::set<std::string> names;
    REQUIRE(Providers().size() >= 6);
    for (const ProviderDescriptor& p : Providers()) {
      CAPTURE(p.name);
      CHECK(names.insert(p.name).second);
      REQUIRE_FALSE(p.node_types.empty());
      for (const ProviderNodeType& t : p.node_types) {
        NodeTypeSpec spec = t.spec();
        const NodeTypeSpec* installed = FindNodeType(spec.name);
        REQUIRE(installed != nullptr);
        CHECK(installed->default_pool == p.name);
        CHECK(installed->default_pool_depth == p.pool_depth);
        CHECK(FindNodeKind(spec.name) == t.kind());
        CHECK(t.kind() != nullptr);
        CHECK(ProviderOfType(spec.name) == &p);
      }
      for (const std::string& type : p.also_runs) CHECK(FindNodeType(type) != nullptr);
      // A pool of its own, bounded: by a depth, or (ComfyUI) by its servers' slots.
      if (p.servers_variable.empty())
        CHECK(p.pool_depth > 0);
      else
        CHECK(p.pool_depth == 0);
      // Credentials: an API key with its variable and a base URL with a default, or servers.
      if (p.servers_variable.empty()) {
        CHECK_FALSE(p.key.name.empty());
        CHECK(p.key.kind == ConfigVariable::Kind::kSecret);
        CHECK_FALSE(p.base_url.name.empty());
        CHECK(p.base_url.kind == ConfigVariable::Kind::kUrl);
        std::string why;
        CHECK(CheckServerUrl(p.base_url.default_value, &why));
      }
      // How an attempt is made and priced.
      CHECK((bool(p.make_job) || bool(p.queue_protocol) || !p.servers_variable.empty()));
      if (p.make_job || p.queue_protocol) CHECK(bool(p.estimate_cost));
      CHECK(FindProvider(p.name) == &p);
    }
    CHECK(FindProvider("nobody") == nullptr);
  }

  TEST_CASE("node types resolve to kinds; built-in types belong to no provider") {
    for (const NodeTypeSpec& spec : AllNodeTypes()) {
      CAPTURE(spec.name);
      CHECK(FindNodeKind(spec.name) != nullptr);
    }
    for (const char* builtin : {"value", "shell", "http", "video_stitch", "media_probe"}) {
      CHECK(FindNodeType(builtin) != nullptr);
      CHECK(ProviderOfType(builtin) == nullptr);
    }
    CHECK(FindNodeType("image_generation") == FindNodeType("character_image"));  // an alias
    CHECK(FindNodeKind("no_such_type") == nullptr);
  }

  TEST_CASE("pool rates and Config's variables come from the rows") {
    std::map<std::string, double> rates = DefaultPoolRates();
    for (const ProviderDescriptor& p : Providers()) {
      CAPTURE(p.name);
      if (p.pool_rate > 0)
        CHECK(rates.at(p.name) == doctest::Approx(p.pool_rate));
      else
        CHECK(rates.count(p.name) == 0);
    }
    CHECK(rates.at("replicate") == doctest::Approx(10.0));  // documented: 600 creates a minute

    std::vector<ConfigVariable> variables = ProviderConfigVariables();
    std::set<std::string> seen;
    for (const ConfigVariable& v : variables) CHECK(seen.insert(v.name).second);  // shared keys once
    for (const ProviderDescriptor& p : Providers())
      if (!p.key.name.empty()) CHECK(seen.count(p.key.name) == 1);

    Config config;  // hand-made: no variables declared, base URLs fall back to the row's default
    CHECK(ProviderBaseUrl(config, "sora") == "https://api.openai.com/v1");
    config.Set("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/");
    CHECK(ProviderBaseUrl(config, "sora") == "http://127.0.0.1:9/v1");
    config.Set("GEMINI_API_KEY", "key-123456");
    CHECK(ProviderKey(config, "veo") == "key-123456");  // veo and gemini share the key
    CHECK(ProviderKey(config, "gemini") == "key-123456");
    CHECK(ProviderKey(config, "comfyui").empty());
  }

  TEST_CASE("the preflight message for a missing key comes from the row") {
    Json doc = Json::parse(R"({"nodes": [
      {"id": "f", "type": "fal", "inputs": {"model": "fal-ai/flux/schnell"}},
      {"id": "r", "type": "replicate", "inputs": {"model": "owner/name"}},
      {"id": "v", "type": "video_generation", "inputs": {"prompt": "p", "model": "not-in-the-table"}},
      {"id": "x", "type": "value", "inputs": {"a": 1}}
    ]})");
    Workflow wf;
    std::vector<Diagnostic> diags;
    REQUIRE(BuildWorkflow(doc, "keys.json", {}, &wf, &diags));
    Config none;
    auto missing = MissingProviderKeys(wf, none);
    REQUIRE(missing.size() == 3);
    const ProviderDescriptor& fal = *FindProvider("fal");
    CHECK(missing[0] == MissingKeyMessage("f", {&fal}));
    CHECK(missing[0] == "node 'f' (fal) needs FAL_KEY; set it in the environment or .env, or run with --offline");
    CHECK(missing[1].find("'r' (replicate) needs REPLICATE_API_TOKEN") != std::string::npos);
    // A model the table does not know: any provider that runs the type will do.
    CHECK(missing[2].find("'v' (veo or sora) needs GEMINI_API_KEY or OPENAI_API_KEY") != std::string::npos);

    Config some;
    some.Set("FAL_KEY", "fal-key-123456");
    some.Set("OPENAI_API_KEY", "sk-123456");
    missing = MissingProviderKeys(wf, some);
    REQUIRE(missing.size() == 1);
    CHECK(missing[0].find("'r' (replicate)") != std::string::npos);
  }

  TEST_CASE("a journaled submission re-attaches only to its own provider") {
    const ProviderDescriptor& veo = *FindProvider("veo");
    CHECK(JournaledSubmissionId(veo, Json{{"provider", "veo"}, {"operation", "op/1"}}) == "op/1");
    CHECK(JournaledSubmissionId(veo, Json{{"provider", "sora"}, {"operation", "op/1"}}).empty());
    CHECK(JournaledSubmissionId(veo, Json{{"provider", "veo"}, {"operation", 5}}).empty());
    CHECK(JournaledSubmissionId(veo, Json()).empty());
    CHECK(JournaledSubmissionId(*FindProvider("gemini"), Json{{"provider", "gemini"}}).empty());
  }
}

}  // namespace
}  // namespace comfyrun
