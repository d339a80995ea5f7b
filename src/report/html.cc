#include "comfyrun/report/html.h"

#include <fmt/format.h>

#include <cmath>

#include "comfyrun/core/util.h"

// Implementation details: the stylesheet and script are constants compiled into the binary,
// so a report is one file that opens anywhere, offline, years later. Colours are CSS
// variables, with a dark variant for prefers-color-scheme: dark.

namespace comfyrun {
namespace {

constexpr const char* kStyle = R"CSS(
:root{--bg:#f5f6f8;--card:#fff;--ink:#1c2333;--muted:#5d6678;--line:#e2e5eb;--stripe:#f8f9fb;
--ok:#2e9d6c;--ok-soft:#d8f1e5;--fail:#d64848;--fail-soft:#fbe0e0;--warn:#d48b06;--warn-soft:#fbefd4;
--skip:#9aa2b1;--wait:#aab6cc;--accent:#3867e6;--accent-soft:#e3eafc;--crit:#7a4ad4;--hl:#ffd86b}
@media (prefers-color-scheme:dark){:root{--bg:#14171d;--card:#1c2029;--ink:#e6e9ef;--muted:#9aa3b5;
--line:#2e3442;--stripe:#202531;--ok-soft:#17382a;--fail-soft:#3d1f22;--warn-soft:#3a2e14;--accent-soft:#1f2a47;--wait:#5a6478}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,"DejaVu Sans",sans-serif;-webkit-font-smoothing:antialiased}
main{max-width:1180px;margin:0 auto;padding:24px 28px 40px}
header.top{display:flex;flex-wrap:wrap;align-items:center;gap:6px 14px;margin-bottom:18px}
header.top .brand{font-weight:700;letter-spacing:.08em;text-transform:uppercase;font-size:11px;color:var(--accent);
width:100%}
header.top h1{margin:0;font-size:24px;font-weight:650;word-break:break-word}
header.top p.sub{margin:0;width:100%;color:var(--muted)}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:12px;font-weight:600;
background:var(--line);color:var(--ink);vertical-align:middle;white-space:nowrap}
.s-completed,.s-succeeded,.s-winner,.s-ok{background:var(--ok-soft);color:var(--ok)}
.s-failed,.s-insufficient_data{background:var(--fail-soft);color:var(--fail)}
.s-running,.s-interrupted,.s-inconclusive,.s-low_sample{background:var(--warn-soft);color:var(--warn)}
.s-skipped,.s-pending{background:var(--line);color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(132px,1fr));gap:12px;margin-bottom:18px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.05em}
.card .v{font-size:21px;font-weight:650;margin-top:2px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.card .d{color:var(--muted);font-size:12px;margin-top:2px}
section.panel{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin-bottom:18px}
section.panel h2{margin:0 0 4px;font-size:16px}
section.panel p.note{margin:0 0 10px;color:var(--muted);font-size:12.5px}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(500px,1fr));gap:0 26px}
.chart h3{margin:12px 0 2px;font-size:14px}
.chart p.note{margin:0 0 4px}
svg{display:block;width:100%;height:auto;overflow:visible}
svg text{fill:var(--ink);font-size:11px}
svg .muted{fill:var(--muted)}
svg .axis line,svg line.grid{stroke:var(--line);stroke-width:1}
svg .stripe{fill:var(--stripe)}
svg .bar{stroke-width:0;rx:3}
svg .bar.completed{fill:var(--ok)}
svg .bar.failed{fill:var(--fail)}
svg .bar.open{fill:var(--warn)}
svg .bar.wait{fill:url(#hatch);stroke:var(--wait);stroke-width:.6}
svg .backoff{stroke:var(--fail);stroke-width:1.4;stroke-dasharray:3 3}
svg .mark.cached{fill:var(--card);stroke:var(--ok);stroke-width:2}
svg .mark.skipped{fill:var(--skip)}
svg .crit{fill:var(--crit)}
svg text.crit{fill:var(--crit);font-weight:700}
svg text.dur{fill:var(--muted);font-size:10px}
svg text.dur.in{fill:#fff}
svg .area{fill:var(--accent-soft);stroke:var(--accent);stroke-width:1.5}
svg .ci{stroke:var(--accent);stroke-width:2.5;stroke-linecap:round}
svg .mean{fill:var(--accent);stroke:var(--card);stroke-width:1.5}
svg .run{fill:var(--muted);opacity:.55}
svg .observed{fill:var(--card);stroke:var(--ink);stroke-width:1.5}
svg .run.failed{fill:var(--fail);opacity:.8}
svg .winner .ci{stroke:var(--ok)}
svg .winner .mean{fill:var(--ok)}
svg .pbar{fill:var(--accent)}
svg .winner .pbar{fill:var(--ok)}
svg .zero{stroke:var(--muted);stroke-width:1;stroke-dasharray:4 3}
svg .hl,tr.hl td{outline:none}
svg rect.hl{stroke:var(--hl);stroke-width:3}
svg .label.hl{font-weight:700}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;color:var(--muted);font-size:12px;margin:6px 0 8px}
.legend i{display:inline-block;width:14px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.legend .l-completed{background:var(--ok)}.legend .l-failed{background:var(--fail)}
.legend .l-open{background:var(--warn)}.legend .l-wait{background:repeating-linear-gradient(135deg,var(--wait) 0 2px,transparent 2px 5px);border:1px solid var(--wait)}
.legend .l-backoff{height:0;border-top:2px dashed var(--fail);border-radius:0}
.legend .l-crit{background:var(--crit);width:8px;height:8px;border-radius:50%}
.legend .l-cached{width:10px;height:10px;border:2px solid var(--ok);border-radius:50%}
.legend .l-ci{height:3px;background:var(--accent)}
.legend .l-run{width:7px;height:7px;border-radius:50%;background:var(--muted)}
.tablewrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{color:var(--muted);font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.03em;white-space:nowrap}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[aria-sort=ascending]::after{content:" \25B2";font-size:9px}
table.sortable th[aria-sort=descending]::after{content:" \25BC";font-size:9px}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.num div.muted{white-space:normal;min-width:110px;max-width:150px;margin-left:auto;font-size:11.5px}
td.id.wf{min-width:0}
table.compact th,table.compact td{padding:6px 7px}
tbody tr:hover td,tr.hl td{background:var(--accent-soft)}
tfoot td{font-weight:650;border-bottom:0}
td.err{color:var(--fail);min-width:200px;max-width:360px;word-break:break-word}
td.id{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12.5px;word-break:break-all;min-width:150px}
td .prompt{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,"DejaVu Sans",sans-serif;font-size:12px;color:var(--muted);word-break:normal;margin-top:2px;max-width:320px}
.muted{color:var(--muted)}
.crit-dot{color:var(--crit)}
.path{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px;word-break:break-all}
ul.reasons{margin:6px 0 0;padding-left:18px}
ul.warnings{margin:6px 0 0;padding-left:18px;color:var(--warn)}
.code{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px;background:var(--stripe);padding:1px 5px;border-radius:4px}
details summary{cursor:pointer;color:var(--muted)}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:10px 0 0;font-size:13px}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;word-break:break-word}
footer{color:var(--muted);font-size:12px;margin-top:8px}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:14px;margin-top:6px}
.shot{margin:0;border:1px solid var(--line);border-radius:8px;overflow:hidden;background:var(--card)}
.shot .pic{position:relative;display:flex;align-items:center;justify-content:center;min-height:118px;
background:var(--stripe);color:var(--muted);font-size:12px;text-decoration:none}
.shot .pic img{display:block;width:100%;height:auto}
.shot .play{position:absolute;left:8px;bottom:8px;background:rgba(0,0,0,.68);color:#fff;font-size:12px;
padding:2px 8px;border-radius:999px}
.shot figcaption{padding:7px 10px;font-size:12px;line-height:1.35}
.shot figcaption .id{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-weight:600;word-break:break-all}
.shot.failed{border-color:var(--fail)}
.shot.failed .pic{background:var(--fail-soft);color:var(--fail);padding:10px 12px;align-items:flex-start;
justify-content:flex-start;word-break:break-word;text-align:left}
.shot.skipped .pic{padding:10px 12px}
#tip{position:fixed;z-index:10;pointer-events:none;background:#1c2333;color:#fff;font-size:12px;line-height:1.4;
padding:6px 9px;border-radius:6px;max-width:420px;white-space:pre-line;box-shadow:0 4px 14px rgba(0,0,0,.25);display:none}
)CSS";

// Reads nothing but the page's own DOM; user text reaches it only as escaped attribute
// values, and it writes text with textContent, never innerHTML.
constexpr const char* kScript = R"JS(
(function () {
  "use strict";
  var doc = document;
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  // Sortable tables: numeric cells carry data-v, others sort by their text.
  function sortKey(cell) {
    var v = cell ? cell.getAttribute("data-v") : null;
    if (v !== null && v !== "" && !isNaN(Number(v))) return [0, Number(v)];
    return [1, cell ? cell.textContent.trim().toLowerCase() : ""];
  }
  each(doc.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead || !table.tBodies.length) return;
    var heads = table.tHead.rows[0].cells;
    each(heads, function (th, col) {
      th.setAttribute("title", "sort");
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        each(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        rows.sort(function (a, b) {
          var x = sortKey(a.cells[col]), y = sortKey(b.cells[col]);
          if (x[0] !== y[0]) return x[0] - y[0];
          return (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0) * dir;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });

  // Tooltips: SVG <title>s become data-tip (one tooltip, shown at once, not the browser's).
  each(doc.querySelectorAll("svg title"), function (t) {
    var parent = t.parentNode;
    if (parent && parent.setAttribute) {
      parent.setAttribute("data-tip", t.textContent);
      parent.removeChild(t);
    }
  });
  var tip = doc.createElement("div");
  tip.id = "tip";
  doc.body.appendChild(tip);
  function place(e) {
    var x = e.clientX + 14, y = e.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth - 8) x = Math.max(8, e.clientX - w - 14);
    if (y + h > window.innerHeight - 8) y = Math.max(8, e.clientY - h - 14);
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }
  doc.addEventListener("mousemove", function (e) {
    var el = e.target && e.target.closest ? e.target.closest("[data-tip]") : null;
    if (!el) { tip.style.display = "none"; return; }
    tip.textContent = el.getAttribute("data-tip");
    tip.style.display = "block";
    place(e);
  });

  // Linked highlight: timeline bars, lane labels and table rows of one node share data-row.
  function rowsOf(n) { return /^[0-9]+$/.test(n) ? doc.querySelectorAll('[data-row="' + n + '"]') : []; }
  doc.addEventListener("mouseover", function (e) {
    var el = e.target && e.target.closest ? e.target.closest("[data-row]") : null;
    if (!el) return;
    each(rowsOf(el.getAttribute("data-row")), function (x) { x.classList.add("hl"); });
  });
  doc.addEventListener("mouseout", function (e) {
    var el = e.target && e.target.closest ? e.target.closest("[data-row]") : null;
    if (!el) return;
    each(rowsOf(el.getAttribute("data-row")), function (x) { x.classList.remove("hl"); });
  });

  doc.documentElement.setAttribute("data-ready", "1");
})();
)JS";

/// Appends the UTF-8 sequence starting at s[i] if valid (returns its length), else 0.
size_t ValidUtf8(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  return len;
}

}  // namespace

std::string EscapeHtml(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    switch (c) {
      case '&':
        out += "&amp;";
        ++i;
        continue;
      case '<':
        out += "&lt;";
        ++i;
        continue;
      case '>':
        out += "&gt;";
        ++i;
        continue;
      case '"':
        out += "&quot;";
        ++i;
        continue;
      case '\'':
        out += "&#39;";
        ++i;
        continue;
      default:
        break;
    }
    size_t len = ValidUtf8(s, i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else if (len == 1 && static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r') {
      out += ' ';  // control characters are not allowed in HTML text
      ++i;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  return out;
}

std::string SvgNumber(double v) {
  if (!std::isfinite(v)) return "0";
  std::string s = fmt::format("{:.2f}", v);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

std::string FormatUsd(double usd) {
  if (!std::isfinite(usd)) return "-";
  double a = std::fabs(usd);
  if (a == 0 || a >= 0.01) return fmt::format("${:.2f}", usd);
  return fmt::format("${:.4f}", usd);
}

std::string FormatMs(double ms) {
  if (!std::isfinite(ms)) return "-";
  return FormatDuration(ms / 1000.0);
}

double NiceStep(double span, int ticks) {
  if (!(span > 0) || ticks < 1) return 1;
  double raw = span / ticks;
  double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw) return m * power;
  return 10 * power;
}

std::optional<double> NumberAt(const Json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  double v = it->get<double>();
  return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
}

std::string StringAt(const Json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string HtmlPage(const std::string& title, const std::string& body) {
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      // No request may leave the page: this forbids anything not inline.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
      "script-src 'unsafe-inline'; img-src data:\">\n"
      "<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n<main>\n{}</main>\n<script>{}</script>\n</body>\n</"
      "html>\n",
      EscapeHtml(title), kStyle, body, kScript);
}

}  // namespace comfyrun
