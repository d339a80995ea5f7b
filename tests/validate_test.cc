// A table of broken workflows, each with the one diagnostic it must give (message, node id,
// JSON path and hint), plus the checks that need more than one diagnostic.
#include "comfyrun/core/validate.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "comfyrun/core/workflow.h"
#include "comfyrun/providers/models.h"

using namespace comfyrun;

namespace {

struct BrokenCase {
  const char* name;
  std::string json;
  std::vector<ParamOverride> params;
  std::string node;
  std::string path;
  std::string message;
  std::string hint;
};

std::vector<Diagnostic> Errors(const std::string& json, const std::vector<ParamOverride>& params = {}) {
  Workflow wf;
  std::vector<Diagnostic> diags;
  bool ok = LoadWorkflowText(json, "w.json", params, &wf, &diags);
  std::vector<Diagnostic> errors;
  for (const auto& d : diags)
    if (d.severity == Severity::kError) errors.push_back(d);
  CHECK(ok == errors.empty());
  return errors;
}

// A valid two-node prefix that cases extend: an image and a video made from it.
const std::string kVideo1 =
    R"({"id": "video_segment_1", "type": "video_generation", "inputs": {"prompt": "a walk", "duration": 4}})";

const std::vector<BrokenCase> kCases = {
    {"not JSON",
     R"({"nodes": [
  {"id": "a",, "type": "value"}
]})",
     {},
     "",
     "",
     "not valid JSON at line 2, column 14: syntax error while parsing object key - unexpected ','; expected string "
     "literal",
     ""},
    {"unterminated JSON",
     "{\"nodes\": [",
     {},
     "",
     "",
     "not valid JSON at line 1, column 12: syntax error while parsing value - unexpected end of input; expected '[', "
     "'{', or a literal",
     ""},
    {"empty text",
     " \n\t",
     {},
     "",
     "",
     "file is empty",
     "a workflow is a JSON object: {\"workflowId\": ..., \"nodes\": [...]}"},
    {"top level array",
     R"([{"id": "a", "type": "value"}])",
     {},
     "",
     "$",
     "a workflow is a JSON object with \"nodes\", got array",
     ""},
    {"top level string", R"("nodes")", {}, "", "$", "a workflow is a JSON object with \"nodes\", got string", ""},
    {"A/B test file given to validate",
     R"({"testId": "t", "variants": [{"variantId": "v", "nodes": []}]})",
     {},
     "",
     "$.variants",
     "this is an A/B test definition, not a workflow",
     "run it with `comfyrun abtest w.json`"},
    {"missing nodes",
     R"({"workflowId": "w"})",
     {},
     "",
     "$",
     "workflow has no \"nodes\"",
     "add \"nodes\": [ {\"id\": ..., \"type\": ..., \"inputs\": {...}} ]"},
    {"misspelt nodes",
     R"({"workflowId": "w", "node": []})",
     {},
     "",
     "$",
     "workflow has no \"nodes\"",
     "rename 'node' to 'nodes'"},
    {"nodes not a list",
     R"({"nodes": {"a": {"type": "value"}}})",
     {},
     "",
     "$.nodes",
     "nodes is a list, got object",
     ""},
    {"no nodes at all", R"({"nodes": []})", {}, "", "$.nodes", "workflow has no nodes", ""},
    {"node not an object",
     R"({"nodes": ["a"]})",
     {},
     "",
     "$.nodes[0]",
     "a node is an object with \"id\", \"type\" and \"inputs\", got string",
     ""},
    {"missing id",
     R"({"nodes": [{"type": "value", "inputs": {}}]})",
     {},
     "",
     "$.nodes[0]",
     "node has no \"id\"",
     "give every node a unique id, e.g. \"id\": \"video_1\""},
    {"id not a string",
     R"({"nodes": [{"id": 7, "type": "value"}]})",
     {},
     "",
     "$.nodes[0].id",
     "id is a string, got number",
     ""},
    {"duplicate id",
     R"({"nodes": [{"id": "a", "type": "value"}, {"id": "a", "type": "value"}]})",
     {},
     "a",
     "$.nodes[1].id",
     "duplicate node id 'a'",
     "node ids must be unique"},
    {"odd characters in an id",
     R"({"nodes": [{"id": "clip 1/$x\n", "type": "value"}]})",
     {},
     "",
     "$.nodes[0].id",
     "node id 'clip 1/$x\\x0a' has characters a template cannot name",
     "use letters, digits, '_' and '-' (at most 128)"},
    {"reserved id params",
     R"({"nodes": [{"id": "params", "type": "value"}]})",
     {},
     "params",
     "$.nodes[0].id",
     "'params' is reserved for templates",
     "choose another id"},
    {"reserved id run",
     R"({"nodes": [{"id": "run", "type": "value"}]})",
     {},
     "run",
     "$.nodes[0].id",
     "'run' is reserved for templates",
     "choose another id"},
    {"unknown node key",
     R"({"nodes": [{"id": "a", "type": "value", "dependOn": []}]})",
     {},
     "a",
     "$.nodes[0].dependOn",
     "unknown key 'dependOn'; did you mean 'dependsOn'?",
     "known keys: id, type, inputs, outputs, dependsOn, retry, timeout, pool, cache, description, name, metadata"},
    {"unknown type with did-you-mean",
     R"({"nodes": [{"id": "a", "type": "vidoe_generation", "inputs": {}}]})",
     {},
     "a",
     "$.nodes[0].type",
     "unknown node type 'vidoe_generation'; did you mean 'video_generation'?",
     "run `comfyrun nodes` to list the types"},
    {"unknown type far from any",
     R"({"nodes": [{"id": "a", "type": "teleport"}]})",
     {},
     "a",
     "$.nodes[0].type",
     "unknown node type 'teleport'",
     "run `comfyrun nodes` to list the types"},
    {"missing required input",
     R"({"nodes": [{"id": "v", "type": "video_generation", "inputs": {"duration": 4}}]})",
     {},
     "v",
     "$.nodes[0].inputs",
     "missing required input 'prompt' (what the video shows)",
     "add \"prompt\": ... to inputs"},
    {"one of two inputs required",
     R"({"nodes": [{"id": "i", "type": "character_image", "inputs": {}}]})",
     {},
     "i",
     "$.nodes[0].inputs",
     "character_image needs one of these inputs: characterPrompt, prompt",
     ""},
    {"unknown input with did-you-mean",
     R"({"nodes": [{"id": "v", "type": "video_generation", "inputs": {"prompt": "p", "durration": 4}}]})",
     {},
     "v",
     "$.nodes[0].inputs.durration",
     "video_generation has no input 'durration'; did you mean 'duration'?",
     "its inputs: prompt, model, duration, aspectRatio, resolution, characterImagePath, imagePath, negativePrompt, "
     "fps, seed, pollInterval"},
    {"inputs not an object",
     R"({"nodes": [{"id": "a", "type": "value", "inputs": ["x"]}]})",
     {},
     "a",
     "$.nodes[0].inputs",
     "inputs is an object, got array",
     ""},
    {"wrong input type",
     R"({"nodes": [{"id": "v", "type": "video_generation", "inputs": {"prompt": "p", "duration": "8s"}}]})",
     {},
     "v",
     "$.nodes[0].inputs.duration",
     "duration expects a number, got string \"8s\"",
     "write 8 (a number)"},
    {"wrong input type integer",
     R"({"nodes": [{"id": "i", "type": "character_image", "inputs": {"prompt": "p", "seed": 1.5}}]})",
     {},
     "i",
     "$.nodes[0].inputs.seed",
     "seed expects an integer, got number 1.5",
     ""},
    {"value not in allowed list",
     R"({"nodes": [{"id": "v", "type": "video_generation", "inputs": {"prompt": "p", "aspectRatio": "16:8"}}]})",
     {},
     "v",
     "$.nodes[0].inputs.aspectRatio",
     "aspectRatio cannot be \"16:8\"; did you mean '16:9'?",
     "one of: 16:9, 9:16"},
    {"value not in allowed list, no close match",
     R"({"nodes": [{"id": "v", "type": "video_generation", "inputs": {"prompt": "p", "resolution": "8K UHD"}}]})",
     {},
     "v",
     "$.nodes[0].inputs.resolution",
     "resolution cannot be \"8K UHD\"",
     "one of: 720p, 1080p, 4k"},
    {"number out of range",
     R"({"nodes": [{"id": "v", "type": "video_generation", "inputs": {"prompt": "p", "duration": 600}}]})",
     {},
     "v",
     "$.nodes[0].inputs.duration",
     "duration is 600; it must be between 1 and 60",
     ""},
    {"number below a minimum only",
     R"({"nodes": [{"id": "m", "type": "media_probe", "inputs": {"path": "x.mp4", "minBytes": -1}}]})",
     {},
     "m",
     "$.nodes[0].inputs.minBytes",
     "minBytes is -1; it must be at least 0",
     ""},
    {"reference to unknown node with did-you-mean",
     R"({"nodes": [)" + kVideo1 + R"(,
        {"id": "stitch", "type": "video_stitch", "inputs": {"videoPaths": ["<<video_segmnt_1.videoPath>>"]}}]})",
     {},
     "stitch",
     "$.nodes[1].inputs.videoPaths[0]",
     "<<video_segmnt_1.videoPath>> names unknown node 'video_segmnt_1'; did you mean 'video_segment_1'?",
     ""},
    {"reference to unknown node far from any",
     R"({"nodes": [{"id": "a", "type": "value", "inputs": {"x": 1}}, {"id": "b", "type": "value", "inputs": {"y": "<<zz.x>>"}}]})",
     {},
     "b",
     "$.nodes[1].inputs.y",
     "<<zz.x>> names unknown node 'zz'",
     "node ids: a, b"},
    {"reference to an undeclared output",
     R"({"nodes": [)" + kVideo1 + R"(,
        {"id": "stitch", "type": "video_stitch", "inputs": {"videoPaths": ["{{video_segment_1.vidoePath}}"]}}]})",
     {},
     "stitch",
     "$.nodes[1].inputs.videoPaths[0]",
     "{{video_segment_1.vidoePath}}: node 'video_segment_1' (video_generation) has no output 'vidoePath'; did you "
     "mean 'videoPath'?",
     "its outputs: videoPath, duration, jobId, cost, model, provider"},
    {"reference naming no output",
     R"({"nodes": [{"id": "a", "type": "value", "inputs": {"x": 1}},
        {"id": "b", "type": "value", "inputs": {"y": "<<a>>"}}]})",
     {},
     "b",
     "$.nodes[1].inputs.y",
     "<<a>> names no output of node 'a'",
     "write <<a.OUTPUT>>"},
    {"undeclared param",
     R"({"params": {"style": "noir"},
        "nodes": [{"id": "a", "type": "value", "inputs": {"s": "in <<params.styel>> style"}}]})",
     {},
     "a",
     "$.nodes[0].inputs.s",
     "<<params.styel>> names undeclared param 'styel'; did you mean 'style'?",
     ""},
    {"undeclared param, none declared",
     R"({"nodes": [{"id": "a", "type": "value", "inputs": {"s": "<<params.mood>>"}}]})",
     {},
     "a",
     "$.nodes[0].inputs.s",
     "<<params.mood>> names undeclared param 'mood'",
     "declare it: \"params\": {\"mood\": DEFAULT}"},
    {"unknown run field",
     R"({"nodes": [{"id": "a", "type": "value", "inputs": {"s": "<<run.name>>"}}]})",
     {},
     "a",
     "$.nodes[0].inputs.s",
     "<<run.name>>: run has only 'id' and 'dir'",
     "write <<run.id>> or <<run.dir>>"},
    {"bad template syntax",
     R"({"nodes": [{"id": "a", "type": "value", "inputs": {"s": ["ok", {"deep": "x <<a..b>>"}]}}]})",
     {},
     "a",
     "$.nodes[0].inputs.s[1].deep",
     "bad template '<<a..b>>': a '.' must be followed by a field name",
     "a reference is <<node.output>>; for a literal '<<' or '{{' write \\\\<< or \\\\{{ in the JSON string"},
    {"bad index in template",
     R"({"nodes": [{"id": "a", "type": "value", "inputs": {"s": "<<b.images[-1]>>"}}]})",
     {},
     "a",
     "$.nodes[0].inputs.s",
     "bad template '<<b.images[-1]>>': an index is written [N] with N a whole number",
     "a reference is <<node.output>>; for a literal '<<' or '{{' write \\\\<< or \\\\{{ in the JSON string"},
    {"self reference",
     R"({"nodes": [{"id": "a", "type": "value", "inputs": {"x": 1, "y": "<<a.x>>"}}]})",
     {},
     "a",
     "$.nodes[0].inputs.y",
     "<<a.x>>: a node cannot use its own outputs",
     "use a value node for a constant both need, or split the node in two"},
    {"cycle naming the whole cycle",
     R"({"nodes": [
        {"id": "a", "type": "value", "inputs": {"x": "<<c.x>>"}},
        {"id": "b", "type": "value", "inputs": {"x": "<<a.x>>"}},
        {"id": "c", "type": "value", "inputs": {"x": "<<b.x>>"}}]})",
     {},
     "a",
     "$.nodes[0]",
     "cycle: a -> b -> c -> a",
     "a node cannot wait, directly or through others, for its own outputs"},
    {"cycle through dependsOn",
     R"({"nodes": [
        {"id": "a", "type": "value", "dependsOn": ["b"]},
        {"id": "b", "type": "value", "dependsOn": "a"}]})",
     {},
     "a",
     "$.nodes[0]",
     "cycle: a -> b -> a",
     "a node cannot wait, directly or through others, for its own outputs"},
    {"dependsOn unknown node",
     R"({"nodes": [{"id": "alpha", "type": "value"}, {"id": "b", "type": "value", "dependsOn": ["alpah"]}]})",
     {},
     "b",
     "$.nodes[1].dependsOn[0]",
     "dependsOn names unknown node 'alpah'; did you mean 'alpha'?",
     ""},
    {"dependsOn itself",
     R"({"nodes": [{"id": "a", "type": "value", "dependsOn": "a"}]})",
     {},
     "a",
     "$.nodes[0].dependsOn[0]",
     "a node cannot depend on itself",
     ""},
    {"bad duration string",
     R"({"nodes": [{"id": "a", "type": "value", "timeout": "10 parsecs"}]})",
     {},
     "a",
     "$.nodes[0].timeout",
     "bad duration '10 parsecs': unknown unit 'parsecs' (use ms, s, m, h or d)",
     ""},
    {"negative duration",
     R"({"nodes": [{"id": "a", "type": "value", "timeout": {"attempt": -5}}]})",
     {},
     "a",
     "$.nodes[0].timeout.attempt",
     "duration -5 is negative",
     ""},
    {"negative duration string",
     R"({"nodes": [{"id": "a", "type": "value", "timeout": {"total": "-2m"}}]})",
     {},
     "a",
     "$.nodes[0].timeout.total",
     "duration '-2m' is negative",
     ""},
    {"duration of the wrong type",
     R"({"nodes": [{"id": "a", "type": "value", "timeout": [10]}]})",
     {},
     "a",
     "$.nodes[0].timeout",
     "a duration is a number of seconds or a string like \"10s\", got array",
     ""},
    {"bad duration in a duration input",
     R"({"nodes": [{"id": "v", "type": "video_generation", "inputs": {"prompt": "p", "pollInterval": "soon"}}]})",
     {},
     "v",
     "$.nodes[0].inputs.pollInterval",
     "pollInterval: bad duration 'soon': write seconds as a number, or a number with a unit (\"500ms\", \"10s\", "
     "\"15m\", \"2h\")",
     ""},
    {"bad retry maximumAttempts",
     R"({"nodes": [{"id": "a", "type": "value", "retry": {"maximumAttempts": -1}}]})",
     {},
     "a",
     "$.nodes[0].retry.maximumAttempts",
     "maximumAttempts is a whole number from 0 to 1000000 (0 = unlimited), got -1",
     ""},
    {"bad retry backoffCoefficient",
     R"({"nodes": [{"id": "a", "type": "value", "retry": {"backoffCoefficient": 0.5}}]})",
     {},
     "a",
     "$.nodes[0].retry.backoffCoefficient",
     "backoffCoefficient is a number from 1 to 100, got 0.5",
     ""},
    {"retry maximumInterval below initialInterval",
     R"({"nodes": [{"id": "a", "type": "value", "retry": {"initialInterval": "10s", "maximumInterval": "1s"}}]})",
     {},
     "a",
     "$.nodes[0].retry.maximumInterval",
     "maximumInterval (1.0s) is shorter than initialInterval (10.0s)",
     ""},
    {"retry shorthand too large",
     R"({"nodes": [{"id": "a", "type": "value", "retry": 99999999999}]})",
     {},
     "a",
     "$.nodes[0].retry",
     "retry 99999999999 is not a number of attempts from 0 to 1000000",
     "\"retry\": 3 means at most 3 attempts; 0 means no limit"},
    {"unknown retry key",
     R"({"nodes": [{"id": "a", "type": "value", "retry": {"initialIntervall": "1s"}}]})",
     {},
     "a",
     "$.nodes[0].retry.initialIntervall",
     "unknown key 'initialIntervall'; did you mean 'initialInterval'?",
     "known keys: maximumAttempts, initialInterval, backoffCoefficient, maximumInterval, nonRetryableErrorTypes"},
    {"unknown error type in nonRetryableErrorTypes",
     R"({"defaults": {"retry": {"nonRetryableErrorTypes": ["Auth", "RateLimit"]}}, "nodes": [{"id": "a", "type": "value"}]})",
     {},
     "",
     "$.defaults.retry.nonRetryableErrorTypes[1]",
     "unknown error type \"RateLimit\"; did you mean 'RateLimited'?",
     "error types: InvalidInput, Auth, RateLimited, Unavailable, Timeout, ContentBlocked, NoImage, NoFace, "
     "OutputInvalid, Cancelled, Execution, Internal, OutputExpired"},
    {"bad pool concurrency",
     R"({"pools": {"veo": 0}, "nodes": [{"id": "a", "type": "value"}]})",
     {},
     "",
     "$.pools.veo",
     "pool 'veo': concurrency is a whole number from 1 to 100000, got 0",
     ""},
    {"bad pool name in node",
     R"({"nodes": [{"id": "a", "type": "value", "pool": 3}]})",
     {},
     "a",
     "$.nodes[0].pool",
     "pool is the name of a pool, got 3",
     ""},
    {"--param for an undeclared param",
     R"({"params": {"style": "noir"}, "nodes": [{"id": "a", "type": "value"}]})",
     {{"styel", "pop"}},
     "",
     "",
     "--param styel: the workflow declares no param 'styel'; did you mean 'style'?",
     "declared params: style"},
    {"--param with no params declared",
     R"({"nodes": [{"id": "a", "type": "value"}]})",
     {{"n", "3"}},
     "",
     "",
     "--param n: the workflow declares no param 'n'",
     "declare it under \"params\" in the workflow"},
    {"--param with wrong type",
     R"({"params": {"count": 3}, "nodes": [{"id": "a", "type": "value"}]})",
     {{"count", "three"}},
     "",
     "",
     "--param count: expected number like its default 3, got 'three'",
     ""},
    {"param without a value",
     R"({"params": {"subject": null}, "nodes": [{"id": "a", "type": "value"}]})",
     {},
     "",
     "$.params.subject",
     "param 'subject' has no value",
     "pass --param subject=VALUE"},
    {"params not an object",
     R"({"params": ["a"], "nodes": [{"id": "a", "type": "value"}]})",
     {},
     "",
     "$.params",
     "params is an object: {\"NAME\": default value}",
     ""},
    {"retired model id naming its successor",
     R"({"nodes": [{"id": "i", "type": "character_image", "inputs": {"prompt": "p", "model": "gemini-2.5-flash-image"}}]})",
     {},
     "i",
     "$.nodes[0].inputs.model",
     "model 'gemini-2.5-flash-image' was retired by its provider (shut down 2026-10-02); use 'gemini-3.1-flash-image' "
     "(alias 'nanobana')",
     ""},
    {"unknown model",
     R"({"nodes": [{"id": "v", "type": "video_generation", "inputs": {"prompt": "p", "model": "veo4"}}]})",
     {},
     "v",
     "$.nodes[0].inputs.model",
     "unknown model 'veo4'; did you mean 'veo3'?",
     ""},
    {"image model on a video node",
     R"({"nodes": [{"id": "v", "type": "video_generation", "inputs": {"prompt": "p", "model": "nanobanana"}}]})",
     {},
     "v",
     "$.nodes[0].inputs.model",
     "'gemini-3.1-flash-image' is an image model; video_generation needs a video model",
     "e.g. \"model\": \"veo3-fast\" or \"sora-2\""},
    {"veo model on a sora node",
     R"({"nodes": [{"id": "s", "type": "sora2_video", "inputs": {"prompt": "p", "model": "veo3"}}]})",
     {},
     "s",
     "$.nodes[0].inputs.model",
     "sora2_video runs Sora models; 'veo-3.1-generate-preview' is a Veo model",
     "use video_generation for Veo"},
    {"shell command without shell:true",
     R"({"nodes": [{"id": "sh", "type": "shell", "inputs": {"command": "ls | wc -l"}}]})",
     {},
     "sh",
     "$.nodes[0].inputs.command",
     "command runs through /bin/sh only with \"shell\": true",
     "add \"shell\": true, or give \"argv\" as a list"},
    {"shell flag not a boolean",
     R"({"nodes": [{"id": "sh", "type": "shell", "inputs": {"argv": ["ls"], "shell": "yes"}}]})",
     {},
     "sh",
     "$.nodes[0].inputs.shell",
     "shell expects a boolean, got string \"yes\"",
     ""},
    {"empty argv",
     R"({"nodes": [{"id": "sh", "type": "shell", "inputs": {"argv": []}}]})",
     {},
     "sh",
     "$.nodes[0].inputs.argv",
     "argv is empty",
     "give the program, e.g. [\"echo\", \"hi\"]"},
    {"empty videoPaths",
     R"({"nodes": [{"id": "st", "type": "video_stitch", "inputs": {"videoPaths": []}}]})",
     {},
     "st",
     "$.nodes[0].inputs.videoPaths",
     "videoPaths is empty",
     "list at least one clip"},
    {"http url without scheme",
     R"({"nodes": [{"id": "h", "type": "http", "inputs": {"url": "example.com/x"}}]})",
     {},
     "h",
     "$.nodes[0].inputs.url",
     "url 'example.com/x' is not http:// or https://",
     ""},
    {"text template in a number input",
     R"({"nodes": [{"id": "a", "type": "value", "inputs": {"d": 4}},
        {"id": "v", "type": "video_generation", "inputs": {"prompt": "p", "duration": "<<a.d>>s"}}]})",
     {},
     "v",
     "$.nodes[1].inputs.duration",
     "duration expects a number, but '<<a.d>>s' makes a string",
     "a string that is exactly one template keeps the referenced value's type"},
    {"whole template of the wrong type",
     R"({"nodes": [{"id": "a", "type": "value", "inputs": {"d": "long"}},
        {"id": "v", "type": "video_generation", "inputs": {"prompt": "p", "duration": "<<a.d>>"}}]})",
     {},
     "v",
     "$.nodes[1].inputs.duration",
     "duration expects a number, but <<a.d>> is a string",
     ""},
    {"unknown output declared by the node",
     R"({"nodes": [{"id": "st", "type": "video_stitch",
        "inputs": {"videoPaths": ["a.mp4"]}, "outputs": ["videoPth"]}]})",
     {},
     "st",
     "$.nodes[0].outputs[0]",
     "video_stitch has no output 'videoPth'; did you mean 'videoPath'?",
     "its outputs: videoPath, duration"},
    {"odd input key gets a bracketed path",
     R"({"nodes": [{"id": "st", "type": "video_stitch", "inputs": {"videoPaths": ["a.mp4"], "my key": 1}}]})",
     {},
     "st",
     "$.nodes[0].inputs['my key']",
     "video_stitch has no input 'my key'",
     "its inputs: videoPaths, transitionType, transitionDuration, output"},
    {"unclosed reference that starts like one",
     R"({"nodes": [{"id": "img_x", "type": "value", "inputs": {"p": 1}},
        {"id": "b", "type": "value", "inputs": {"t": "hello <<img_x.path and more"}}]})",
     {},
     "b",
     "$.nodes[1].inputs.t",
     "unclosed reference '<<img_x.path and more': it starts like a reference but has no closing '>>'",
     "a reference is <<node.output>>; for a literal '<<' or '{{' write \\\\<< or \\\\{{ in the JSON string"},
    {"giant index",
     R"({"nodes": [{"id": "a", "type": "value", "inputs": {"x": [1]}},
        {"id": "b", "type": "value", "inputs": {"y": "<<a.x[99999999999999999999]>>"}}]})",
     {},
     "b",
     "$.nodes[1].inputs.y",
     "bad template '<<a.x[99999999999999999999]>>': index [99999999999999999999] is too large: the largest index is "
     "999999999",
     "a reference is <<node.output>>; for a literal '<<' or '{{' write \\\\<< or \\\\{{ in the JSON string"},
    {"timeout of zero",
     R"({"nodes": [{"id": "s", "type": "shell", "inputs": {"argv": ["true"]}, "timeout": "0s"}]})",
     {},
     "s",
     "$.nodes[0].timeout",
     "a time limit of \"0s\" would stop the node before it starts",
     "give a duration above 0 such as \"10m\", or leave the timeout out to keep the default"},
    {"total shorter than attempt",
     R"({"nodes": [{"id": "s", "type": "shell", "inputs": {"argv": ["true"]},
        "timeout": {"attempt": "10m", "total": 60}}]})",
     {},
     "s",
     "$.nodes[0].timeout.total",
     "total (1m00s) is shorter than attempt (10m00s): no attempt could use its whole limit",
     "total bounds all attempts and their waits together: make it at least attempt"},
    {"duplicate key in a node",
     R"({"nodes": [{"id": "a", "type": "value", "inputs": {"x": 1, "x": 2}}]})",
     {},
     "a",
     "$.nodes[0].inputs.x",
     "key 'x' is given more than once in this object; only the last value would be used",
     "keep one of them"},
    {"required text made empty by a param",
     R"({"params": {"what": "a walk"}, "nodes": [
        {"id": "v", "type": "video_generation", "inputs": {"prompt": "<<params.what>>"}}]})",
     {{"what", ""}},
     "v",
     "$.nodes[0].inputs.prompt",
     "prompt would be empty: it is '<<params.what>>' and params what=\"\"",
     "give the param a value: --param what=TEXT"},
    {"blank literal in a required text",
     R"({"nodes": [{"id": "v", "type": "video_generation", "inputs": {"prompt": " "}}]})",
     {},
     "v",
     "$.nodes[0].inputs.prompt",
     "prompt is empty",
     "write the text the node needs"},
    {"every one-of-required text blank",
     R"({"params": {"c": ""}, "nodes": [
        {"id": "i", "type": "character_image", "inputs": {"characterPrompt": "<<params.c>>"}}]})",
     {},
     "i",
     "$.nodes[0].inputs.characterPrompt",
     "characterPrompt would be empty: it is '<<params.c>>' and params c=\"\"",
     "give the param a value: --param c=TEXT"},
    {"workflowId unusable in file names",
     R"({"workflowId": "a/b", "nodes": [{"id": "a", "type": "value"}]})",
     {},
     "",
     "$.workflowId",
     "workflowId 'a/b' is used in file names; use letters, digits, '.', '_' and '-'",
     ""},
};

}  // namespace

TEST_SUITE("Validate") {
  TEST_CASE("each broken workflow gives its one exact diagnostic") {
    CHECK(kCases.size() >= 30);
    for (const auto& c : kCases) {
      std::string name = c.name;
      CAPTURE(name);
      std::vector<Diagnostic> errors = Errors(c.json, c.params);
      REQUIRE(errors.size() == 1);
      CHECK(errors[0].message == c.message);
      CHECK(errors[0].node_id == c.node);
      CHECK(errors[0].json_path == c.path);
      CHECK(errors[0].hint == c.hint);
      CHECK(errors[0].file == "w.json");
    }
  }

  TEST_CASE("a workflow with five different mistakes gives five diagnostics") {
    std::vector<Diagnostic> errors = Errors(R"({"nodes": [
      {"id": "a", "type": "vidoe_generation", "inputs": {"prompt": "p"}},
      {"id": "a", "type": "value"},
      {"id": "c", "type": "video_stitch", "inputs": {"videoPaths": ["<<zz.videoPath>>"], "transitionType": "wipe"}},
      {"id": "d", "type": "value", "timeout": "1 fortnight"}]})");
    REQUIRE(errors.size() == 5);
    std::vector<std::string> paths;
    for (const auto& e : errors) paths.push_back(e.json_path);
    std::sort(paths.begin(), paths.end());
    CHECK(paths == std::vector<std::string>{"$.nodes[0].type", "$.nodes[1].id", "$.nodes[2].inputs.transitionType",
                                            "$.nodes[2].inputs.videoPaths[0]", "$.nodes[3].timeout"});
  }

  TEST_CASE("too long ids say so and give the limit") {
    std::string id(10000, 'n');
    auto errors = Errors(R"({"nodes": [{"id": ")" + id + R"(", "type": "value"}]})");
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].json_path == "$.nodes[0].id");
    CHECK(errors[0].message.find("is too long: 10000 characters, the limit is 128") != std::string::npos);
    errors = Errors(R"({"workflowId": ")" + id + R"(", "nodes": [{"id": "a", "type": "value"}]})");
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].json_path == "$.workflowId");
    CHECK(errors[0].message.find("is too long: 10000 characters, the limit is 128") != std::string::npos);
    std::string ok(128, 'n');
    CHECK(Errors(R"({"nodes": [{"id": ")" + ok + R"(", "type": "value"}]})").empty());
  }

  TEST_CASE("a key given twice outside a node is a warning with its path; params that fill a text are fine") {
    Workflow wf;
    std::vector<Diagnostic> diags;
    CHECK(LoadWorkflowText(R"({"description": "a", "description": "b", "metadata": {"k": 1, "k": 2},
      "nodes": [{"id": "a", "type": "value"}]})",
                           "w.json", {}, &wf, &diags));
    REQUIRE(diags.size() == 2);
    CHECK(diags[0].severity == Severity::kWarning);
    CHECK(diags[0].json_path == "$.description");
    CHECK(diags[1].json_path == "$.metadata.k");
    CHECK(wf.description == "b");  // as any JSON reader: the last one
    // A param that fills the text, a text that names a node (known only when run), and an
    // unrelated "1 << 2.5" are all fine.
    CHECK(Errors(R"({"params": {"what": ""}, "nodes": [{"id": "a", "type": "value", "inputs": {"t": "x"}},
      {"id": "v", "type": "video_generation", "inputs": {"prompt": "<<a.t>><<params.what>>"}},
      {"id": "w", "type": "video_generation", "inputs": {"prompt": "1 << 2.5 <<params.what>>"}}]})")
              .empty());
  }

  TEST_CASE("the model listing (`comfyrun models --json`) reads back as the same catalog") {
    const ModelCatalog& active = ActiveModelCatalog();
    Json listing = ModelCatalogListing(active);
    CHECK(listing["aliases"]["veo3-fast"] == "veo-3.1-fast-generate-preview");
    CHECK(listing["models"]["gemini-3.1-flash-image"]["usdPerImage"] == 0.039);
    CHECK(listing["retired"]["gemini-2.5-flash-image"]["successor"] == "gemini-3.1-flash-image");
    ModelCatalog again;
    std::string err;
    REQUIRE(BuildModelCatalog(listing, &again, &err));
    CHECK(ModelCatalogListing(again) == listing);
    // The unknown-model hint names a command that exists.
    CHECK(active.Resolve("zzzz-qqqq-9000", &err) == nullptr);
    CHECK(err.find("run `comfyrun models` for the list") != std::string::npos);
  }

  TEST_CASE("unknown keys at the top level are warnings, not errors") {
    Workflow wf;
    std::vector<Diagnostic> diags;
    CHECK(LoadWorkflowText(R"({"nodez": 1, "nodes": [{"id": "a", "type": "value"}]})", "w.json", {}, &wf, &diags));
    REQUIRE(diags.size() == 1);
    CHECK(diags[0].severity == Severity::kWarning);
    CHECK(diags[0].message == "unknown key 'nodez' (ignored); did you mean 'nodes'?");
    CHECK(diags[0].Format() ==
          "w.json: at $.nodez: warning: unknown key 'nodez' (ignored); did you mean 'nodes'?\n"
          "  hint: known keys: workflowId, description, metadata, nodes, params, defaults, pools, name, version, "
          "$schema");
  }

  TEST_CASE("a diagnostic formats file, node, path, message and hint") {
    std::vector<Diagnostic> errors = Errors(R"({"nodes": [{"id": "v", "type": "video_generation", "inputs": {}}]})");
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].Format() ==
          "w.json: node 'v' at $.nodes[0].inputs: missing required input 'prompt' (what the video shows)\n"
          "  hint: add \"prompt\": ... to inputs");
  }

  TEST_CASE("--param converts values to the type of the default") {
    Workflow wf;
    std::vector<Diagnostic> diags;
    REQUIRE(LoadWorkflowText(R"({"params": {"n": 3, "style": "noir", "any": null, "on": false},
      "nodes": [{"id": "a", "type": "value", "inputs": {"n": "<<params.n>>"}}]})",
                             "w.json", {{"n", "5"}, {"style", "42"}, {"any", "[1,2]"}, {"on", "true"}}, &wf, &diags));
    CHECK(wf.params["n"] == 5);
    CHECK(wf.params["style"] == "42");
    CHECK(wf.params["any"] == Json::array({1, 2}));
    CHECK(wf.params["on"] == true);
  }

  TEST_CASE("a --param argument needs NAME=VALUE") {
    ParamOverride p;
    std::string err;
    CHECK(ParseParamArgument("a=b=c", &p, &err));
    CHECK(p.name == "a");
    CHECK(p.value == "b=c");
    CHECK_FALSE(ParseParamArgument("novalue", &p, &err));
    CHECK(err == "--param 'novalue': the value is missing; write --param NAME=VALUE");
    CHECK_FALSE(ParseParamArgument("=3", &p, &err));
    CHECK(err == "--param '=3': the name is missing; write --param NAME=VALUE");
  }

  TEST_CASE("value nodes, params and templates at any depth make edges") {
    Workflow wf;
    std::vector<Diagnostic> diags;
    REQUIRE(LoadWorkflowText(R"({"params": {"p": "x"}, "nodes": [
      {"id": "a", "type": "value", "inputs": {"x": 1}},
      {"id": "b", "type": "value", "inputs": {"deep": [{"k": ["<<a.x>>", "t {{a.x}}"]}]}, "dependsOn": []},
      {"id": "c", "type": "value", "inputs": {"q": "<<params.p>>"}, "dependsOn": ["b", "a"]}]})",
                             "w.json", {}, &wf, &diags));
    CHECK(wf.deps[1] == std::vector<size_t>{0});
    CHECK(wf.nodes[1].references.size() == 2);
    CHECK(wf.nodes[1].references[0].json_path == "$.nodes[1].inputs.deep[0].k[0]");
    CHECK(wf.deps[2] == std::vector<size_t>{0, 1});
  }

  TEST_CASE("retry, timeout, pool and cache settings are read with defaults under them") {
    Workflow wf;
    std::vector<Diagnostic> diags;
    REQUIRE(
        LoadWorkflowText(R"({"defaults": {"retry": {"maximumAttempts": 5, "initialInterval": "2s"}, "timeout": "1m"},
      "pools": {"veo": 2},
      "nodes": [{"id": "a", "type": "value"},
                {"id": "b", "type": "video_generation", "inputs": {"prompt": "p"}, "retry": 2,
                 "timeout": {"attempt": "1h30m", "total": 7200}, "pool": "veo", "cache": false}]})",
                         "w.json", {}, &wf, &diags));
    CHECK(wf.nodes[0].retry.maximum_attempts == 5);
    CHECK(wf.nodes[0].retry.initial_interval == 2);
    CHECK(wf.nodes[0].retry.maximum_interval == 200);
    CHECK(wf.nodes[0].timeout.attempt == 60);
    CHECK(wf.nodes[1].retry.maximum_attempts == 2);
    CHECK(wf.nodes[1].timeout.attempt == 5400);
    CHECK(wf.nodes[1].timeout.total == 7200);
    CHECK(wf.nodes[1].pool == "veo");
    CHECK(wf.nodes[1].cache == false);
    CHECK(wf.pools.at("veo") == 2);
  }
}
