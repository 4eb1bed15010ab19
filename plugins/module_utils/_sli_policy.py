# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SLI gate policy of veza.infra.prom_sli_watch: pure functions, no clock, no network.

This module util is PRIVATE to veza.infra. There is no compatibility promise: do not import it
from other collections. Its interface can change (or it can be removed) in any release.

- ``judge_sli()``: one SLI against one query result.
- ``judge_relative()`` / ``compare_probe()``: the relative gate, the canary against a baseline
  (the pool's servers still on the old binary) measured by the same queries at the same time.
- ``WatchPolicy``: turns each probe (a result per SLI, and with a baseline the baseline's results
  and both request counts) into a probe record and, when the gate is decided, a verdict
  (green, red, or with a baseline inconclusive) and a reason.
"""
from __future__ import annotations

import datetime
import math

from ansible_collections.veza.infra.plugins.module_utils._prom_client import PromResult


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


# Which rule of the relative gate an SLI of the default queries follows.
RELATIVE_KIND = {"p95_latency": "latency", "error_rate": "errors"}
INCONCLUSIVE_POLICIES = ("hold", "rollback", "ignore")


def judge_relative(name, canary, baseline, rel):
    """One SLI, canary against baseline, both with data: (status, text); status ok|red|inconclusive.

    ``canary`` and ``baseline`` are ``(status, value, text)`` of ``judge_sli`` (status ok or breach),
    ``rel`` the relative settings (p95_ratio, p95_floor, error_delta). In order:

    - red when the canary regressed against the baseline: for latency, canary > baseline x ratio
      *and* canary - baseline > floor; for the 5xx ratio, canary - baseline > delta. A canary much
      worse than an already degraded fleet is still a regression;
    - red when the canary breaches its absolute threshold and the baseline does not;
    - inconclusive when the baseline breaches its threshold (fleet-wide): the comparison says
      nothing about the build, whatever the canary shows;
    - ok otherwise.
    """
    c_st, c_val, c_text = canary
    b_st, b_val, b_text = baseline
    kind = RELATIVE_KIND.get(name)
    if kind == "latency" and c_val is not None and b_val is not None:
        if c_val > b_val * rel["p95_ratio"] and c_val - b_val > rel["p95_floor"]:
            return "red", ("canary %s > baseline %s x %s and +%s > floor %s s" % (
                fmt_value(c_val), fmt_value(b_val), fmt_value(rel["p95_ratio"]),
                fmt_value(c_val - b_val), fmt_value(rel["p95_floor"])))
    elif kind == "errors" and c_val is not None and b_val is not None:
        if c_val - b_val > rel["error_delta"]:
            return "red", ("canary %s - baseline %s = %s > delta %s" % (
                fmt_value(c_val), fmt_value(b_val), fmt_value(c_val - b_val), fmt_value(rel["error_delta"])))
    if c_st == "breach" and b_st != "breach":
        return "red", "canary %s while the baseline is within (%s)" % (c_text, fmt_value(b_val))
    if b_st == "breach":
        return "inconclusive", "baseline breaches too (%s; canary %s): fleet-wide" % (b_text, fmt_value(c_val))
    return "ok", ""


def compare_probe(slis, canary, baseline, rel):
    """Every SLI of a probe with data on both sides: (status, {name: (status, text)}).

    status: red when any SLI is red, else inconclusive when any is, else green. Never green when an
    SLI of the canary breaches its threshold."""
    out = {}
    for sli in slis:
        out[sli["name"]] = judge_relative(sli["name"], canary[sli["name"]], baseline[sli["name"]], rel)
    statuses = [st for st, _text in out.values()]
    if "red" in statuses:
        return "red", out
    if "inconclusive" in statuses:
        return "inconclusive", out
    return "green", out


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
    - Never green without evidence: a window that ran to its end is green only when its last
      probe was green and at least ``min_good_ratio`` of its probes (and at least one) were green;
      otherwise red, whatever the limits above tolerated.

    With ``relative`` (the relative gate: a dict of p95_ratio, p95_floor, error_delta,
    min_requests, on_inconclusive, hold_limit, interval, baseline_slis and requests, the request
    count queries per side), every probe also carries the baseline's results and both request
    counts (``observe(..., baseline=, requests=)``):

    - a query error on either side is an ``error`` probe; no data on either side, or fewer than
      ``min_requests`` requests on either side, a ``no_data`` probe (never green);
    - otherwise ``compare_probe()``: ``red`` probes count as above; an ``inconclusive`` probe
      (the baseline breaches too: fleet-wide) is never green. ``on_inconclusive=rollback``
      counts it as red; ``hold`` extends the window by one interval per inconclusive probe, up
      to ``hold_limit`` seconds, and a window that still ends inconclusive has the verdict
      ``inconclusive`` (the caller stops without rolling back); ``ignore`` only keeps it (it is
      not evidence: the window must still end on a green probe with enough green probes).
    """

    def __init__(self, slis, on_no_data="fail", no_data_limit=2, error_limit=3, failure_limit=0,
                 min_good_ratio=0.5, relative=None, min_canary_requests=0, requests_warmup=0.0):
        self.slis = slis
        # absolute gate: fewer canary requests per probe than this is a no_data probe (a ramp step's
        # low share, #16); 0 = no minimum
        self.min_canary_requests = min_canary_requests
        # seconds from the window's start during which too few requests (and nothing else) is a
        # no_data probe that does not count towards no_data_limit: the rate range R still reaches
        # back before the step, when the canary had less or no share (the dark step's weight 0)
        self.requests_warmup = requests_warmup
        self.relative = relative
        # seconds the window is extended by held inconclusive probes (on_inconclusive=hold)
        self.extension = 0.0
        self.fleet = None
        self.min_good_ratio = min_good_ratio
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

    def observe(self, results, epoch, elapsed, baseline=None, requests=None):
        """Record one probe (``results``: SLI name -> PromResult); return the probe record.

        With the relative gate, ``baseline`` (SLI name -> PromResult) and ``requests``
        ({"canary": PromResult, "baseline": PromResult}) too."""
        if self.relative is not None:
            return self._observe_relative(results, baseline or {}, requests or {}, epoch, elapsed)
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
        counted = None
        if requests is not None and self.min_canary_requests:
            res = requests.get("canary") or PromResult.error("no result", "internal")
            if res.kind == "error":
                errors["requests"] = res.text
                failed.append(({"name": "requests", "query": "(request count)"}, res))
            else:
                # no series under the request selector (a new process that has served only health
                # checks, left out by requests_selector) is 0 requests
                count = max(res.values) if res.kind == "ok" else 0
                counted = json_value(count)
                if not count >= self.min_canary_requests:
                    nodata.append(({"name": "requests: %s < min_canary_requests %s" % (
                        fmt_value(count), self.min_canary_requests)}, "few"))
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
        if requests is not None and self.min_canary_requests:
            probe["requests"] = {"canary": counted}
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
                             % (sli["name"], text, when, limit, sli.get("summary") or sli["query"]))
            return probe
        if failed:
            self._on_failed(failed, when)
            return probe
        self.consecutive_errors = 0
        if nodata:
            what = ", ".join(s["name"] if k == "few" else "%s returned %s" % (
                s["name"], "NaN" if k == "nan" else "an empty vector") for s, k in nodata)
            self._on_no_data(what, when, probe, all(k == "few" for _s, k in nodata))
            return probe
        self.consecutive_no_data = 0
        return probe

    def _on_failed(self, failed, when):
        rejected = [(s, r) for s, r in failed if r.rejected]
        if rejected:
            sli, res = rejected[0]
            self._decide("red", "Prometheus rejected the query of SLI %s %s: %s; query: %s"
                         % (sli["name"], when, res.text, sli["query"]))
            return
        self.consecutive_errors += 1
        if self.consecutive_errors >= self.error_limit:
            sli, res = failed[0]
            self._decide("red", "%d consecutive probes could not query Prometheus (error_limit=%d), "
                         "last %s: SLI %s: %s" % (self.consecutive_errors, self.error_limit, when,
                                                  sli["name"], res.text))

    def _on_no_data(self, what, when, probe, only_few):
        """A no_data probe. Too few requests and nothing else (``only_few``) within the first
        ``requests_warmup`` seconds is a warm-up: kept and counted as no_data, marked, not towards
        no_data_limit, since the rate range still reaches back before the window."""
        if only_few and probe["elapsed"] < self.requests_warmup:
            probe["warmup"] = True
            return
        self.consecutive_no_data += 1
        if self.on_no_data == "fail" and self.consecutive_no_data >= self.no_data_limit:
            self._decide("red", "no data for %d consecutive probes (no_data_limit=%d, on_no_data=fail), "
                         "last %s: %s. Is the selector right and is the service getting traffic? "
                         "on_no_data=ignore accepts quiet periods" % (
                             self.consecutive_no_data, self.no_data_limit, when, what))

    def _observe_relative(self, results, baseline, requests, epoch, elapsed):
        """One probe of the relative gate (see the class docstring)."""
        rel = self.relative
        base_slis = dict((s["name"], s) for s in rel.get("baseline_slis") or self.slis)
        sides = {"canary": ({}, {}, {}), "baseline": ({}, {}, {})}  # judged, values, statuses
        errors, failed, nodata = {}, [], []
        for sli in self.slis:
            name = sli["name"]
            for side, got, key, query in (("canary", results, name, sli["query"]),
                                          ("baseline", baseline, "baseline/" + name, base_slis[name]["query"])):
                res = got.get(name) or PromResult.error("no result", "internal")
                status, value, text = judge_sli(sli, res)
                judged, values, statuses = sides[side]
                judged[name] = (status, value, text)
                values[name] = json_value(value)
                statuses[name] = status
                if status == "error":
                    errors[key] = text
                    failed.append(({"name": key, "query": query}, res))
                elif status in ("empty", "nan"):
                    nodata.append("%s returned %s" % (key, "NaN" if status == "nan" else "an empty vector"))
        counted, few = {}, []
        for side, key in (("canary", "requests"), ("baseline", "baseline/requests")):
            res = requests.get(side) or PromResult.error("no result", "internal")
            query = (rel.get("requests") or {}).get(side, "(request count)")
            if res.kind == "error":
                errors[key] = res.text
                failed.append(({"name": key, "query": query}, res))
                counted[side] = None
            else:
                # no series under the request selector is 0 requests (see observe)
                count = max(res.values) if res.kind == "ok" else 0
                counted[side] = json_value(count)
                if not count >= rel["min_requests"]:
                    few.append("%s: %s requests < min_requests %s" % (side, fmt_value(count), rel["min_requests"]))
        only_few = bool(few) and not nodata
        nodata += few
        compared = {}
        if failed:
            status = "error"
        elif nodata:
            status = "no_data"
        else:
            status, compared = compare_probe(self.slis, sides["canary"][0], sides["baseline"][0], rel)
        probe = {"index": len(self.probes), "time": iso_time(epoch), "elapsed": round(elapsed, 3),
                 "status": status, "values": sides["canary"][1], "sli_status": sides["canary"][2],
                 "errors": errors, "requests": counted,
                 "baseline": {"values": sides["baseline"][1], "sli_status": sides["baseline"][2]},
                 "relative": dict((n, {"status": st, "text": t}) for n, (st, t) in compared.items())}
        self.probes.append(probe)
        when = "at %s (probe %d, %.1fs into the window)" % (probe["time"], probe["index"], elapsed)
        if status == "error":
            self._on_failed(failed, when)
            return probe
        self.consecutive_errors = 0
        if status == "no_data":
            self._on_no_data("; ".join(nodata), when, probe, only_few)
            return probe
        self.consecutive_no_data = 0
        if status == "red":
            name, (_st, text) = [(n, v) for n, v in compared.items() if v[0] == "red"][0]
            sli = [s for s in self.slis if s["name"] == name][0]
            self.breach = self.breach or {
                "sli": name, "value": sides["canary"][1][name], "baseline": sides["baseline"][1][name],
                "rule": text, "max": sli.get("max"), "min": sli.get("min"), "query": sli["query"],
                "time": probe["time"], "elapsed": probe["elapsed"], "probe": probe["index"]}
            self.red_probes += 1
            if self.red_probes > self.failure_limit:
                self._decide("red", "SLI %s of the canary is red against the baseline: %s %s%s; query: %s"
                             % (name, text, when, self._limit_text(), sli.get("summary") or sli["query"]))
            return probe
        if status == "inconclusive":
            name, (_st, text) = [(n, v) for n, v in compared.items() if v[0] == "inconclusive"][0]
            self.fleet = self.fleet or {"sli": name, "text": text, "time": probe["time"], "probe": probe["index"]}
            policy = rel["on_inconclusive"]
            if policy == "rollback":
                self.red_probes += 1
                if self.red_probes > self.failure_limit:
                    self._decide("red", "SLI %s: %s %s; on_inconclusive=rollback rolls the canary back even "
                                 "though the baseline breached too%s" % (name, text, when, self._limit_text()))
            elif policy == "hold":
                self.extension = min(float(rel["hold_limit"]), self.extension + rel["interval"])
        return probe

    def apply_control(self, control, text):
        """An on-call control (#16) read at this probe: abort is red now, promote ends the window green
        now (unless this probe already decided it); hold is the caller's (it extends the window)."""
        if control["action"] == "abort" and self.verdict != "red":
            self._decide("red", "aborted by the on-call: %s (make canary-abort)" % text)
        elif control["action"] == "promote" and not self.decided:
            self._decide("green", "promoted by the on-call: %s (make canary-promote), after %d probe(s): %s"
                         % (text, len(self.probes), ", ".join("%d %s" % (n, k) for k, n in sorted(
                             self.counts().items()) if n) or "none"))

    def _limit_text(self):
        if not self.failure_limit:
            return ""
        return " (red probe %d of the window, failure_limit=%d)" % (self.red_probes, self.failure_limit)

    def _decide(self, verdict, reason):
        self.verdict = verdict
        self.reason = reason

    def finish(self, duration):
        """Close a window that ran to its end without a red probe."""
        if self.decided:
            return
        counts = self.counts()
        total = None
        if self.relative is not None and counts["inconclusive"] and self.relative["on_inconclusive"] == "hold":
            if self._held_inconclusive(counts, duration):
                return
            total = len(self.probes) - counts["inconclusive"]  # held probes were made up for
        if not self._enough_evidence(counts, total):
            return
        extra = []
        if counts["no_data"]:
            extra.append("%d no-data probe(s) %s" % (
                counts["no_data"], "ignored (on_no_data=ignore)" if self.on_no_data == "ignore"
                else "below no_data_limit=%d" % self.no_data_limit))
        if counts["red"]:
            extra.append("%d red probe(s) tolerated by failure_limit=%d" % (counts["red"], self.failure_limit))
        if counts.get("inconclusive"):
            extra.append("%d inconclusive probe(s) (fleet-wide, on_inconclusive=%s%s)" % (
                counts["inconclusive"], self.relative["on_inconclusive"],
                ", window extended %ds" % self.extension if self.extension else ""))
        if counts["error"]:
            extra.append("%d probe(s) with query errors, recovered within error_limit=%d"
                         % (counts["error"], self.error_limit))
        bad = counts["red"] + counts.get("inconclusive", 0)
        self._decide("green", "%s %d probes within thresholds%s over %.0fs%s" % (
            "all" if not bad else "%d of" % (len(self.probes) - bad),
            len(self.probes), " and against the baseline" if self.relative is not None else "", duration,
            (" (" + "; ".join(extra) + ")") if extra else ""))

    def _held_inconclusive(self, counts, duration):
        """on_inconclusive=hold: the verdict is inconclusive when the window still ended
        inconclusive, or when only the inconclusive probes stand between it and enough evidence."""
        last = self.probes[-1]
        conclusive = len(self.probes) - counts["inconclusive"]
        short = last["status"] == "green" and counts["green"] < self.good_probes_needed(conclusive) <= (
            counts["green"] + counts["inconclusive"])
        if last["status"] != "inconclusive" and not short:
            return False
        fleet = self.fleet
        self._decide("inconclusive", (
            "inconclusive, fleet-wide: the baseline breached its thresholds too on %d of %d probes (first at "
            "%s, probe %d: SLI %s, %s), so the comparison says nothing about the new build. The window was "
            "held %ds longer (hold_limit=%ds) and %s after %.0fs. Not rolled back (on_inconclusive=hold)"
            % (counts["inconclusive"], len(self.probes), fleet["time"], fleet["probe"], fleet["sli"], fleet["text"],
               self.extension, self.relative["hold_limit"],
               "still ended inconclusive" if last["status"] == "inconclusive"
               else "too few probes were good", duration)))
        return True

    def good_probes_needed(self, total=None):
        """Green probes a window of ``total`` probes needs for a green verdict (at least one)."""
        total = len(self.probes) if total is None else total
        return max(1, int(math.ceil(self.min_good_ratio * total - 1e-9)))

    def _enough_evidence(self, counts, total=None):
        """Never green without evidence (#14 item 1): the last probe and enough probes were green
        (of ``total`` probes, all of them by default)."""
        if not self.probes:
            self._decide("red", "no evidence for green: the window ran no probe")
            return False
        last = self.probes[-1]
        if last["status"] != "green":
            detail = "; ".join("%s: %s" % kv for kv in sorted(last["errors"].items())) or ", ".join(
                "%s %s" % (name, st) for name, st in sorted(last["sli_status"].items()) if st != "ok") or ", ".join(
                "%s: %s" % (name, r["text"]) for name, r in sorted(last.get("relative", {}).items()) if r["text"])
            self._decide("red", "no evidence for green: the window ended on %s %s probe (probe %d at %s: %s); "
                         "%d of %d probes were good. A window must end on a good probe"
                         % ("an" if last["status"][0] in "aeiou" else "a", last["status"], last["index"],
                            last["time"], detail, counts["green"], len(self.probes)))
            return False
        need = self.good_probes_needed(total)
        if counts["green"] < need:
            self._decide("red", "not enough evidence for green: only %d of %d probes were good (min_good_ratio=%s "
                         "needs %d); %d error, %d no-data, %d red probe(s)"
                         % (counts["green"], len(self.probes), fmt_value(self.min_good_ratio), need,
                            counts["error"], counts["no_data"], counts["red"]))
            return False
        return True

    def counts(self):
        out = {"green": 0, "red": 0, "no_data": 0, "error": 0}
        if self.relative is not None:
            out["inconclusive"] = 0
        for probe in self.probes:
            out[probe["status"]] += 1
        return out
