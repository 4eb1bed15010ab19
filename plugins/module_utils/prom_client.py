# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus HTTP API client and SLI gate policy for veza.infra.prom_sli_watch.

This module util is PRIVATE to veza.infra, no compatibility promise: do not import it from
other collections. It runs on managed hosts (the module) and on the controller (the action
plugin), so it uses the Python standard library only, plus ansible-core's own
``ansible.module_utils.urls.open_url`` (urllib underneath; shipped with every module).

Layers, each testable alone:
- ``PromClient.query()``: one instant query, returned as a tagged ``PromResult``
  (ok(values) | empty | nan | error(text)), never an exception.
- ``validate_params()`` / ``build_slis()``: input checks and the default PromQL.
- ``WatchPolicy``: turns one probe (a result per SLI) into a probe record and, when the gate
  is decided, a verdict and a reason. Pure: no clock, no network.
- ``run_watch()``: the loop (preflight, schedule, policy), clock and sleep injectable.
- ``write_report()``: JSON plus a self-contained HTML/SVG chart.
"""
from __future__ import annotations

import datetime
import html
import json
import math
import os
import re
import socket
import time
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlparse

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

DEFAULT_HISTOGRAM = "veza_gin_http_request_duration_seconds"


def argument_spec():
    """The argument spec shared by the module and the action plugin (a fresh dict each call)."""
    return dict(
        url=dict(type="str", default="http://prom.lxd:9090", aliases=["prometheus_url"]),
        window=dict(type="int", default=3600),
        interval=dict(type="int", default=30),
        min_window=dict(type="int", default=300),
        p95_threshold=dict(type="float", default=0.5),
        error_rate_threshold=dict(type="float", default=0.005),
        selector=dict(type="str", default=""),
        histogram=dict(type="str", default=DEFAULT_HISTOGRAM),
        slis=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True),
            query=dict(type="str", required=True),
            max=dict(type="float"),
            min=dict(type="float"),
        )),
        scrape_interval=dict(type="int", default=15),
        rate_range=dict(type="str"),
        timeout=dict(type="float", default=10.0),
        on_no_data=dict(type="str", default="fail", choices=["fail", "ignore"]),
        no_data_limit=dict(type="int", default=2),
        error_limit=dict(type="int", default=3),
        failure_limit=dict(type="int", default=0),
        fail_on_red=dict(type="bool", default=True),
        report_path=dict(type="path"),
        bearer_token=dict(type="str", no_log=True),
        url_username=dict(type="str"),
        url_password=dict(type="str", no_log=True),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
    )


REQUIRED_TOGETHER = [("url_username", "url_password")]
MUTUALLY_EXCLUSIVE = [("bearer_token", "url_username")]


class PromSliConfigError(Exception):
    """Bad input, found before the window starts. The message names the field and the fix."""


# --------------------------------------------------------------------------------------------
# Tagged query result and the HTTP client
# --------------------------------------------------------------------------------------------
class PromResult:
    """Outcome of one instant query: kind is ``ok``, ``empty``, ``nan`` or ``error``.

    ``values`` holds the (non-NaN) sample values of an ``ok`` result, one per series.
    ``error_type`` is Prometheus's ``errorType`` (``bad_data`` for PromQL it rejects) or
    ``transport`` / ``timeout`` / ``http`` / ``response`` for the client's own errors.
    """

    __slots__ = ("kind", "values", "text", "error_type")

    def __init__(self, kind, values=None, text="", error_type=None):
        self.kind = kind
        self.values = list(values or [])
        self.text = text
        self.error_type = error_type

    @classmethod
    def ok(cls, values):
        return cls("ok", values=values)

    @classmethod
    def empty(cls):
        return cls("empty", text="empty vector")

    @classmethod
    def nan(cls):
        return cls("nan", text="NaN")

    @classmethod
    def error(cls, text, error_type="transport"):
        return cls("error", text=text, error_type=error_type)

    @classmethod
    def from_samples(cls, values):
        """ok / empty / nan from the float values of the series a query returned."""
        if not values:
            return cls.empty()
        real = [v for v in values if not math.isnan(v)]
        if not real:
            return cls.nan()
        return cls.ok(real)

    @property
    def rejected(self):
        """True when Prometheus refused the query itself (PromQL error), not a transient failure."""
        return self.kind == "error" and self.error_type == "bad_data"

    def __repr__(self):
        return "PromResult(%s, %r, %r)" % (self.kind, self.values, self.text)


def parse_query_response(payload):
    """Turn the decoded JSON of /api/v1/query into a PromResult."""
    if not isinstance(payload, dict) or "status" not in payload:
        return PromResult.error("not a Prometheus API answer: %.200r" % (payload,), "response")
    if payload.get("status") != "success":
        return PromResult.error(
            "%s: %s" % (payload.get("errorType", "error"), payload.get("error", "(no error text)")),
            payload.get("errorType", "error"))
    data = payload.get("data") or {}
    rtype = data.get("resultType")
    result = data.get("result")
    try:
        if rtype == "vector":
            values = [float(series["value"][1]) for series in result]
        elif rtype == "scalar":
            values = [float(result[1])]
        else:
            return PromResult.error(
                "query returned a %s; an SLI query must return an instant vector or a scalar" % rtype,
                "bad_data")
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        return PromResult.error("malformed Prometheus answer: %s" % exc, "response")
    return PromResult.from_samples(values)


class PromClient:
    """Minimal Prometheus HTTP API client: instant queries, auth and TLS options."""

    def __init__(self, url, timeout=10.0, bearer_token=None, url_username=None, url_password=None,
                 validate_certs=True, ca_path=None):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
        if bearer_token:
            self.headers["Authorization"] = "Bearer %s" % bearer_token
        self.url_username = url_username
        self.url_password = url_password
        self.validate_certs = validate_certs
        self.ca_path = ca_path

    def _timeout_error(self):
        return PromResult.error("query to %s timed out after %ss" % (self.url, self.timeout), "timeout")

    def query(self, promql):
        """Run one instant query (evaluated at Prometheus's now). Never raises."""
        body = urlencode({"query": promql})
        try:
            resp = open_url(self.url + "/api/v1/query", data=body, headers=self.headers, method="POST",
                            timeout=self.timeout, validate_certs=self.validate_certs,
                            url_username=self.url_username, url_password=self.url_password,
                            force_basic_auth=self.url_username is not None, ca_path=self.ca_path,
                            http_agent="veza.infra.prom_sli_watch", use_netrc=False)
            try:
                raw = resp.read()
            finally:
                resp.close()
        except HTTPError as exc:
            return self._http_error(exc)
        except (socket.timeout, TimeoutError):
            return self._timeout_error()
        except URLError as exc:
            if isinstance(exc.reason, (socket.timeout, TimeoutError)):
                return self._timeout_error()
            return PromResult.error("cannot reach Prometheus at %s: %s" % (self.url, exc.reason), "transport")
        except (OSError, ValueError, UrlsConnectionError) as exc:  # reset, bad status line, TLS, ...
            return PromResult.error("cannot reach Prometheus at %s: %s" % (self.url, exc), "transport")
        try:
            payload = json.loads(raw.decode("utf-8", "replace"))
        except ValueError:
            return PromResult.error("%s/api/v1/query did not answer JSON (is url a Prometheus?): %.120r"
                                    % (self.url, raw[:120]), "response")
        return parse_query_response(payload)

    def _http_error(self, exc):
        raw = b""
        try:
            raw = exc.read() or b""
        except (OSError, ValueError):
            pass
        finally:
            exc.close()
        try:
            payload = json.loads(raw.decode("utf-8", "replace"))
        except ValueError:
            payload = None
        if isinstance(payload, dict) and payload.get("status") == "error":
            # Prometheus's own words, e.g. "bad_data: 1:14: parse error: unclosed left parenthesis"
            return PromResult.error("%s: %s" % (payload.get("errorType"), payload.get("error")),
                                    payload.get("errorType") or "http")
        return PromResult.error("HTTP %s %s from %s: %s" % (
            exc.code, exc.reason, self.url, raw[:200].decode("utf-8", "replace")), "http")


# --------------------------------------------------------------------------------------------
# Input validation and query building
# --------------------------------------------------------------------------------------------
_MATCHER = r'\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*'
_SELECTOR_RE = re.compile(r"^(?:%s(?:,%s)*,?\s*)?$" % (_MATCHER, _MATCHER))
_DURATION_RE = re.compile(r"^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$")
_SLI_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_METRIC_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def normalize_selector(selector):
    """Return the label matchers of ``selector`` without braces; raise on anything else."""
    sel = (selector or "").strip()
    if sel.startswith("{") and sel.endswith("}"):
        sel = sel[1:-1].strip()
    if not _SELECTOR_RE.match(sel):
        raise PromSliConfigError(
            "selector: expected PromQL label matchers such as 'instance=\"backend-api-2:8080\"' "
            "(comma-separated, values in double quotes, no metric name), got %r" % selector)
    return sel.rstrip().rstrip(",").strip()


def merge_matchers(*parts):
    """Join matcher strings, skipping empty ones, into a ``{...}`` block ('' when none)."""
    joined = ",".join(p for p in parts if p)
    return "{%s}" % joined if joined else ""


def rate_range_seconds(interval, scrape_interval):
    """Rate range R for the default queries: at least two probe intervals, so consecutive probes
    overlap and no request falls between them, and at least four scrape intervals, so rate()
    always has enough samples (Prometheus's own advice)."""
    return int(max(2 * interval, 4 * scrape_interval))


def default_slis(histogram, selector, p95_threshold, error_rate_threshold, rate_range):
    """The two SLIs of the runbook, with ``selector`` merged into every vector selector."""
    sel = merge_matchers(selector)
    sel_5xx = merge_matchers(selector, 'status=~"5.."')
    p95 = ("histogram_quantile(0.95, sum by (le) (rate(%s_bucket%s[%s])))"
           % (histogram, sel, rate_range))
    # "or vector(0)": no 5xx series at all is a 0 ratio, not "no data". An empty denominator
    # (no traffic series) stays empty and a zero one gives NaN: both are genuinely no data.
    err = ("(sum(rate(%s_count%s[%s])) or vector(0)) / sum(rate(%s_count%s[%s]))"
           % (histogram, sel_5xx, rate_range, histogram, sel, rate_range))
    return [
        {"name": "p95_latency", "query": p95, "max": p95_threshold, "min": None},
        {"name": "error_rate", "query": err, "max": error_rate_threshold, "min": None},
    ]


def validate_url(url):
    try:
        parsed = urlparse(url or "")
        port = parsed.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise PromSliConfigError("url: cannot parse %r (%s); expected e.g. http://prom.lxd:9090" % (url, exc))
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise PromSliConfigError(
            "url: cannot parse %r as a Prometheus address; expected http(s)://host[:port][/prefix], "
            "e.g. http://prom.lxd:9090" % (url,))
    if parsed.query or parsed.fragment:
        raise PromSliConfigError("url: %r carries a query string or fragment; give the server base URL only" % url)
    return port


def validate_params(params):
    """Check the module parameters; return the resolved config. Raises PromSliConfigError."""
    p = params
    validate_url(p["url"])
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
    if p["timeout"] <= 0:
        raise PromSliConfigError("timeout: must be a positive number of seconds, got %r" % p["timeout"])
    if p["scrape_interval"] <= 0:
        raise PromSliConfigError("scrape_interval: must be a positive number of seconds, got %r" % p["scrape_interval"])
    for key in ("no_data_limit", "error_limit"):
        if p[key] < 1:
            raise PromSliConfigError("%s: must be at least 1 (consecutive probes), got %r" % (key, p[key]))
    if p.get("failure_limit", 0) < 0:
        raise PromSliConfigError(
            "failure_limit: is the number of red probes tolerated (0 = the first red probe fails "
            "the gate), got %r" % p["failure_limit"])
    if p["p95_threshold"] < 0:
        raise PromSliConfigError(
            "p95_threshold: must not be negative (seconds, e.g. 0.5), got %r" % p["p95_threshold"])
    if p["error_rate_threshold"] < 0 or p["error_rate_threshold"] > 1:
        raise PromSliConfigError(
            "error_rate_threshold: is a ratio between 0 and 1 (0.005 = 0.5 %%), got %r" % p["error_rate_threshold"])
    if not _METRIC_RE.match(p["histogram"] or ""):
        raise PromSliConfigError("histogram: %r is not a Prometheus metric name" % p["histogram"])
    selector = normalize_selector(p["selector"])
    if p.get("rate_range"):
        if not _DURATION_RE.match(p["rate_range"]):
            raise PromSliConfigError(
                "rate_range: %r is not a PromQL duration; use e.g. 1m, 90s or 2m30s" % p["rate_range"])
        rate_range = p["rate_range"]
    else:
        rate_range = "%ds" % rate_range_seconds(p["interval"], p["scrape_interval"])
    if p.get("report_path"):
        parent = os.path.dirname(os.path.abspath(p["report_path"])) or "."
        if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
            raise PromSliConfigError(
                "report_path: directory %s does not exist or is not writable; create it first" % parent)
    if p.get("slis"):
        slis = _validate_slis(p["slis"])
    else:
        slis = default_slis(p["histogram"], selector, p["p95_threshold"], p["error_rate_threshold"], rate_range)
    return {"slis": slis, "rate_range": rate_range, "selector": selector}


def _validate_slis(raw):
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
            if val is not None and (val < 0 or math.isnan(val)):
                raise PromSliConfigError("%s.%s: must not be negative, got %r" % (where, key, val))
        if lo is not None and hi is not None and lo > hi:
            raise PromSliConfigError("%s: min=%r is above max=%r for SLI %r" % (where, lo, hi, name))
        slis.append({"name": name, "query": item["query"].strip(), "max": hi, "min": lo})
    return slis


# --------------------------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------------------------
def fmt_value(value):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return "%.4g" % value


def json_value(value):
    """Finite floats stay floats (6 significant digits); infinities become Prometheus's strings."""
    if value is None:
        return None
    if math.isfinite(value):
        return float("%.6g" % value)
    return "+Inf" if value > 0 else "-Inf"


def threshold_text(sli):
    parts = []
    if sli.get("max") is not None:
        parts.append("max %s" % fmt_value(sli["max"]))
    if sli.get("min") is not None:
        parts.append("min %s" % fmt_value(sli["min"]))
    return ", ".join(parts)


def judge_sli(sli, result):
    """One SLI against one result: (status, value, text). status: ok|breach|empty|nan|error."""
    if result.kind == "error":
        return "error", None, result.text
    if result.kind in ("empty", "nan"):
        return result.kind, None, result.text
    hi, lo = sli.get("max"), sli.get("min")
    worst_high, worst_low = max(result.values), min(result.values)
    if hi is not None and worst_high > hi:
        return "breach", worst_high, "%s > max %s" % (fmt_value(worst_high), fmt_value(hi))
    if lo is not None and worst_low < lo:
        return "breach", worst_low, "%s < min %s" % (fmt_value(worst_low), fmt_value(lo))
    return "ok", (worst_high if hi is not None else worst_low), ""


def iso_time(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


class WatchPolicy:
    """Decides the gate from probes. Statuses of a probe: green, red, no_data, error.

    - Any SLI over its threshold: the probe is red. The gate is red once more than
      ``failure_limit`` probes of the window were red (default 0: at the first one). Red probes
      are counted over the whole window, not consecutively (Argo Rollouts' failureLimit).
    - Otherwise any SLI whose query failed: an ``error`` probe. ``error_limit`` consecutive error
      probes make the gate red; any probe that got an answer resets the count.
    - Otherwise any SLI without data (empty vector or NaN): a ``no_data`` probe. With
      ``on_no_data=fail``, ``no_data_limit`` consecutive no-data probes make the gate red; a green
      probe resets the count, an error probe leaves it as it is. With ``ignore`` they are kept
      and counted but never fail the gate.
    - A PromQL error Prometheus reports as ``bad_data`` is a configuration error: red at once.
    """

    def __init__(self, slis, on_no_data="fail", no_data_limit=2, error_limit=3, failure_limit=0):
        self.slis = slis
        self.failure_limit = failure_limit
        self.red_probes = 0
        self.on_no_data = on_no_data
        self.no_data_limit = no_data_limit
        self.error_limit = error_limit
        self.probes = []
        self.consecutive_errors = 0
        self.consecutive_no_data = 0
        self.verdict = None
        self.reason = None
        self.breach = None

    @property
    def decided(self):
        return self.verdict is not None

    def observe(self, results, epoch, elapsed):
        """Record one probe (``results``: SLI name -> PromResult); return the probe record."""
        values, statuses, errors = {}, {}, {}
        breaches, failed, nodata = [], [], []
        for sli in self.slis:
            res = results.get(sli["name"]) or PromResult.error("no result", "internal")
            status, value, text = judge_sli(sli, res)
            values[sli["name"]] = json_value(value)
            statuses[sli["name"]] = status
            if status == "breach":
                breaches.append((sli, value, text))
            elif status == "error":
                errors[sli["name"]] = text
                failed.append((sli, res))
            elif status in ("empty", "nan"):
                nodata.append((sli, status))
        if breaches:
            status = "red"
        elif failed:
            status = "error"
        elif nodata:
            status = "no_data"
        else:
            status = "green"
        probe = {"index": len(self.probes), "time": iso_time(epoch), "elapsed": round(elapsed, 3),
                 "status": status, "values": values, "sli_status": statuses, "errors": errors}
        self.probes.append(probe)
        when = "at %s (probe %d, %.1fs into the window)" % (probe["time"], probe["index"], elapsed)
        if breaches:
            sli, value, text = breaches[0]
            self.breach = self.breach or {"sli": sli["name"], "value": json_value(value), "max": sli.get("max"),
                                          "min": sli.get("min"), "query": sli["query"], "time": probe["time"],
                                          "elapsed": probe["elapsed"], "probe": probe["index"]}
            self.red_probes += 1
            self.consecutive_errors = self.consecutive_no_data = 0
            if self.red_probes > self.failure_limit:
                limit = (" (red probe %d of the window, failure_limit=%d)" % (self.red_probes, self.failure_limit)
                         if self.failure_limit else "")
                self._decide("red", "SLI %s breached its threshold: %s %s%s; query: %s"
                             % (sli["name"], text, when, limit, sli["query"]))
            return probe
        rejected = [(s, r) for s, r in failed if r.rejected]
        if rejected:
            sli, res = rejected[0]
            self._decide("red", "Prometheus rejected the query of SLI %s %s: %s; query: %s"
                         % (sli["name"], when, res.text, sli["query"]))
            return probe
        if failed:
            self.consecutive_errors += 1
            if self.consecutive_errors >= self.error_limit:
                sli, res = failed[0]
                self._decide("red", "%d consecutive probes could not query Prometheus (error_limit=%d), "
                             "last %s: SLI %s: %s" % (self.consecutive_errors, self.error_limit, when,
                                                      sli["name"], res.text))
            return probe
        self.consecutive_errors = 0
        if nodata:
            self.consecutive_no_data += 1
            if self.on_no_data == "fail" and self.consecutive_no_data >= self.no_data_limit:
                what = ", ".join("%s returned %s" % (s["name"], "NaN" if k == "nan" else "an empty vector")
                                 for s, k in nodata)
                self._decide("red", "no data for %d consecutive probes (no_data_limit=%d, on_no_data=fail), "
                             "last %s: %s. Is the selector right and is the service getting traffic? "
                             "on_no_data=ignore accepts quiet periods" % (
                                 self.consecutive_no_data, self.no_data_limit, when, what))
            return probe
        self.consecutive_no_data = 0
        return probe

    def _decide(self, verdict, reason):
        self.verdict = verdict
        self.reason = reason

    def finish(self, duration):
        """Close a window that ran to its end without a red probe."""
        if self.decided:
            return
        counts = self.counts()
        extra = []
        if counts["no_data"]:
            extra.append("%d no-data probe(s) %s" % (
                counts["no_data"], "ignored (on_no_data=ignore)" if self.on_no_data == "ignore"
                else "below no_data_limit=%d" % self.no_data_limit))
        if counts["red"]:
            extra.append("%d red probe(s) tolerated by failure_limit=%d" % (counts["red"], self.failure_limit))
        if counts["error"]:
            extra.append("%d probe(s) with query errors, recovered within error_limit=%d"
                         % (counts["error"], self.error_limit))
        self._decide("green", "%s %d probes within thresholds over %.0fs%s" % (
            "all" if not counts["red"] else "%d of" % (len(self.probes) - counts["red"]),
            len(self.probes), duration, (" (" + "; ".join(extra) + ")") if extra else ""))

    def counts(self):
        out = {"green": 0, "red": 0, "no_data": 0, "error": 0}
        for probe in self.probes:
            out[probe["status"]] += 1
        return out


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


def run_watch(client, slis, window, interval, on_no_data="fail", no_data_limit=2, error_limit=3,
              on_probe=None, clock=time.monotonic, sleep=time.sleep, wallclock=time.time, failure_limit=0):
    """Preflight, then probe at t = 0, interval, 2*interval, ... <= window until decided.

    Returns the result dict (verdict, reason, probes, duration, ...). Raises PromSliConfigError
    when Prometheus rejects a query in the preflight.
    """
    warnings = preflight(client, slis)
    policy = WatchPolicy(slis, on_no_data, no_data_limit, error_limit, failure_limit)
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
        probe = policy.observe(results, epoch, elapsed)
        if on_probe is not None:
            on_probe(probe)
        if policy.decided:
            break
        # next slot on the schedule; slots missed by a slow probe are skipped, not bunched up
        after = clock() - start
        k = max(k + 1, int(math.ceil(after / interval)) if interval else k + 1)
        if k * interval > window + 1e-9:
            break
    duration = clock() - start
    policy.finish(duration)
    return {
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


def execute(params, on_probe=None, on_start=None, client=None, clock=time.monotonic, sleep=time.sleep,
            wallclock=time.time):
    """Validate ``params`` (module arguments), run the window, write the report.

    ``on_start(slis)`` is called once the SLIs are resolved, ``on_probe(probe)`` after each probe.

    Returns the result dict. Raises PromSliConfigError on bad input or a rejected query.
    """
    cfg = validate_params(params)
    if client is None:
        client = PromClient(params["url"], timeout=params["timeout"], bearer_token=params.get("bearer_token"),
                            url_username=params.get("url_username"), url_password=params.get("url_password"),
                            validate_certs=params.get("validate_certs", True), ca_path=params.get("ca_path"))
    if on_start is not None:
        on_start(cfg["slis"])
    result = run_watch(client, cfg["slis"], params["window"], params["interval"],
                       on_no_data=params["on_no_data"], no_data_limit=params["no_data_limit"],
                       error_limit=params["error_limit"], on_probe=on_probe, clock=clock, sleep=sleep,
                       wallclock=wallclock, failure_limit=params.get("failure_limit") or 0)
    result["url"] = params["url"]
    result["rate_range"] = cfg["rate_range"]
    if params.get("report_path"):
        result.update(write_report(result, params["report_path"]))
    return result


# --------------------------------------------------------------------------------------------
# Report: JSON + self-contained HTML/SVG chart
# --------------------------------------------------------------------------------------------
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
