# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Arguments, validation, default queries and the watch loop of veza.infra.prom_sli_watch.

This module util is PRIVATE to veza.infra. There is no compatibility promise: do not import it
from other collections. Its interface can change (or it can be removed) in any release.

- ``argument_spec()`` / ``validate_params()`` / ``default_slis()``: input checks and the default
  PromQL (the connection options come from ``_prom_client``).
- ``preflight()``: every SLI queried once before the window.
- ``run_watch()``: the loop (preflight, schedule, policy), clock and sleep injectable.
- ``execute()``: validate, run the window, write the report.
"""
from __future__ import annotations

import math
import os
import re
import time

from ansible_collections.veza.infra.plugins.module_utils._prom_client import (
    CONNECTION_MUTUALLY_EXCLUSIVE,
    CONNECTION_REQUIRED_TOGETHER,
    PromConfigError,
    client_from_params,
    connection_argument_spec,
    validate_connection,
)
from ansible_collections.veza.infra.plugins.module_utils._release_control import ControlReader, describe
from ansible_collections.veza.infra.plugins.module_utils._sli_policy import INCONCLUSIVE_POLICIES, WatchPolicy
from ansible_collections.veza.infra.plugins.module_utils._sli_report import report_paths, write_report

DEFAULT_HISTOGRAM = "veza_gin_http_request_duration_seconds"
# PromSliConfigError is the client's PromConfigError: bad input, found before the window starts.
PromSliConfigError = PromConfigError


def slis_spec():
    """The ``slis`` option (own SLIs: name, query, max, min), shared with prom_preflight."""
    return dict(type="list", elements="dict", options=dict(
        name=dict(type="str", required=True),
        query=dict(type="str", required=True),
        max=dict(type="float"),
        min=dict(type="float"),
    ))


def argument_spec():
    """The argument spec shared by the module and the action plugin (a fresh dict each call)."""
    spec = connection_argument_spec()
    spec.update(
        window=dict(type="int", default=3600),
        interval=dict(type="int", default=30),
        min_window=dict(type="int", default=300),
        p95_threshold=dict(type="float", default=0.5),
        error_rate_threshold=dict(type="float", default=0.005),
        selector=dict(type="str", default=""),
        histogram=dict(type="str", default=DEFAULT_HISTOGRAM),
        slis=slis_spec(),
        scrape_interval=dict(type="int", default=15),
        rate_range=dict(type="str"),
        on_no_data=dict(type="str", default="fail", choices=["fail", "ignore"]),
        no_data_limit=dict(type="int", default=2),
        error_limit=dict(type="int", default=3),
        failure_limit=dict(type="int", default=0),
        min_good_ratio=dict(type="float", default=0.5),
        fail_on_red=dict(type="bool", default=True),
        report_path=dict(type="path"),
        # the relative gate (#17): the canary against the pool's servers still on the old binary
        baseline_selector=dict(type="str"),
        baseline_instances=dict(type="list", elements="str"),
        baseline_label=dict(type="str", default="instance"),
        baseline_p95_ratio=dict(type="float", default=1.5),
        baseline_p95_floor=dict(type="float", default=0.05),
        baseline_error_delta=dict(type="float", default=0.005),
        min_requests=dict(type="int", default=50),
        on_inconclusive=dict(type="str", default="hold", choices=["hold", "rollback", "ignore"]),
        hold_limit=dict(type="int", default=600),
        # the traffic ramp and on-call controls (#16)
        min_canary_requests=dict(type="int", default=0),
        requests_selector=dict(type="str", default=""),
        control_file=dict(type="path"),
        control_run_id=dict(type="str"),
        control_since=dict(type="float"),
    )
    return spec


REQUIRED_TOGETHER = CONNECTION_REQUIRED_TOGETHER
MUTUALLY_EXCLUSIVE = CONNECTION_MUTUALLY_EXCLUSIVE + [["baseline_selector", "baseline_instances"]]


# --------------------------------------------------------------------------------------------
# Input validation and query building
# --------------------------------------------------------------------------------------------
_MATCHER = r'\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*'
_SELECTOR_RE = re.compile(r"^(?:%s(?:,%s)*,?\s*)?$" % (_MATCHER, _MATCHER))
_DURATION_RE = re.compile(r"^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$")
_SLI_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
METRIC_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
REQUESTS_SELECTOR_EXAMPLE = 'path!="/api/v1/health"'


def normalize_selector(selector, field="selector", example='instance="backend-api-2:8080"'):
    """Return the label matchers of ``selector`` without braces; raise on anything else, naming
    ``field`` and showing ``example``."""
    sel = (selector or "").strip()
    if sel.startswith("{") and sel.endswith("}"):
        sel = sel[1:-1].strip()
    if not _SELECTOR_RE.match(sel):
        raise PromSliConfigError(
            "%s: expected PromQL label matchers such as '%s' "
            "(comma-separated, values in double quotes, no metric name), got %r" % (field, example, selector))
    return sel.rstrip().rstrip(",").strip()


def merge_matchers(*parts):
    """Join matcher strings, skipping empty ones, into a ``{...}`` block ('' when none)."""
    joined = ",".join(p for p in parts if p)
    return "{%s}" % joined if joined else ""


_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_seconds(duration):
    """Seconds of a PromQL duration such as ``90s`` or ``1m30s`` (already matched by _DURATION_RE)."""
    return float(sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(duration)))


def rate_range_seconds(interval, scrape_interval):
    """Rate range R for the default queries: at least two probe intervals, so consecutive probes
    overlap and no request falls between them, and at least four scrape intervals, so rate()
    always has enough samples (Prometheus's own advice)."""
    return int(max(2 * interval, 4 * scrape_interval))


def counts_over(series, rate_range, history):
    """Per-series count over the last ``rate_range`` R of the counter ``series`` (a vector selector),
    a series born inside R included; ``history`` is the selector of the target's series that say
    Prometheus scraped it before R (the histogram's ``_count`` under the SLI's selector).

    ``increase()`` only sees what happens between two samples of one series, so a counter's first
    sample is lost: a client library creates the ``status="503"`` series of a route on its first 503,
    and the errors a new binary served before the first scrape of that series never reach a
    ``rate()``. At a low traffic share (a few requests per probe, the ramp's 5 % step) that is most
    of them: a build with 20 % 5xx read 0 %. A series without a sample in the R before R, on a target
    (same ``instance``) that had samples there, was born inside R and counted from 0, so its current
    value is its count. Every other series counts by ``increase()`` (as before: one with two samples
    in R), which handles the counter resets of a restart. A failed scrape (a staleness marker) does
    not make an old series look new, since the range before R still holds its samples; and a
    Prometheus with no history of the target (just started, or a target just added) is not read as
    "every series is new", which would count each series since its process started."""
    before = "present_over_time({s}[{r}] offset {r})"
    born = "(({s} unless {b}) and on(instance) {h})".format(
        s=series, b=before.format(s=series, r=rate_range), h=before.format(s=history, r=rate_range))
    return "((increase({s}[{r}]) unless {born}) or {born})".format(s=series, r=rate_range, born=born)


def default_slis(histogram, selector, p95_threshold, error_rate_threshold, rate_range):
    """The two SLIs of the runbook, with ``selector`` merged into every vector selector; both
    count requests with ``counts_over``, so the first requests of a new series are not lost."""
    sel = merge_matchers(selector)
    sel_5xx = merge_matchers(selector, 'status=~"5.."')
    history = "%s_count%s" % (histogram, sel)
    p95 = ("histogram_quantile(0.95, sum by (le) (%s))"
           % counts_over("%s_bucket%s" % (histogram, sel), rate_range, history))
    # "or vector(0)": no 5xx series at all is a 0 ratio, not "no data". An empty denominator
    # (no traffic series) stays empty and a zero one gives NaN: both are genuinely no data.
    err = ("(sum(%s) or vector(0)) / sum(%s)"
           % (counts_over("%s_count%s" % (histogram, sel_5xx), rate_range, history),
              counts_over(history, rate_range, history)))
    # what a message shows instead of the (long) query; the report keeps the query itself
    summary = "%%s of %s%s over %s (the PromQL is in the report)" % (histogram, sel, rate_range)
    return [
        {"name": "p95_latency", "query": p95, "max": p95_threshold, "min": None,
         "summary": summary % "p95 latency"},
        {"name": "error_rate", "query": err, "max": error_rate_threshold, "min": None,
         "summary": summary % "5xx share"},
    ]


def requests_query(histogram, selector, rate_range, requests_selector=""):
    """Requests served over the rate range of a probe (the minimum-requests checks), counted as the
    SLIs count them; ``requests_selector`` narrows the count (not the target's history), e.g. to
    leave HAProxy's health checks out: they are requests too, and at a low share they can be most."""
    history = "%s_count%s" % (histogram, merge_matchers(selector))
    return "sum(%s)" % counts_over("%s_count%s" % (histogram, merge_matchers(selector, requests_selector)),
                                   rate_range, history)


def string_literal(value):
    """``value`` inside a PromQL double-quoted string (Go string escaping)."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _regex_literal(value):
    """``value`` as a literal inside a PromQL ``=~"..."`` (RE2, then Go string escaping)."""
    return string_literal(re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", value))


def instances_selector(label, values):
    """``label=~"^(a|b)$"`` matching exactly ``values`` (each one literally)."""
    return '%s=~"^(%s)$"' % (label, "|".join(_regex_literal(v) for v in values))


def _finite(p, key, low, what):
    val = p.get(key)
    if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val) or val < low:
        raise PromSliConfigError("%s: %s, got %r" % (key, what, val))
    return float(val)


def validate_relative(p, histogram, rate_range, p95_threshold, error_rate_threshold, interval):
    """The relative gate's options; None when no baseline is given. Raises PromSliConfigError."""
    if not p.get("baseline_selector") and not p.get("baseline_instances"):
        return None
    if p.get("slis"):
        raise PromSliConfigError(
            "baseline_selector/baseline_instances: the relative gate compares the default SLIs (p95_latency, "
            "error_rate) of the canary and the baseline; it cannot be combined with slis")
    label = p.get("baseline_label") or ""
    if p.get("baseline_instances"):
        if not isinstance(label, str) or not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", label):
            raise PromSliConfigError("baseline_label: %r is not a Prometheus label name (e.g. instance)" % label)
        raw = p["baseline_instances"]
        values = [v for v in raw if isinstance(v, str) and v.strip()] if isinstance(raw, list) else []
        if not isinstance(raw, list) or len(values) != len(raw):
            raise PromSliConfigError("baseline_instances: every entry must be a non-empty label value such as "
                                     "backend-api-1:8080, got %r" % (p["baseline_instances"],))
        selector = instances_selector(label, [v.strip() for v in values])
    else:
        if not isinstance(p["baseline_selector"], str):
            raise PromSliConfigError("baseline_selector: PromQL label matchers as a string, got %r"
                                     % (p["baseline_selector"],))
        selector = normalize_selector(p["baseline_selector"], "baseline_selector")
        if not selector:
            raise PromSliConfigError("baseline_selector: empty; give the matchers of the servers still on "
                                     "the old binary, e.g. instance=~\"backend-api-(1|3):8080\"")
    rel = {
        "selector": selector,
        "p95_ratio": _finite(p, "baseline_p95_ratio", 1.0, "a finite ratio of at least 1 (1.5 = the canary's "
                             "p95 50 %% above the baseline's)"),
        "p95_floor": _finite(p, "baseline_p95_floor", 0.0, "a finite number of seconds >= 0 (e.g. 0.05)"),
        "error_delta": _finite(p, "baseline_error_delta", 0.0, "a finite 5xx ratio difference from 0 to 1 "
                               "(0.005 = 0.5 percentage points)"),
        "on_inconclusive": p.get("on_inconclusive") or "hold",
        "interval": interval,
    }
    if rel["error_delta"] > 1:
        raise PromSliConfigError("baseline_error_delta: a 5xx ratio difference from 0 to 1, got %r"
                                 % p["baseline_error_delta"])
    if rel["on_inconclusive"] not in INCONCLUSIVE_POLICIES:
        raise PromSliConfigError("on_inconclusive: one of %s, got %r"
                                 % (", ".join(INCONCLUSIVE_POLICIES), rel["on_inconclusive"]))
    for key, what in (("min_requests", "requests per probe on each side (0 = no minimum)"),
                      ("hold_limit", "seconds an inconclusive window may be extended (0 = not at all)")):
        val = p.get(key)
        if isinstance(val, bool) or not isinstance(val, int) or not 0 <= val <= 10 ** 9:
            raise PromSliConfigError("%s: a whole number >= 0 of %s, got %r" % (key, what, val))
        rel[key] = val
    rel["baseline_slis"] = default_slis(histogram, selector, p95_threshold, error_rate_threshold, rate_range)
    return rel


def validate_params(params):
    """Check the module parameters; return the resolved config. Raises PromSliConfigError."""
    p = params
    validate_connection(p)
    for key in ("window", "interval"):
        if p[key] is None or p[key] <= 0:
            raise PromSliConfigError("%s: must be a positive number of seconds, got %r" % (key, p[key]))
    if p["min_window"] < 0:
        raise PromSliConfigError("min_window: must be >= 0, got %r" % p["min_window"])
    if p["interval"] > p["window"]:
        raise PromSliConfigError(
            "interval=%s is longer than window=%s: the window would hold a single probe; "
            "shorten interval or lengthen window" % (p["interval"], p["window"]))
    if p["window"] < p["min_window"]:
        raise PromSliConfigError(
            "window=%s is shorter than min_window=%s: a short window proves little about a canary; "
            "lengthen window, or lower min_window explicitly (a lab may set min_window: %s)"
            % (p["window"], p["min_window"], p["window"]))
    if p["scrape_interval"] <= 0:
        raise PromSliConfigError("scrape_interval: must be a positive number of seconds, got %r" % p["scrape_interval"])
    for key in ("no_data_limit", "error_limit"):
        if p[key] < 1:
            raise PromSliConfigError("%s: must be at least 1 (consecutive probes), got %r" % (key, p[key]))
    if p.get("failure_limit", 0) < 0:
        raise PromSliConfigError(
            "failure_limit: is the number of red probes tolerated (0 = the first red probe fails "
            "the gate), got %r" % p["failure_limit"])
    if not math.isfinite(p["p95_threshold"]):
        raise PromSliConfigError(
            "p95_threshold: must be a finite number of seconds (e.g. 0.5), got %r: a NaN or infinite "
            "threshold can never be breached" % p["p95_threshold"])
    if p["p95_threshold"] < 0:
        raise PromSliConfigError(
            "p95_threshold: must not be negative (seconds, e.g. 0.5), got %r" % p["p95_threshold"])
    if not 0 <= p["error_rate_threshold"] <= 1:  # also refuses NaN
        raise PromSliConfigError(
            "error_rate_threshold: is a ratio between 0 and 1 (0.005 = 0.5 %%), got %r" % p["error_rate_threshold"])
    if not METRIC_RE.match(p["histogram"] or ""):
        raise PromSliConfigError("histogram: %r is not a Prometheus metric name" % p["histogram"])
    selector = normalize_selector(p["selector"])
    if p.get("rate_range"):
        if not _DURATION_RE.match(p["rate_range"]):
            raise PromSliConfigError(
                "rate_range: %r is not a PromQL duration; use e.g. 1m, 90s or 2m30s" % p["rate_range"])
        rate_range = p["rate_range"]
    else:
        rate_range = "%ds" % rate_range_seconds(p["interval"], p["scrape_interval"])
    ratio = p.get("min_good_ratio", 0.5)
    if not 0 < ratio <= 1:  # also refuses NaN
        raise PromSliConfigError(
            "min_good_ratio: is the share of the window's probes that must be green for a green verdict, "
            "above 0 and at most 1 (0.5 = half), got %r" % ratio)
    if p.get("report_path"):
        check_report_path(p["report_path"])
    mcr = p.get("min_canary_requests", 0)
    if isinstance(mcr, bool) or not isinstance(mcr, int) or not 0 <= mcr <= 10 ** 9:
        raise PromSliConfigError("min_canary_requests: a whole number >= 0 of requests the canary must serve per "
                                 "probe (0 = no minimum), got %r" % (mcr,))
    if p.get("control_file") and not p.get("control_run_id"):
        raise PromSliConfigError("control_run_id: required with control_file (the run whose controls apply; a "
                                 "control of another run is ignored)")
    # e.g. every path but the health path: HAProxy's health checks are requests too
    req_sel = normalize_selector(p.get("requests_selector") or "", "requests_selector", REQUESTS_SELECTOR_EXAMPLE)
    if p.get("slis"):
        slis = validate_slis(p["slis"])
    else:
        slis = default_slis(p["histogram"], selector, p["p95_threshold"], p["error_rate_threshold"], rate_range)
    rel = validate_relative(p, p["histogram"], rate_range, p["p95_threshold"], p["error_rate_threshold"],
                            p["interval"])
    if rel is not None:
        rel["requests"] = {"canary": requests_query(p["histogram"], selector, rate_range, req_sel),
                           "baseline": requests_query(p["histogram"], rel["selector"], rate_range, req_sel)}
    return {"slis": slis, "rate_range": rate_range, "selector": selector, "relative": rel,
            "canary_requests": requests_query(p["histogram"], selector, rate_range, req_sel) if mcr else None}


def check_report_path(report_path):
    """Refuse a report path that cannot be written, before the window (#14 item 4)."""
    for path in report_paths(report_path):
        parent = os.path.dirname(os.path.abspath(path)) or "."
        if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
            raise PromSliConfigError(
                "report_path: directory %s does not exist or is not writable; create it first" % parent)
        if os.path.isdir(path):
            raise PromSliConfigError(
                "report_path: %s is a directory; give a file name such as %s" % (
                    path, os.path.join(path, "sli-report.json")))
        if os.path.exists(path) and not os.access(path, os.W_OK):
            raise PromSliConfigError("report_path: %s exists and is not writable" % path)


def validate_slis(raw):
    seen = set()
    slis = []
    for idx, item in enumerate(raw):
        name = item.get("name")
        where = "slis[%d]" % idx
        if not name or not _SLI_NAME_RE.match(name):
            raise PromSliConfigError("%s.name: %r must be a word such as p99_latency" % (where, name))
        if name in seen:
            raise PromSliConfigError("%s.name: %r is used twice; SLI names must be unique" % (where, name))
        seen.add(name)
        if not (item.get("query") or "").strip():
            raise PromSliConfigError("%s.query: SLI %r needs a PromQL query" % (where, name))
        lo, hi = item.get("min"), item.get("max")
        if lo is None and hi is None:
            raise PromSliConfigError("%s: SLI %r needs max and/or min, otherwise it can never be red" % (where, name))
        for key, val in (("min", lo), ("max", hi)):
            if val is not None and not math.isfinite(val):
                raise PromSliConfigError("%s.%s: must be a finite number, got %r: a NaN or infinite bound "
                                         "can never be crossed" % (where, key, val))
            if val is not None and val < 0:
                raise PromSliConfigError("%s.%s: must not be negative, got %r" % (where, key, val))
        if lo is not None and hi is not None and lo > hi:
            raise PromSliConfigError("%s: min=%r is above max=%r for SLI %r" % (where, lo, hi, name))
        slis.append({"name": name, "query": item["query"].strip(), "max": hi, "min": lo})
    return slis


# --------------------------------------------------------------------------------------------
# The watch loop
# --------------------------------------------------------------------------------------------
def preflight(client, slis):
    """Query every SLI once before the window. PromQL that Prometheus rejects raises
    PromSliConfigError with Prometheus's own text; other failures are returned as warnings
    (the window's error_limit handles an unreachable Prometheus)."""
    warnings = []
    for sli in slis:
        res = client.query(sli["query"])
        if res.rejected:
            raise PromSliConfigError("slis/%s: Prometheus rejected the query before the window started: %s; query: %s"
                                     % (sli["name"], res.text, sli["query"]))
        if res.kind == "error":
            warnings.append("could not check the query of SLI %s before the window: %s" % (sli["name"], res.text))
    return warnings


def run_watch(client, slis, window, interval, on_no_data="fail", no_data_limit=2, error_limit=3,
              on_probe=None, clock=time.monotonic, sleep=time.sleep, wallclock=time.time, failure_limit=0,
              min_good_ratio=0.5, relative=None, min_canary_requests=0, canary_requests=None, control=None,
              requests_warmup=0.0):
    """Preflight, then probe at t = 0, interval, 2*interval, ... <= window until decided.

    With ``relative`` (from ``validate_relative``), every probe also queries the baseline's SLIs and
    both request counts through the same client, and the window may be extended by held
    inconclusive probes (``WatchPolicy.extension``).

    Returns the result dict (verdict, reason, probes, duration, ...). Raises PromSliConfigError
    when Prometheus rejects a query in the preflight.
    """
    warnings = preflight(client, slis)
    if relative is not None:
        warnings += preflight(client, [dict(s, name="baseline/" + s["name"]) for s in relative["baseline_slis"]])
    policy = WatchPolicy(slis, on_no_data, no_data_limit, error_limit, failure_limit, min_good_ratio,
                         relative=relative, min_canary_requests=min_canary_requests if canary_requests else 0,
                         requests_warmup=requests_warmup)
    controls = []     # on-call controls applied (#16): what, who, when, at which probe
    held = 0.0        # seconds added by canary-hold
    start = clock()
    k = 0
    while True:
        due = start + k * interval
        now = clock()
        if due > now:
            sleep(due - now)
        elapsed = clock() - start
        epoch = wallclock()
        results = dict((sli["name"], client.query(sli["query"])) for sli in slis)
        if relative is None:
            counts = {"canary": client.query(canary_requests)} if canary_requests else None
            probe = policy.observe(results, epoch, elapsed, requests=counts)
        else:
            baseline = dict((sli["name"], client.query(sli["query"])) for sli in relative["baseline_slis"])
            counts = dict((side, client.query(q)) for side, q in relative["requests"].items())
            probe = policy.observe(results, epoch, elapsed, baseline=baseline, requests=counts)
        if control is not None:
            new, notes = control.poll()
            warnings.extend(notes)
            for item in new:
                text = describe(item)
                if item["action"] == "hold":
                    held += item["seconds"]
                policy.apply_control(item, text)
                controls.append(dict(item, text=text, probe=probe["index"], elapsed=probe["elapsed"]))
                probe.setdefault("control", []).append(text)
        if on_probe is not None:
            on_probe(probe)
        if policy.decided:
            break
        # next slot on the schedule; slots missed by a slow probe are skipped, not bunched up
        after = clock() - start
        k = max(k + 1, int(math.ceil(after / interval)) if interval else k + 1)
        if k * interval > window + policy.extension + held + 1e-9:
            break
    duration = clock() - start
    policy.finish(duration)
    out = {
        "verdict": policy.verdict,
        "reason": policy.reason,
        "probes": policy.probes,
        "duration": round(duration, 3),
        "window": window,
        "interval": interval,
        "counts": policy.counts(),
        "breach": policy.breach,
        "slis": [dict(s) for s in slis],
        "warnings": warnings,
    }
    if control is not None:
        out["controls"] = controls
        out["held"] = held
        out["control_until"] = round(wallclock(), 3)
    if relative is not None:
        out["baseline"] = {
            "selector": relative["selector"], "slis": [dict(s) for s in relative["baseline_slis"]],
            "requests": dict(relative["requests"]), "p95_ratio": relative["p95_ratio"],
            "p95_floor": relative["p95_floor"], "error_delta": relative["error_delta"],
            "min_requests": relative["min_requests"], "on_inconclusive": relative["on_inconclusive"],
            "hold_limit": relative["hold_limit"], "extension": policy.extension, "fleet": policy.fleet}
    return out


def control_reader(params, wallclock=time.time):
    """The on-call control file's reader (``_release_control``), None without ``control_file``."""
    if not params.get("control_file"):
        return None
    since = params.get("control_since")
    return ControlReader(params["control_file"], params["control_run_id"],
                         wallclock() if since is None else since)


def execute(params, on_probe=None, on_start=None, client=None, clock=time.monotonic, sleep=time.sleep,
            wallclock=time.time):
    """Validate ``params`` (module arguments), run the window, write the report.

    ``on_start(slis)`` is called once the SLIs are resolved, ``on_probe(probe)`` after each probe.

    Returns the result dict. Raises PromSliConfigError on bad input or a rejected query.
    """
    cfg = validate_params(params)
    if client is None:
        client = client_from_params(params, http_agent="veza.infra.prom_sli_watch")
    if on_start is not None:
        on_start(cfg["slis"])
    result = run_watch(client, cfg["slis"], params["window"], params["interval"],
                       on_no_data=params["on_no_data"], no_data_limit=params["no_data_limit"],
                       error_limit=params["error_limit"], on_probe=on_probe, clock=clock, sleep=sleep,
                       wallclock=wallclock, failure_limit=params.get("failure_limit") or 0,
                       min_good_ratio=params.get("min_good_ratio", 0.5), relative=cfg.get("relative"),
                       min_canary_requests=params.get("min_canary_requests") or 0,
                       canary_requests=cfg.get("canary_requests"), control=control_reader(params, wallclock),
                       # too few requests while R still reaches back before the window is not yet "no data"
                       requests_warmup=duration_seconds(cfg["rate_range"]))
    result["url"] = params["url"]
    result["rate_range"] = cfg["rate_range"]
    if params.get("report_path"):
        # A result measured over the whole window is never lost to a report that cannot be
        # written (#14 item 4): the verdict stands, the error is returned and warned about.
        try:
            result.update(write_report(result, params["report_path"]))
        except (OSError, ValueError) as exc:
            result["report_error"] = "cannot write the report %s: %s" % (params["report_path"], exc)
            result["warnings"].append("prom_sli_watch: %s; the verdict and every probe are in this result"
                                      % result["report_error"])
    return result
