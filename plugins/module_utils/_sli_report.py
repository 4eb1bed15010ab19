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


def _shown(values, statuses, name):
    st = statuses.get(name, "error")
    if st in ("ok", "breach"):
        return fmt_value(values.get(name))
    if st == "error":
        return "ERROR"
    return "NaN" if st == "nan" else "no-data"


def probe_line(probe, slis, window):
    """The live progress line of one probe; with a baseline, canary vs baseline per SLI
    (``p95_latency=0.2 vs 0.02``), both request counts and the probe's verdict."""
    parts = ["%6.1fs/%ds" % (probe["elapsed"], window), "probe %d" % probe["index"]]
    base = probe.get("baseline")
    for sli in slis:
        name = sli["name"]
        shown = _shown(probe["values"], probe["sli_status"], name)
        if base is not None:
            shown += " vs " + _shown(base["values"], base["sli_status"], name)
        parts.append("%s=%s (%s)" % (name, shown, threshold_text(sli)))
    if base is not None:
        req = probe.get("requests") or {}
        parts.append("req %s/%s" % (fmt_value(req.get("canary")), fmt_value(req.get("baseline"))))
    if base is None and (probe.get("requests") or {}).get("canary") is not None:
        parts.append("req %s" % fmt_value(probe["requests"]["canary"]))
    parts.append(probe["status"].upper())
    if probe.get("control"):
        parts.append("CONTROL " + "; ".join(probe["control"]))
    notes = ["%s: %s" % (n, r["text"]) for n, r in sorted((probe.get("relative") or {}).items()) if r.get("text")]
    if notes:
        parts.append("(" + "; ".join(notes) + ")")
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
    finite += [v for v in (_num((p.get("baseline") or {}).get("values", {}).get(name)) for p in result["probes"])
               if v is not None and math.isfinite(v)]
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
    if result.get("baseline"):
        base = [(p["elapsed"], _num(p["baseline"]["values"].get(name))) for p in result["probes"] if p.get("baseline")]
        base_pts = ["%.1f,%.1f" % (sx(t), sy(v)) for t, v in base if v is not None]
        if base_pts:
            out.append('<polyline fill="none" stroke="#888" stroke-width="1.5" stroke-dasharray="3,3" points="%s">'
                       '<title>baseline</title></polyline>' % " ".join(base_pts))
        out.append('<text x="%d" y="16" font-size="11" text-anchor="end" font-family="sans-serif">'
                   '<tspan fill="#36c">canary</tspan> <tspan fill="#888">- - baseline</tspan></text>'
                   % (pad_l + plot_w,))
    points = []
    for probe in result["probes"]:
        v = _num(probe["values"].get(name))
        if v is not None:
            points.append("%.1f,%.1f" % (sx(probe["elapsed"]), sy(v)))
    if points:
        out.append('<polyline fill="none" stroke="#36c" stroke-width="1.5" points="%s"><title>canary</title>'
                   '</polyline>' % " ".join(points))
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


def _relative_html(result):
    base = result.get("baseline")
    if not base:
        return ""
    return ("<p>Relative gate: baseline <code>%s</code>; red when p95 &gt; baseline x %s and +%s s, or 5xx "
            "ratio &gt; baseline + %s; min_requests %s per side; on_inconclusive=%s (hold_limit %s s, held %s s)"
            "</p>" % (html.escape(base["selector"]), fmt_value(base["p95_ratio"]), fmt_value(base["p95_floor"]),
                      fmt_value(base["error_delta"]), base["min_requests"], html.escape(base["on_inconclusive"]),
                      base["hold_limit"], fmt_value(base.get("extension") or 0)))


def render_html(result):
    color = {"green": "#2a7", "inconclusive": "#e80"}.get(result["verdict"], "#d22")
    rows = []
    relative = bool(result.get("baseline"))
    for probe in result["probes"]:
        cells = ""
        for s in result["slis"]:
            cells += "<td>%s</td>" % html.escape(fmt_value(probe["values"].get(s["name"])))
            if relative:
                pb = probe.get("baseline") or {"values": {}}
                rel = (probe.get("relative") or {}).get(s["name"]) or {}
                cells += "<td>%s</td><td>%s</td>" % (html.escape(fmt_value(pb["values"].get(s["name"]))),
                                                     html.escape(rel.get("text") or rel.get("status") or "-"))
        if relative:
            req = probe.get("requests") or {}
            cells += "<td>%s / %s</td>" % (html.escape(fmt_value(req.get("canary"))),
                                           html.escape(fmt_value(req.get("baseline"))))
        rows.append("<tr><td>%d</td><td>%s</td><td>%.1f</td>%s<td>%s</td></tr>" % (
            probe["index"], probe["time"], probe["elapsed"], cells, probe["status"]))
    if relative:
        heads = "".join("<th>%s canary</th><th>baseline</th><th>verdict</th>" % html.escape(s["name"])
                        for s in result["slis"]) + "<th>requests c / b</th>"
    else:
        heads = "".join("<th>%s</th>" % html.escape(s["name"]) for s in result["slis"])
    charts = "\n".join(render_svg(result, sli) for sli in result["slis"])
    return """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>prom_sli_watch: %(verdict)s</title>
<style>body{font-family:sans-serif;margin:1.5em}td,th{padding:2px 8px;font-size:12px;text-align:right}
.v{color:#fff;background:%(color)s;padding:2px 8px;border-radius:3px}</style></head>
<body><h1>SLI gate <span class="v">%(verdict)s</span></h1>
<p>%(reason)s</p>%(relative)s<p>%(nprobes)d probes over %(duration).1f s (window %(window)s s, interval %(interval)s s), %(url)s</p>
%(charts)s
<h2>Probes</h2><table><tr><th>#</th><th>time</th><th>elapsed s</th>%(heads)s<th>status</th></tr>
%(rows)s</table>
<h2>Queries</h2><ul>%(queries)s</ul>
</body></html>
""" % {
        "verdict": html.escape(result["verdict"]), "color": color, "reason": html.escape(result["reason"]),
        "nprobes": len(result["probes"]), "duration": result["duration"], "window": result["window"],
        "interval": result["interval"], "url": html.escape(str(result.get("url", ""))), "charts": charts,
        "heads": heads, "rows": "\n".join(rows), "relative": _relative_html(result),
        "queries": "".join("<li><b>%s</b> (%s): <code>%s</code></li>" % (
            html.escape(s["name"]), html.escape(threshold_text(s)), html.escape(s["query"]))
            for s in result["slis"] + [dict(b, name="baseline " + b["name"])
                                       for b in (result.get("baseline") or {}).get("slis", [])]),
    }
