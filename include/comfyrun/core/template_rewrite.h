#pragma once
// Rewriting the references inside templates, leaving everything else byte for byte: how the
// A/B runner renames node ids when it combines variants into one workflow. Implemented in
// template.cc with the same scanner that finds and resolves templates, so that what counts as
// a template can never differ between reading and rewriting.
#include <functional>

#include "comfyrun/core/json.h"
#include "comfyrun/core/template.h"

namespace comfyrun {

/// Rewrites every template (at any depth of `value`, both spellings) for which `rename`
/// returns true after changing the reference's root or steps; other text, escapes and
/// templates are kept byte for byte.
using ReferenceRewrite = std::function<bool(Reference* ref)>;
Json RewriteTemplates(const Json& value, const ReferenceRewrite& rename);

}  // namespace comfyrun
