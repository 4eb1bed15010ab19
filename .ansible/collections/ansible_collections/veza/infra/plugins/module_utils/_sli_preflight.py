# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Prometheus pre-flight of a canary (veza.infra.prom_preflight): before anything changes,
Prometheus answers with these credentials, and every SLI of the gate has series for the canary.

This module util is PRIVATE to veza.infra. There is no compatibility promise: do not import it
from other collections. Its interface can change (or it can be removed) in any release.

- ``argument_spec()`` / ``validate_params()``: the connection options plus the SLIs' inputs of
  prom_sli_watch (histogram, selector, slis) and ``lookback``.
- ``run_preflight(client, cfg, now)``: the checks, through the one client. Returns the result;
  raises ``PromPreflightRefused`` (message + the facts found) when the gate could not work.
"""
from __future__ import annotations

import re
import time

from ansible_collections.veza.infra.plugins.module_utils._prom_client import (
    CONNECTION_MUTUALLY_EXCLUSIVE,
    CONNECTION_REQUIRED_TOGETHER,
    PromConfigError,
    connection_argument_spec,
    validate_connection,
)
from ansible_collections.veza.infra.plugins.module_utils._sli_watch import (
    DEFAULT_HISTOGRAM,
    METRIC_RE,
    merge_matchers,
    normalize_selector,
    slis_spec,
    validate_slis,
)

REQUIRED_TOGETHER = CONNECTION_REQUIRED_TOGETHER
MUTUALLY_EXCLUSIVE = CONNECTION_MUTUALLY_EXCLUSIVE
# Label values listed in a refusal, at most (a fleet has a handful of instances).
MAX_LISTED = 20
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"')


class PromPreflightRefused(Exception):
    """The gate could not work: the message says why and how to fix it; ``facts`` what was found."""

    def __init__(self, msg, **facts):
        super().__init__(msg)
        self.facts = facts


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        histogram=dict(type="str", default=DEFAULT_HISTOGRAM),
        selector=dict(type="str", default=""),
        slis=slis_spec(),
        lookback=dict(type="int", default=600),
        selector_knob=dict(type="str", default="selector"),
    )
    return spec


def selector_labels(selector):
    """Label names the matchers of a (normalized) selector use, in order, without repeats."""
    out = []
    for name in _LABEL_RE.findall(selector or ""):
        if name not in out:
            out.append(name)
    return out


def validate_params(params):
    """Check the parameters; return the resolved config. Raises PromConfigError."""
    conn = validate_connection(params)
    if not METRIC_RE.match(params.get("histogram") or ""):
        raise PromConfigError("histogram: %r is not a Prometheus metric name" % params.get("histogram"))
    selector = normalize_selector(params.get("selector"))
    lookback = params.get("lookback")
    if not isinstance(lookback, int) or isinstance(lookback, bool) or not 0 < lookback <= 7 * 86400:
        raise PromConfigError("lookback: seconds of history searched for the SLI series, from 1 to 604800 "
                              "(a week), got %r" % (lookback,))
    slis = validate_slis(params["slis"]) if params.get("slis") else None
    return {"connection": conn, "histogram": params["histogram"], "selector": selector, "slis": slis,
            "lookback": lookback, "selector_knob": params.get("selector_knob") or "selector"}


def _listed(values):
    values = sorted(str(v) for v in values)
    shown = ", ".join(values[:MAX_LISTED])
    return shown + (" (and %d more)" % (len(values) - MAX_LISTED) if len(values) > MAX_LISTED else "")


def run_preflight(client, cfg, now=None):
    """Reachability and credentials, then the SLI series of the canary. Read-only."""
    now = time.time() if now is None else now
    start = now - cfg["lookback"]
    url = client.url
    checks = []
    info = client.buildinfo()
    if info.kind != "ok":
        if info.error_type == "auth":
            raise PromPreflightRefused(
                "Prometheus at %s refused the credentials (HTTP %s): %s. Fix the user/password or the "
                "bearer token given to the canary (nothing was changed)" % (url, info.status, info.text),
                status=info.status)
        raise PromPreflightRefused("Prometheus at %s is not answering: %s. The SLI gate cannot work without it: "
                                   "fix the URL, the TLS options or Prometheus first" % (url, info.text),
                                   status=info.status)
    version = info.data.get("version") if isinstance(info.data, dict) else None
    checks.append("Prometheus %s answers at %s" % (version or "(unknown version)", url))
    series = {}
    if cfg["slis"] is None:
        for suffix in ("_bucket", "_count"):
            metric = cfg["histogram"] + suffix
            match = metric + merge_matchers(cfg["selector"])
            res = client.series(match, start=start, end=now)
            if res.kind != "ok":
                raise PromPreflightRefused("cannot list the series %s at %s: %s" % (match, url, res.text))
            series[match] = len(res.data)
            if not res.data:
                _refuse_missing(client, cfg, metric, match, start, now)
            checks.append("%d series %s over the last %ds" % (len(res.data), match, cfg["lookback"]))
    else:
        for sli in cfg["slis"]:
            res = client.query(sli["query"])
            if res.rejected:
                raise PromPreflightRefused("slis/%s: Prometheus rejected the query: %s; query: %s"
                                           % (sli["name"], res.text, sli["query"]))
            if res.kind == "error":
                raise PromPreflightRefused("slis/%s: the query failed: %s; query: %s"
                                           % (sli["name"], res.text, sli["query"]))
            if res.kind in ("empty", "nan"):
                raise PromPreflightRefused(
                    "slis/%s returns no data (%s) now: the SLI gate would see no data and roll back a good "
                    "canary. Check the query's selector; query: %s" % (sli["name"], res.text, sli["query"]))
            series[sli["name"]] = len(res.values)
            checks.append("SLI %s has data (%d series)" % (sli["name"], len(res.values)))
    return {"version": version, "series": series, "checks": checks, "url": url}


def _refuse_missing(client, cfg, metric, match, start, now):
    """No series for the canary: say which label values exist, so the fix is one knob."""
    labels = selector_labels(cfg["selector"]) or ["instance"]
    found = {}
    for label in labels:
        res = client.label_values(label, match=metric, start=start, end=now)
        found[label] = sorted(str(v) for v in res.data) if res.kind == "ok" else None
    if all(v == [] for v in found.values()):
        raise PromPreflightRefused(
            "no series %s in Prometheus at %s over the last %ds, and no series of %s at all: is Prometheus "
            "scraping the backends, and is histogram right? The SLI gate would see no data and roll back "
            "a good canary" % (match, client.url, cfg["lookback"], metric), label_values=found)
    parts = []
    for label, values in found.items():
        if values is None:
            parts.append("%s: (could not list them)" % label)
        else:
            parts.append("%s values of %s: %s" % (label, metric, _listed(values) or "(none)"))
    raise PromPreflightRefused(
        "no series %s in Prometheus at %s over the last %ds: the SLI gate would see no data for the canary "
        "and roll back a good binary for 'no data'. %s. Fix %s (now %s) to match one of them"
        % (match, client.url, cfg["lookback"], "; ".join(parts), cfg["selector_knob"],
           cfg["selector"] or "empty"), label_values=found)
