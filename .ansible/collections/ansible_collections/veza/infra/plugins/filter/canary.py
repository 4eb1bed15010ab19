# -*- coding: utf-8 -*-
# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the canary role's pre-flight (roles/canary/tasks/preflight.yml).

The pre-flight's parsing, arithmetic and messages live here, as pure functions with unit tests
(tests/unit/plugins/filter/test_canary.py); the YAML only wires them to the tasks. Each filter's
documentation is the YAML file of its name beside this one (``ansible-doc -t filter
veza.infra.<name>``).

Checks never raise on bad input: they return ``{"ok": False, "msg": ...}`` items whose message
names the knob (the runbook's environment variable) and what to do, and the pre-flight's assert
prints it before anything changes.
"""
from __future__ import annotations

import math
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible.utils.helpers import pct_to_int

from ansible_collections.veza.infra.plugins.module_utils._ramp import DARK, RampError, fmt_share, ramp_plan

MIB = 1048576

# One batch size of PEER_SERIAL: a positive number of peers, or a percentage from 1% to 100%.
BATCH_RE = re.compile(r"^([1-9][0-9]*|([1-9][0-9]?|100)%)$")
_SPLIT_NODES = re.compile(r"[,\s]+")
_BATCH_NOISE = re.compile(r"[][\"'\s]")


def node_list(value):
    """``"a, b c"`` or ``["a", "b"]`` -> ``["a", "b", "c"]``: names split on commas and blanks,
    empty entries dropped, order kept (PEER_NODES, ROLLBACK_NODES)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        value = ",".join(to_text(v) for v in value)
    return [n for n in _SPLIT_NODES.split(to_text(value)) if n]


def path_list(value):
    """``"a.sql, dir/"`` -> ``["a.sql", "dir/"]``: comma separated, each entry trimmed, empty
    entries dropped (MIGRATIONS_PATHS; a path may hold a blank)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [to_text(v).strip() for v in value if to_text(v).strip()]
    return [p.strip() for p in to_text(value).split(",") if p.strip()]


def release_nodes(canary, peers):
    """Every node of the release, the canary first: ``canary`` then ``node_list(peers)``."""
    return [to_text(canary)] + node_list(peers)


def peer_batches(value):
    """PEER_SERIAL in any of its forms (``1``, ``"1,25%"``, ``'[1, "25%"]'``, ``[1, "25%"]``)
    as the list of batch sizes, as strings: the peer play's ``serial``. Not validated here (see
    ``knob_checks``): a malformed entry is kept as it is, so that the check can name it."""
    if isinstance(value, (list, tuple)):
        value = ",".join(to_text(v) for v in value)
    return _BATCH_NOISE.sub("", to_text(value)).split(",")


def bad_batches(batches):
    """The entries of ``peer_batches()`` that are not a valid batch size."""
    return [b for b in batches if not BATCH_RE.match(to_text(b))]


def batch_sizes(batches, count):
    """How many of ``count`` peers each batch holds, as Ansible's ``serial`` cuts them: a
    percentage of all the peers rounded down (at least 1), the last size repeating until every
    peer is in a batch. ``batches`` must be valid (``bad_batches()`` empty)."""
    if bad_batches(batches):
        raise AnsibleFilterError("canary_batch_sizes: invalid batch sizes %s" % ", ".join(bad_batches(batches)))
    sizes, left, i = [], int(count), 0
    while left > 0:
        size = min(pct_to_int(batches[min(i, len(batches) - 1)], int(count)), left)
        sizes.append(size)
        left -= size
        i += 1
    return sizes


def _number(value, kind):
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        return kind(value) if kind is float else int(to_text(value).strip())
    except (TypeError, ValueError):
        return None


def window_probes(window, interval):
    """Probes of an SLI window: one at the start, then one every ``interval`` seconds."""
    return window // max(interval, 1) + 1


def _check(knob, ok, msg):
    return {"knob": knob, "ok": bool(ok), "msg": msg}


def knob_checks(knobs, haproxy_hosts, backend_hosts):
    """The pre-flight's knob checks, in the runbook's order: a list of ``{knob, ok, msg}``.

    ``knobs``: ``artifact``, ``node``, ``peer_nodes``, ``peer_serial``, ``sli_window``,
    ``sli_min_window``, ``sli_probe_interval``, ``sli_failure_limit``, ``p95_threshold``,
    ``error_rate_threshold`` (the canary_* variables), and optionally ``lb_host``
    (canary_lb_host: then one more check, that it is the host of group haproxy).
    ``haproxy_hosts``: group haproxy; ``backend_hosts``: group backend_api_instances."""
    k = dict(knobs or {})
    missing = sorted({"artifact", "node", "peer_nodes", "peer_serial", "sli_window", "sli_min_window",
                      "sli_probe_interval", "sli_failure_limit", "p95_threshold", "error_rate_threshold"} - set(k))
    if missing:
        raise AnsibleFilterError("canary_knob_checks: missing knobs %s" % ", ".join(missing))
    backends = [to_text(h) for h in (backend_hosts or [])]
    known = ", ".join(backends)
    node = to_text(k["node"])
    peers = node_list(k["peer_nodes"])
    unknown = []
    for p in peers:
        if p not in backends and p not in unknown:
            unknown.append(p)
    window, min_window = _number(k["sli_window"], int), _number(k["sli_min_window"], int)
    interval, limit = _number(k["sli_probe_interval"], int), _number(k["sli_failure_limit"], int)
    p95, err = _number(k["p95_threshold"], float), _number(k["error_rate_threshold"], float)
    numbers = window is not None and interval is not None
    probes = window_probes(window, interval) if numbers else None
    serial = k["peer_serial"]
    lb_check = []
    if "lb_host" in k:
        lb_check = [_check("canary_lb_host", to_text(k["lb_host"]) in [to_text(h) for h in haproxy_hosts or []],
                           "canary_lb_host=%s is not the host of group haproxy (%s); leave it unset or name that host"
                           % (k["lb_host"], ", ".join(to_text(h) for h in haproxy_hosts or [])))]
    return [
        _check("haproxy group", len(haproxy_hosts or []) == 1,
               "exactly one host in group haproxy is supported (the runbook assumes a single LB)"),
        _check("ARTIFACT", len(to_text(k["artifact"] or "")) > 0,
               "ARTIFACT (canary_artifact) is not set; pass the path of the new veza-api binary"),
        _check("CANARY_NODE", node in backends,
               "CANARY_NODE=%s is not in group backend_api_instances (%s)" % (node, known)),
        _check("PEER_NODES", not unknown,
               "PEER_NODES names unknown nodes %s (known: %s)" % (", ".join(unknown), known)),
        _check("CANARY_NODE/PEER_NODES", node not in peers,
               "CANARY_NODE=%s is also listed in PEER_NODES" % node),
        _check("SLI_WINDOW", window is not None and min_window is not None and window >= min_window,
               "SLI_WINDOW=%s is shorter than the minimum %s s (300 s = 5 min is the floor for hot-fixes; "
               "only a lab lowers SLI_MIN_WINDOW)" % (k["sli_window"], k["sli_min_window"])
               if window is not None and min_window is not None else
               "SLI_WINDOW=%s and SLI_MIN_WINDOW=%s must be whole numbers of seconds" % (k["sli_window"], k["sli_min_window"])),
        _check("SLI_PROBE_INTERVAL", numbers and 0 < interval <= window,
               "SLI_PROBE_INTERVAL=%s must be > 0 and <= SLI_WINDOW=%s" % (k["sli_probe_interval"], k["sli_window"])),
        _check("SLI_FAILURE_LIMIT", numbers and limit is not None and 0 <= limit < probes,
               "SLI_FAILURE_LIMIT=%s must be >= 0 (0 = roll back at the first red probe) and below the number "
               "of probes of the window (%s), or the gate could never fail" % (k["sli_failure_limit"], probes if numbers else "?")),
        _check("PEER_SERIAL", not bad_batches(peer_batches(serial)),
               "PEER_SERIAL=%s must be a positive number of peers, a percentage from 1%% to 100%%, or a list of "
               "them such as 1,25%%,100%% (the peers' batch sizes)" % (serial,)),
        _check("PROM_P95_THRESHOLD_S", p95 is not None and p95 > 0,
               "PROM_P95_THRESHOLD_S=%s must be a positive number of seconds" % (k["p95_threshold"],)),
        _check("PROM_ERR_RATE_THRESHOLD", err is not None and 0 <= err < 1,
               "PROM_ERR_RATE_THRESHOLD=%s must be a ratio in [0, 1)" % (k["error_rate_threshold"],)),
    ] + lb_check


_DECIMAL = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_WHOLE = re.compile(r"^[0-9]+$")


def _decimal(value, low, high):
    """A plain decimal in [low, high] (no nan/inf/exponent/sign), else None."""
    text = to_text(value).strip()
    if isinstance(value, bool) or not _DECIMAL.match(text):
        return None
    number = float(text)
    return number if low <= number <= high else None


def baseline_checks(knobs, baseline_instances):
    """The relative gate's knob checks (SLI_BASELINE=peers): a list of ``{knob, ok, msg}``.

    ``knobs``: ``baseline``, ``p95_ratio``, ``p95_floor``, ``error_delta``, ``min_requests``,
    ``inconclusive``, ``hold_limit`` (the canary_sli_* variables); ``baseline_instances``: the
    peers' instances (canary_sli_baseline_instances)."""
    k = dict(knobs or {})
    missing = sorted({"baseline", "p95_ratio", "p95_floor", "error_delta", "min_requests", "inconclusive",
                      "hold_limit"} - set(k))
    if missing:
        raise AnsibleFilterError("canary_baseline_checks: missing knobs %s" % ", ".join(missing))
    baseline = to_text(k["baseline"])
    return [
        _check("SLI_BASELINE", baseline in ("none", "peers"),
               "SLI_BASELINE=%s must be none (the absolute gate, the default) or peers (also judge the canary "
               "against the peers not yet upgraded)" % baseline),
        _check("SLI_BASELINE/PEER_NODES", baseline != "peers" or len(baseline_instances or []) > 0,
               "SLI_BASELINE=peers needs at least one peer still on the old binary, but PEER_NODES is empty; "
               "list the peers in PEER_NODES or set SLI_BASELINE=none"),
        _check("SLI_BASELINE_P95_RATIO", _decimal(k["p95_ratio"], 1, 1000) is not None,
               "SLI_BASELINE_P95_RATIO=%s must be a number from 1 to 1000 (1.5 = the canary's p95 50 %% above "
               "the peers')" % (k["p95_ratio"],)),
        _check("SLI_BASELINE_P95_FLOOR_S", _decimal(k["p95_floor"], 0, 3600) is not None,
               "SLI_BASELINE_P95_FLOOR_S=%s must be a number of seconds from 0 to 3600 (e.g. 0.05)" % (k["p95_floor"],)),
        _check("SLI_BASELINE_ERR_DELTA", _decimal(k["error_delta"], 0, 1) is not None,
               "SLI_BASELINE_ERR_DELTA=%s must be a 5xx ratio difference from 0 to 1 (0.005 = 0.5 points)"
               % (k["error_delta"],)),
        _check("SLI_MIN_REQUESTS", not isinstance(k["min_requests"], bool) and bool(_WHOLE.match(to_text(k["min_requests"]).strip())),
               "SLI_MIN_REQUESTS=%s must be a whole number of requests >= 0 per probe and side" % (k["min_requests"],)),
        _check("SLI_INCONCLUSIVE", to_text(k["inconclusive"]) in ("hold", "rollback", "ignore"),
               "SLI_INCONCLUSIVE=%s must be hold (stop without rollback after SLI_HOLD_LIMIT), rollback or ignore"
               % (k["inconclusive"],)),
        _check("SLI_HOLD_LIMIT", not isinstance(k["hold_limit"], bool) and bool(_WHOLE.match(to_text(k["hold_limit"]).strip())),
               "SLI_HOLD_LIMIT=%s must be a whole number of seconds >= 0" % (k["hold_limit"],)),
    ]


def artifact_check(stat, path, sha256=""):
    """``{ok, msg}`` of the artifact from ``ansible.builtin.stat`` (with ``checksum_algorithm:
    sha256``): it exists, is a regular file, is executable and matches ARTIFACT_SHA256 (empty: not
    compared)."""
    st = (stat or {}).get("stat", {})
    want = to_text(sha256 or "").strip().lower()
    if not st.get("exists"):
        why = "does not exist on the controller"
    elif not st.get("isreg"):
        why = "is not a regular file"
    elif not st.get("executable"):
        why = "is not executable (chmod +x it, or rebuild it)"
    elif want and st.get("checksum") != want:
        why = "has sha256 %s, not ARTIFACT_SHA256=%s (corrupt or wrong file)" % (st.get("checksum"), sha256)
    else:
        return {"ok": True, "msg": ""}
    return {"ok": False, "msg": "ARTIFACT %s %s" % (path, why)}


def rollback_check(rollback_stat, previous_stat, rollback_binary, install_dir, binary_name, node):
    """``{ok, msg}``: a last-known-good binary exists. ``rollback_binary`` set: its controller
    ``stat`` (``rollback_stat``) must exist and be executable; empty: the canary node's
    ``<install_dir>/<binary_name>.previous`` (``previous_stat``) must exist."""
    previous = "%s/%s.previous" % (install_dir, binary_name)
    if rollback_binary:
        st = (rollback_stat or {}).get("stat", {})
        ok = bool(st.get("exists") and st.get("executable"))
        why = "ROLLBACK_BINARY=%s is missing or not executable on the controller." % rollback_binary
    else:
        ok = bool((previous_stat or {}).get("stat", {}).get("exists"))
        why = "%s does not exist on %s." % (previous, node)
    if ok:
        return {"ok": True, "msg": ""}
    return {"ok": False, "msg": "auto-rollback cannot work without a last-known-good binary. %s Set "
                                "ROLLBACK_BINARY=/path/to/old/veza-api, or keep the previous release at %s on %s."
                                % (why, previous, node)}


def _truncate(text, length=200, end="..."):
    """Jinja's ``truncate(length)``: cut at a word boundary, ``end`` appended (leeway 5)."""
    if len(text) <= length + 5:
        return text
    cut = text[:length - len(end)]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut) + end


def disk_need(artifact_size, headroom_mb):
    """Bytes a node needs free: the artifact plus ``headroom_mb`` MiB."""
    return int(artifact_size or 0) + int(headroom_mb) * MIB


def disk_checks(df_results, artifact_size, headroom_mb, install_dir):
    """One ``{node, ok, msg}`` per node from the looped ``df --output=avail -B1 <dir>`` results
    (``register`` of a ``command`` with ``failed_when: false``): the node could be asked, and its
    free space holds the artifact plus ``headroom_mb`` MiB."""
    need = disk_need(artifact_size, headroom_mb)
    out = []
    for res in df_results or []:
        node = to_text(res.get("item", "?"))
        if res.get("rc", 1) != 0:
            why = to_text(res["msg"] if "msg" in res else res.get("stderr", "?")).strip()
            out.append({"node": node, "ok": False,
                        "msg": "%s: cannot read the free space of %s (%s); is the node up and converged by the "
                               "backend_api role?" % (node, install_dir, _truncate(why))})
            continue
        lines = res.get("stdout_lines") or ["0"]
        free = _number(lines[-1], int) or 0
        out.append({"node": node, "ok": free >= need,
                    "msg": "%s has %s MiB free in %s, the push needs %s MiB (the artifact + canary_disk_headroom_mb=%s); "
                           "free space there first" % (node, round(free / MIB, 1), install_dir, round(need / MIB, 1), headroom_mb)})
    return out


def retries(timeout, delay):
    """``until`` retries that cover ``timeout`` seconds with ``delay`` seconds between tries."""
    return int(math.ceil(float(timeout) / float(delay)))


def ramp_checks(knobs, health_path="/api/v1/health"):
    """The traffic ramp's knobs (#16), checked, and the plan the gate loops over.

    ``knobs``: ``steps`` (CANARY_STEPS), ``sli_window``, ``sli_probe_interval``, ``smoke_paths``
    (CANARY_SMOKE_PATHS, comma separated; empty: ``health_path``), ``min_requests``
    (CANARY_MIN_REQUESTS). Returns ``{"ok", "msg", "plan", "smoke_paths", "min_requests", "summary"}``;
    ``plan``: one ``{index, share, label, window, dark}`` per step (``_ramp.ramp_plan``). Never raises
    on a bad value: ``ok`` is false and ``msg`` names the knob."""
    k = dict(knobs or {})
    out = {"ok": True, "msg": "", "plan": [], "smoke_paths": [], "min_requests": 0, "summary": ""}
    window = _number(k.get("sli_window"), int)
    interval = _number(k.get("sli_probe_interval"), int)
    if window is None or interval is None or window <= 0 or interval <= 0:
        return dict(out, ok=False, msg="CANARY_STEPS: SLI_WINDOW and SLI_PROBE_INTERVAL must be positive whole "
                                       "numbers of seconds first")
    try:
        plan = ramp_plan(k.get("steps"), window, interval)
    except RampError as exc:
        return dict(out, ok=False, msg=str(exc))
    paths = path_list(k.get("smoke_paths")) or [to_text(health_path)]
    bad = [p for p in paths if not p.startswith("/") or any(c.isspace() for c in p)]
    if bad:
        return dict(out, ok=False, msg="CANARY_SMOKE_PATHS: %s: each entry is a path starting with / (comma "
                                       "separated, e.g. /api/v1/health,/api/v1/version)" % ", ".join(bad))
    mreq = _number(k.get("min_requests"), int)
    if mreq is None or not 0 <= mreq <= 10 ** 9:
        return dict(out, ok=False, msg="CANARY_MIN_REQUESTS: a whole number >= 0 of requests the canary must "
                                       "serve per probe at a step below 100 %% (0 = no minimum), got %r"
                                       % (k.get("min_requests"),))
    summary = ", ".join("%s%s" % (s["label"], "" if s["dark"] else " %% for %d s" % s["window"]) for s in plan)
    return dict(out, plan=plan, smoke_paths=paths, min_requests=mreq, summary=summary,
                dark=bool(plan and plan[0]["share"] == 0 and plan[0]["label"] == DARK),
                first_share=plan[0]["share"], labels=[fmt_share(s["share"]) if not s["dark"] else DARK for s in plan])


class FilterModule:
    """Canary pre-flight filters."""

    def filters(self):
        return {
            "canary_node_list": node_list,
            "canary_path_list": path_list,
            "canary_release_nodes": release_nodes,
            "canary_peer_batches": peer_batches,
            "canary_batch_sizes": batch_sizes,
            "canary_knob_checks": knob_checks,
            "canary_baseline_checks": baseline_checks,
            "canary_artifact_check": artifact_check,
            "canary_rollback_check": rollback_check,
            "canary_disk_checks": disk_checks,
            "canary_retries": retries,
            "canary_ramp_checks": ramp_checks,
        }
