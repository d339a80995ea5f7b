#pragma once
// Building blocks of the self-contained HTML reports (report.h): escaping, number formats and
// the page frame with its inline stylesheet and script. Nothing here loads anything from the
// network: no external scripts, stylesheets, fonts or images.
//
// Escaping rule: every piece of text that comes from a file (node ids, prompts, error
// messages, descriptions, paths) goes through EscapeHtml before it is put into the page, in
// element content and in attribute values alike (attributes are always double-quoted). No
// user text is ever put inside <script> or <style>; the script reads only numbers and the
// already-escaped DOM.
#include <optional>
#include <string>
#include <string_view>

#include "comfyrun/core/json.h"

namespace comfyrun {

/// `s` with & < > " ' replaced by entities, safe in element content and in a double- or
/// single-quoted attribute. Invalid UTF-8 is replaced by U+FFFD so the page stays valid.
std::string EscapeHtml(std::string_view s);

/// A number for SVG coordinates: fixed, at most 2 decimals, no exponent, never NaN.
std::string SvgNumber(double v);

/// "$0.00", "$1.23", "$0.0042": USD with enough digits to show small prices.
std::string FormatUsd(double usd);

/// Milliseconds for people: "850ms", "12.3s", "4m05s" (FormatDuration).
std::string FormatMs(double ms);

/// A "nice" step for an axis over [0, span]: 1, 2 or 5 times a power of ten, chosen so that
/// the axis has about `ticks` ticks.
double NiceStep(double span, int ticks);

/// The number at `key` of `j`, or nullopt when absent, null or not a number.
std::optional<double> NumberAt(const Json& j, const char* key);
/// The string at `key` of `j`, or "" when absent or not a string.
std::string StringAt(const Json& j, const char* key);

/// A complete page: doctype, head with `title` (escaped here), the shared stylesheet, `body`
/// (already HTML), and the shared script, which makes tables sortable, links timeline bars
/// and table rows, shows tooltips from data-tip attributes, and finally sets
/// data-ready="1" on <html> (the headless-browser test checks that it ran to the end).
std::string HtmlPage(const std::string& title, const std::string& body);

}  // namespace comfyrun
