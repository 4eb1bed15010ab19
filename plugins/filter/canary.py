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
from ansible_collections.veza.infra.plugins.module_utils._sli_watch import (
    REQUESTS_SELECTOR_EXAMPLE, PromSliConfigError, normalize_selector, string_literal)

MIB = 1048576

# One batch size of PEER_SERIAL: a positive number of peers, or a percentage from 1% to 100%.
BATCH_RE = re.compile(r"^([1-9][0-9]*|([1-9][0-9]?|100)%)$")
_SPLIT_NODES = re.compile(r"[,\s]+")
_BATCH_NOISE = re.compile(r"[][\"'\s]")
# haproxy_server_state's message for a backend or server HAProxy does not have (HAProxyNotFound).
_NOT_KNOWN = re.compile(r"no (server|backend) named ")


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
    (canary_lb_host: then one more check, that it is the host of group haproxy), ``host_group``
    (canary_host_group: the group named by the CANARY_NODE message, default backend_api_instances).
    ``haproxy_hosts``: group haproxy; ``backend_hosts``: the nodes of that group."""
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
    group = [to_text(h) for h in haproxy_hosts or []]
    group_check = _check("haproxy group", len(group) == 1,
                         "exactly one host in group haproxy is supported (the runbook assumes a single LB)")
    lb_check = []
    if "lb_set" in k:
        # LB_SET given: any number of LBs in group haproxy, each named once, every one of them in the group.
        lbs = node_list(k["lb_set"])
        outside = [h for h in lbs if h not in group]
        twice = sorted({h for h in lbs if lbs.count(h) > 1})
        group_check = _check("haproxy group", len(group) > 0,
                             "group haproxy is empty: the inventory must list the load balancers (the LB set, "
                             "LB_SET, defaults to every host of that group)")
        lb_check.append(_check("LB_SET", lbs and not outside and not twice,
                               "LB_SET (canary_lb_set) is empty: leave it unset (every host of group haproxy: %s) "
                               "or name the LBs, comma separated" % ", ".join(group) if not lbs else
                               "LB_SET (canary_lb_set) names %s, not in group haproxy (%s); name only hosts of "
                               "that group, or leave LB_SET unset for all of them" % (", ".join(outside), ", ".join(group))
                               if outside else
                               "LB_SET (canary_lb_set) names %s more than once" % ", ".join(twice) if twice else
                               "LB_SET: %s" % ", ".join(lbs)))
    if "lb_host" in k:
        lb_check = [_check("canary_lb_host", to_text(k["lb_host"]) in [to_text(h) for h in haproxy_hosts or []],
                           "canary_lb_host=%s is not the host of group haproxy (%s); leave it unset or name that host"
                           % (k["lb_host"], ", ".join(to_text(h) for h in haproxy_hosts or [])))]
    return [
        group_check,
        _check("ARTIFACT", len(to_text(k["artifact"] or "")) > 0,
               "ARTIFACT (canary_artifact) is not set; pass the path of the new veza-api binary"),
        _check("CANARY_NODE", node in backends,
               "CANARY_NODE=%s is not in group %s (%s)" % (node, to_text(k.get("host_group") or "backend_api_instances"), known)),
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


# The services the canary playbooks release, selected by CANARY_SERVICE (canary_service_profile).
# Each profile is the default of the knobs it names (roles/canary/defaults/main.yml reads them
# as ``canary_profile.<key>``); a knob set by its own environment variable, group_vars or -e
# still wins. backend-api holds the runbook's defaults.
SERVICE_PROFILES = {
    "backend-api": {
        "host_group": "backend_api_instances",   # canary_host_group: the nodes a release may touch
        "pool_backend": "api_pool",              # canary_pool_backend (POOL_BACKEND)
        "node": "backend-api-2",                 # canary_node (CANARY_NODE)
        "peer_nodes": "backend-api-1",           # canary_peer_nodes (PEER_NODES)
        "install_dir": "/opt/veza/backend-api",  # canary_install_dir
        "binary_name": "veza-api",               # canary_binary_name
        "service": "veza-backend-api",           # canary_service (the systemd unit)
        "port": 8080,                            # canary_backend_port (node health, SLI instance)
        "health_path": "/api/v1/health",         # canary_health_path (HEALTH_PATH)
        "lb_health_path": "",                    # canary_lb_health_path (LB_HEALTH_PATH; "": health_path)
        "sli_histogram": "veza_gin_http_request_duration_seconds",  # canary_sli_histogram (SLI_HISTOGRAM)
    },
    "stream-server": {
        "host_group": "stream_server_instances",
        "pool_backend": "stream_pool",
        "node": "stream-server-2",
        "peer_nodes": "stream-server-1",
        "install_dir": "/opt/veza/stream-server",
        "binary_name": "veza-stream",
        "service": "veza-stream-server",
        "port": 8082,
        "health_path": "/health",
        # stream_pool only gets the paths of haproxy_stream_path_prefixes: the LB-side check asks
        # one of them (any URI of the pool hashes onto some stream server, as any API request
        # lands on some backend)
        "lb_health_path": "/stream/health",
        # the lab's stream servers expose the stand-in's histogram; a streamer that names it
        # otherwise sets SLI_HISTOGRAM
        "sli_histogram": "veza_gin_http_request_duration_seconds",
    },
}


def _service_msg(name):
    return ("CANARY_SERVICE=%s is not a service this playbook releases; choose one of %s "
            "(canary_service_profile; unset = backend-api)" % (name, ", ".join(sorted(SERVICE_PROFILES))))


def service_profile(name):
    """The knob defaults of service ``name`` (CANARY_SERVICE): a copy of ``SERVICE_PROFILES[name]``.

    An unknown name raises with the choices; the pre-flight checks the name first
    (``service_check``), so a run refuses with that message before anything is templated from it."""
    key = to_text(name if name is not None else "").strip()
    if key not in SERVICE_PROFILES:
        raise AnsibleFilterError(_service_msg(key))
    return dict(SERVICE_PROFILES[key])


def service_check(name):
    """``{knob, ok, msg}`` of CANARY_SERVICE: one of the names of ``SERVICE_PROFILES``."""
    key = to_text(name if name is not None else "").strip()
    return _check("CANARY_SERVICE", key in SERVICE_PROFILES, _service_msg(key))


def _result_msg(res):
    """The message of one looped task result (a module failure, an unreachable host)."""
    return _truncate(" ".join(to_text(res.get("msg") or res.get("stderr") or "failed").split()), 300)


def lb_preflight_checks(results, lb_set, socket="", backend=""):
    """One ``{lb, ok, msg}`` per LB of ``lb_set`` from the pre-flight's looped check-mode
    ``haproxy_server_state`` results (``loop: lb_set | product(nodes)``, ``delegate_to: item.0``,
    ``ignore_errors: true``, ``ignore_unreachable: true``): the LB's admin socket answered and the
    LB knows every node of the release in ``backend``."""
    by_lb = {}
    for res in results or []:
        item = res.get("item") or ["?", "?"]
        by_lb.setdefault(to_text(item[0]), []).append((to_text(item[1]), res))
    out = []
    for lb in node_list(lb_set):
        bad = []
        for node, res in by_lb.get(lb, []):
            if res.get("unreachable") or res.get("failed"):
                bad.append((node, res))
        if lb not in by_lb:
            out.append({"lb": lb, "ok": False, "msg": "LB_SET: %s was not checked (no result)" % lb})
            continue
        if not bad:
            out.append({"lb": lb, "ok": True, "msg": "%s knows %s in %s" % (lb, ", ".join(n for n, _r in by_lb[lb]), backend)})
            continue
        node, res = bad[0]
        if res.get("unreachable"):
            why = "cannot be reached (%s); is the host up?" % _result_msg(res)
        elif _NOT_KNOWN.search(to_text(res.get("msg", ""))):
            why = ("does not know %s (%s): its HAProxy configuration is not the others' (converge it with "
                   "playbooks/haproxy.yml)" % (", ".join(n for n, _r in bad), _result_msg(res)))
        else:
            why = ("its admin socket %s does not answer (%s); start HAProxy there (systemctl start haproxy)"
                   % (socket, _result_msg(res)))
        out.append({"lb": lb, "ok": False,
                    "msg": "LB %s of the LB set %s %s. Fix it, or leave it out with LB_SET=<the other LBs> "
                           "(only if it takes no traffic)" % (lb, "LB_SET=" + ",".join(node_list(lb_set)), why)})
    return out


def lb_results(results):
    """``{failed: [{lb, msg}], answered: [lb]}`` of a task looped over the LB set (``loop: lb_set``,
    ``delegate_to: item``, ``ignore_errors: true``, ``ignore_unreachable: true``); skipped items
    count as answered."""
    failed, answered = [], []
    for res in results or []:
        lb = to_text(res.get("item", "?"))
        if res.get("unreachable") or res.get("failed"):
            failed.append({"lb": lb, "msg": _result_msg(res)})
        else:
            answered.append(lb)
    return {"failed": failed, "answered": answered}


def retries(timeout, delay):
    """``until`` retries that cover ``timeout`` seconds with ``delay`` seconds between tries."""
    return int(math.ceil(float(timeout) / float(delay)))


_BOOL_TEXT = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def flag(value):
    """A boolean knob (SLI_DURING_PEERS) as True/False, None when it is none of 1/0, true/false,
    yes/no, on/off (any case) or a boolean."""
    if isinstance(value, bool):
        return value
    return _BOOL_TEXT.get(to_text(value).strip().lower())


def rollout_checks(knobs):
    """The checks of the knobs that watch the roll after the canary (issue 17, parts 2-3): a list
    of ``{knob, ok, msg}``.

    ``knobs``: ``during_peers`` (SLI_DURING_PEERS), ``rollback_peers`` (ROLLBACK_PEERS),
    ``bake_window`` (BAKE_WINDOW), ``probe_interval`` (SLI_PROBE_INTERVAL)."""
    k = dict(knobs or {})
    missing = sorted({"during_peers", "rollback_peers", "bake_window", "probe_interval"} - set(k))
    if missing:
        raise AnsibleFilterError("canary_rollout_checks: missing knobs %s" % ", ".join(missing))
    bake = k["bake_window"]
    bake_n = int(to_text(bake).strip()) if not isinstance(bake, bool) and _WHOLE.match(to_text(bake).strip()) else None
    interval = _number(k["probe_interval"], int)
    return [
        _check("SLI_DURING_PEERS", flag(k["during_peers"]) is not None,
               "SLI_DURING_PEERS=%s must be 1 (keep watching the upgraded nodes while the peers roll) or 0 "
               "(the default, the runbook)" % (k["during_peers"],)),
        _check("ROLLBACK_PEERS", to_text(k["rollback_peers"]) in ("never", "on_red"),
               "ROLLBACK_PEERS=%s must be never (the default, the runbook: a red verdict after the canary stops "
               "the release and says how to roll back) or on_red (roll every upgraded node back, newest first)"
               % (k["rollback_peers"],)),
        _check("BAKE_WINDOW", bake_n is not None and (bake_n == 0 or interval is None or bake_n >= interval),
               "BAKE_WINDOW=%s must be 0 (no bake, the default) or a whole number of seconds of at least "
               "SLI_PROBE_INTERVAL=%s (one more gate over the whole pool after the last peer)"
               % (bake, k["probe_interval"])),
    ]


def _instance_regex(values):
    return "|".join(re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\\\1", to_text(v)) for v in values)


def watch_sets(upgraded, peers, batch, port, label="instance"):
    """What the background analysis watches while ``batch`` rolls (SLI_DURING_PEERS): ``{selector,
    nodes, baseline}``.

    ``selector``: PromQL matchers of the nodes already upgraded (``upgraded``, the canary first);
    ``baseline``: the peers neither upgraded nor in ``batch``, as ``<node>:<port>`` (a peer of the
    batch is drained during its roll and serves nothing; empty: no peer left, the gate is absolute)."""
    done = node_list(upgraded)
    rolling = node_list(batch)
    rest = [p for p in node_list(peers) if p not in done and p not in rolling]
    inst = ["%s:%s" % (n, port) for n in done]
    return {"selector": '%s=~"^(%s)$"' % (label, _instance_regex(inst)), "nodes": done,
            "baseline": ["%s:%s" % (n, port) for n in rest]}


def stop_message(stop, rollback_peers, inventory="<inventory>"):
    """The message that ends a release stopped after the canary (a red background or bake verdict).

    ``stop``: ``{kind: background|bake, verdict, reason, upgraded: [nodes, the canary first]}``;
    ``rollback_peers``: ROLLBACK_PEERS (``on_red`` - they were rolled back, newest first)."""
    st_ = dict(stop or {})
    order = list(reversed(node_list(st_.get("upgraded"))))
    nodes = ",".join(order)
    what = {"background": "the background analysis during the peer roll (SLI_DURING_PEERS=1)",
            "bake": "the bake over the whole pool after the last peer (BAKE_WINDOW)"}.get(st_.get("kind"), "a gate")
    verdict = to_text(st_.get("verdict") or "red")
    head = "Release STOPPED: %s is %s (%s)." % (what, verdict.upper(), to_text(st_.get("reason") or "no reason"))
    command = ("ROLLBACK_NODES=%s ansible-playbook -i %s playbooks/rollback.yml (or make rollback ROLLBACK_NODES=%s)"
               % (nodes, inventory, nodes))
    if verdict == "red" and to_text(rollback_peers) == "on_red" and order:
        return ("%s Rolled back to the last-known-good binary, newest first (ROLLBACK_PEERS=on_red): %s; the lock "
                "is released." % (head, ", ".join(order)))
    if verdict == "inconclusive":
        why = "NOT rolled back: the baseline breached too (fleet-wide), the new build is not proven bad."
    elif verdict == "error":
        why = "NOT rolled back: the background watcher ended without a verdict, nothing vouches for the new build."
    else:
        why = "NOT rolled back (ROLLBACK_PEERS=never, the runbook)."
    return ("%s %s Upgraded nodes, newest first: %s; the peers not listed were not touched; the lock is released. "
            "To roll back: %s." % (head, why, ", ".join(order) or "none", command))


def ramp_checks(knobs, health_path="/api/v1/health"):
    """The traffic ramp's knobs (#16), checked, and the plan the gate loops over.

    ``knobs``: ``steps`` (CANARY_STEPS), ``sli_window``, ``sli_probe_interval``, ``smoke_paths``
    (CANARY_SMOKE_PATHS, comma separated; empty: ``health_path``), ``min_requests``
    (CANARY_MIN_REQUESTS), ``requests_selector`` (SLI_REQUESTS_SELECTOR: the label matchers of the
    requests those minimums count; ``auto``: every path but ``health_path``, since HAProxy's health
    checks are requests too). Returns ``{"ok", "msg",
    "plan", "smoke_paths", "min_requests", "requests_selector", "summary"}``;
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
    raw_sel = to_text(k.get("requests_selector") or "").strip()
    if raw_sel == "auto":
        # HAProxy's health checks ask the node's health path; they are not users' requests
        raw_sel = 'path!="%s"' % string_literal(to_text(health_path))
    try:
        req_sel = normalize_selector(raw_sel, "SLI_REQUESTS_SELECTOR (canary_sli_requests_selector)",
                                     REQUESTS_SELECTOR_EXAMPLE)
    except PromSliConfigError as exc:
        return dict(out, ok=False, msg="%s; the default, auto, leaves the health checks out of the request counts"
                                       % exc)
    summary = ", ".join("%s%s" % (s["label"], "" if s["dark"] else " %% for %d s" % s["window"]) for s in plan)
    return dict(out, plan=plan, smoke_paths=paths, min_requests=mreq, requests_selector=req_sel, summary=summary,
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
            "canary_service_profile": service_profile,
            "canary_service_check": service_check,
            "canary_lb_preflight_checks": lb_preflight_checks,
            "canary_lb_results": lb_results,
            "canary_flag": flag,
            "canary_rollout_checks": rollout_checks,
            "canary_watch_sets": watch_sets,
            "canary_stop_message": stop_message,
            "canary_ramp_checks": ramp_checks,
        }
