# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report of veza.infra.prom_sli_watch: the live probe line, JSON and a self-contained
HTML page with one SVG chart per SLI.

This module util is PRIVATE to veza.infra. There is no compatibility promise: do not import it
from other collections. Its interface can change (or it can be removed) in any release.
"""
from __future__ import annotations

import html
import json
import math

from ansible_collections.veza.infra.plugins.module_utils._sli_policy import fmt_value, threshold_text


def probe_line(probe, slis, window):
    """The live progress line of one probe."""
    parts = ["%6.1fs/%ds" % (probe["elapsed"], window), "probe %d" % probe["index"]]
    for sli in slis:
        name = sli["name"]
        st = probe["sli_status"][name]
        if st in ("ok", "breach"):
            shown = fmt_value(probe["values"][name])
        elif st == "error":
            shown = "ERROR"
        else:
            shown = "NaN" if st == "nan" else "no-data"
        parts.append("%s=%s (%s)" % (name, shown, threshold_text(sli)))
    parts.append(probe["status"].upper())
    line = "  ".join(parts)
    if probe["errors"]:
        line += "  [" + "; ".join("%s: %s" % kv for kv in sorted(probe["errors"].items())) + "]"
    return line


def report_paths(report_path):
    base = report_path[:-5] if report_path.endswith(".json") else report_path
    return report_path, base + ".html"


def write_report(result, report_path):
    json_path, html_path = report_paths(report_path)
    with open(json_path, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2, sort_keys=True)
        fh.write("\n")
    with open(html_path, "w", encoding="utf-8") as fh:
        fh.write(render_html(result))
    return {"report_path": json_path, "report_html": html_path}


_COLORS = {"ok": "#2a7", "breach": "#d22", "empty": "#999", "nan": "#999", "error": "#e80"}


def _num(value):
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    if value == "+Inf":
        return float("inf")
    return None


def render_svg(result, sli, width=720, height=220):
    """One SLI over the window: value line, threshold line(s), a marker per probe."""
    name = sli["name"]
    pad_l, pad_r, pad_t, pad_b = 60, 20, 24, 30
    span_x = float(max(result.get("window") or 1, result.get("duration") or 0, 1))
    finite = [v for v in (_num(p["values"].get(name)) for p in result["probes"]) if v is not None and math.isfinite(v)]
    limits = [t for t in (sli.get("max"), sli.get("min")) if t is not None]
    top = max(finite + limits + [1e-9]) * 1.25
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b

    def sx(t):
        return pad_l + plot_w * min(max(t, 0.0), span_x) / span_x

    def sy(v):
        v = min(v, top)
        return pad_t + plot_h * (1 - v / top)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="%s">'
           % (width, height, html.escape(name)),
           '<rect x="%d" y="%d" width="%d" height="%d" fill="#fafafa" stroke="#ccc"/>' % (pad_l, pad_t, plot_w, plot_h),
           '<text x="%d" y="16" font-size="13" font-family="sans-serif">%s (%s)</text>'
           % (pad_l, html.escape(name), html.escape(threshold_text(sli)))]
    for frac in (0.0, 0.5, 1.0):
        val = top * frac
        out.append('<text x="%d" y="%.1f" font-size="10" text-anchor="end" font-family="sans-serif">%s</text>'
                   % (pad_l - 4, sy(val) + 3, fmt_value(val)))
    out.append('<text x="%d" y="%d" font-size="10" font-family="sans-serif">0 s</text>' % (pad_l, height - 10))
    out.append('<text x="%d" y="%d" font-size="10" text-anchor="end" font-family="sans-serif">%.0f s</text>'
               % (width - pad_r, height - 10, span_x))
    for key in ("max", "min"):
        if sli.get(key) is not None:
            y = sy(sli[key])
            out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#d22" stroke-dasharray="6,4"/>'
                       % (pad_l, y, pad_l + plot_w, y))
            out.append('<text x="%d" y="%.1f" font-size="10" fill="#d22" font-family="sans-serif">%s %s</text>'
                       % (pad_l + plot_w - 70, y - 3, key, fmt_value(sli[key])))
    points = []
    for probe in result["probes"]:
        v = _num(probe["values"].get(name))
        if v is not None:
            points.append("%.1f,%.1f" % (sx(probe["elapsed"]), sy(v)))
    if points:
        out.append('<polyline fill="none" stroke="#36c" stroke-width="1.5" points="%s"/>' % " ".join(points))
    for probe in result["probes"]:
        st = probe["sli_status"].get(name, "error")
        v = _num(probe["values"].get(name))
        x = sx(probe["elapsed"])
        y = sy(v) if v is not None else pad_t + plot_h - 4
        tip = "%s %s: %s (%s)" % (probe["time"], name, fmt_value(probe["values"].get(name)), st)
        out.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s</title></circle>'
                   % (x, y, _COLORS.get(st, "#999"), html.escape(tip)))
    out.append("</svg>")
    return "\n".join(out)


def render_html(result):
    color = "#2a7" if result["verdict"] == "green" else "#d22"
    rows = []
    for probe in result["probes"]:
        cells = "".join("<td>%s</td>" % html.escape(fmt_value(probe["values"].get(s["name"])))
                        for s in result["slis"])
        rows.append("<tr><td>%d</td><td>%s</td><td>%.1f</td>%s<td>%s</td></tr>" % (
            probe["index"], probe["time"], probe["elapsed"], cells, probe["status"]))
    heads = "".join("<th>%s</th>" % html.escape(s["name"]) for s in result["slis"])
    charts = "\n".join(render_svg(result, sli) for sli in result["slis"])
    return """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>prom_sli_watch: %(verdict)s</title>
<style>body{font-family:sans-serif;margin:1.5em}td,th{padding:2px 8px;font-size:12px;text-align:right}
.v{color:#fff;background:%(color)s;padding:2px 8px;border-radius:3px}</style></head>
<body><h1>SLI gate <span class="v">%(verdict)s</span></h1>
<p>%(reason)s</p><p>%(nprobes)d probes over %(duration).1f s (window %(window)s s, interval %(interval)s s), %(url)s</p>
%(charts)s
<h2>Probes</h2><table><tr><th>#</th><th>time</th><th>elapsed s</th>%(heads)s<th>status</th></tr>
%(rows)s</table>
<h2>Queries</h2><ul>%(queries)s</ul>
</body></html>
""" % {
        "verdict": html.escape(result["verdict"]), "color": color, "reason": html.escape(result["reason"]),
        "nprobes": len(result["probes"]), "duration": result["duration"], "window": result["window"],
        "interval": result["interval"], "url": html.escape(str(result.get("url", ""))), "charts": charts,
        "heads": heads, "rows": "\n".join(rows),
        "queries": "".join("<li><b>%s</b> (%s): <code>%s</code></li>" % (
            html.escape(s["name"]), html.escape(threshold_text(s)), html.escape(s["query"])) for s in result["slis"]),
    }
