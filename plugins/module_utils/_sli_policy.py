# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SLI gate policy of veza.infra.prom_sli_watch: pure functions, no clock, no network.

This module util is PRIVATE to veza.infra. There is no compatibility promise: do not import it
from other collections. Its interface can change (or it can be removed) in any release.

- ``judge_sli()``: one SLI against one query result.
- ``WatchPolicy``: turns each probe (a result per SLI) into a probe record and, when the gate
  is decided, a verdict and a reason.
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
    """

    def __init__(self, slis, on_no_data="fail", no_data_limit=2, error_limit=3, failure_limit=0,
                 min_good_ratio=0.5):
        self.slis = slis
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
        if not self._enough_evidence(counts):
            return
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

    def good_probes_needed(self, total=None):
        """Green probes a window of ``total`` probes needs for a green verdict (at least one)."""
        total = len(self.probes) if total is None else total
        return max(1, int(math.ceil(self.min_good_ratio * total - 1e-9)))

    def _enough_evidence(self, counts):
        """Never green without evidence (#14 item 1): the last probe and enough probes were green."""
        if not self.probes:
            self._decide("red", "no evidence for green: the window ran no probe")
            return False
        last = self.probes[-1]
        if last["status"] != "green":
            detail = "; ".join("%s: %s" % kv for kv in sorted(last["errors"].items())) or ", ".join(
                "%s %s" % (name, st) for name, st in sorted(last["sli_status"].items()) if st != "ok")
            self._decide("red", "no evidence for green: the window ended on %s %s probe (probe %d at %s: %s); "
                         "%d of %d probes were good. A window must end on a good probe"
                         % ("an" if last["status"] == "error" else "a", last["status"], last["index"],
                            last["time"], detail, counts["green"], len(self.probes)))
            return False
        need = self.good_probes_needed()
        if counts["green"] < need:
            self._decide("red", "not enough evidence for green: only %d of %d probes were good (min_good_ratio=%s "
                         "needs %d); %d error, %d no-data, %d red probe(s)"
                         % (counts["green"], len(self.probes), fmt_value(self.min_good_ratio), need,
                            counts["error"], counts["no_data"], counts["red"]))
            return False
        return True

    def counts(self):
        out = {"green": 0, "red": 0, "no_data": 0, "error": 0}
        for probe in self.probes:
            out[probe["status"]] += 1
        return out
