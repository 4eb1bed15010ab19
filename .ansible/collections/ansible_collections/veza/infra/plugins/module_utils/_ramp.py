# -*- coding: utf-8 -*-
# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The traffic ramp of a canary (CANARY_STEPS, #16): steps, the share -> HAProxy weight arithmetic,
and how the SLI window splits over the steps. Pure functions; haproxy_server_state (option
``share``) and the canary role's pre-flight (filter ``canary_steps``) call them.

HAProxy's ``balance roundrobin`` (and ``leastconn`` at equal load) gives a server
``weight / (sum of the weights of the servers in rotation)`` of the new sessions. Clients holding
the ``SERVERID`` cookie are outside that arithmetic: they stay on their server whatever its weight
(a server at weight 0 keeps its cookie clients), so a ramp never moves a pinned client.
"""
from __future__ import annotations

import math

DARK = "dark"
MAX_WEIGHT = 256          # HAProxy's highest user weight
MAX_STEPS = 20


class RampError(ValueError):
    """Bad ramp input; the message names the knob and the fix."""


def parse_steps(value, knob="CANARY_STEPS"):
    """``"dark,5,25,100"`` (or a list) -> ``["dark", 5.0, 25.0, 100.0]``.

    Rules: the shares are numbers above 0 and at most 100, strictly increasing, the last one is 100;
    ``dark`` (weight 0, header-routed requests only) may only come first. Raises RampError.
    """
    if value is None:
        value = "100"
    if isinstance(value, (list, tuple)):
        items = [str(v).strip() for v in value]
    else:
        items = [v.strip() for v in str(value).replace(";", ",").split(",")]
    items = [v for v in items if v]
    hint = "e.g. %s=5,25,100 or %s=dark,5,100 (the default 100 is one step at full weight)" % (knob, knob)
    if not items:
        raise RampError("%s is empty: %s" % (knob, hint))
    if len(items) > MAX_STEPS:
        raise RampError("%s has %d steps, at most %d: %s" % (knob, len(items), MAX_STEPS, hint))
    steps = []
    for idx, item in enumerate(items):
        if item.lower() == DARK:
            if idx != 0:
                raise RampError("%s: 'dark' may only be the first step (got it at position %d of %r): %s"
                                % (knob, idx + 1, ",".join(items), hint))
            steps.append(DARK)
            continue
        try:
            share = float(item.rstrip("%"))
        except ValueError:
            raise RampError("%s: %r is not a traffic share in percent: %s" % (knob, item, hint)) from None
        if not math.isfinite(share) or not 0 < share <= 100:
            raise RampError("%s: %r is not a share above 0 and at most 100 percent: %s" % (knob, item, hint))
        if steps and steps[-1] != DARK and share <= steps[-1]:
            raise RampError("%s: the shares must increase (%s after %s): %s"
                            % (knob, fmt_share(share), fmt_share(steps[-1]), hint))
        steps.append(share)
    if steps[-1] != 100:
        raise RampError("%s: the last step must be 100 (the canary at its full weight before the peers roll), "
                        "got %r: %s" % (knob, ",".join(items), hint))
    return steps


def fmt_share(share):
    """5.0 -> '5', 2.5 -> '2.5', 'dark' -> 'dark'."""
    if share == DARK:
        return DARK
    return ("%d" % share) if float(share).is_integer() else ("%g" % share)


def weighted_steps(steps):
    """The steps that take user traffic (all but ``dark``)."""
    return [s for s in steps if s != DARK]


def step_windows(window, steps, interval):
    """Seconds of SLI window of each step, in order (``dark`` gets 0: it runs the smoke check only).

    The window splits evenly over the weighted steps (whole seconds, the remainder to the last
    step, the one at 100 %%), so a ramp takes no longer than SLI_WINDOW and the full-weight step
    keeps the largest part. Each weighted step needs at least two probes (2 x ``interval``).
    Raises RampError.
    """
    weighted = weighted_steps(steps)
    if not weighted:
        raise RampError("CANARY_STEPS: no step takes traffic; end with 100")
    window, interval = int(window), int(interval)
    each = window // len(weighted)
    if each < 2 * interval:
        raise RampError(
            "SLI_WINDOW=%d split over the %d traffic steps of CANARY_STEPS=%s gives %d s a step, less than two "
            "probes (2 x SLI_PROBE_INTERVAL=%d s): lengthen SLI_WINDOW to at least %d, shorten "
            "SLI_PROBE_INTERVAL, or use fewer steps"
            % (window, len(weighted), ",".join(fmt_share(s) for s in steps), each, interval,
               2 * interval * len(weighted)))
    out = []
    left = window
    for idx, step in enumerate(steps):
        if step == DARK:
            out.append(0)
            continue
        last = idx == len(steps) - 1
        part = left if last else each
        left -= part
        out.append(part)
    return out


def ramp_plan(steps, window, interval):
    """``[{"index", "share", "window", "dark"}]`` for the role's step loop (``parse_steps`` input)."""
    parsed = parse_steps(steps)
    windows = step_windows(window, parsed, interval)
    return [{"index": i, "share": 0 if s == DARK else s, "label": fmt_share(s), "window": w, "dark": s == DARK}
            for i, (s, w) in enumerate(zip(parsed, windows))]


def pool_share(weight, peer_weights):
    """Percent of the pool's new sessions a server at ``weight`` takes beside ``peer_weights``."""
    total = weight + sum(peer_weights)
    if total <= 0:
        return 0.0
    return 100.0 * weight / total


def share_weight(share, peer_weights, initial_weight):
    """The HAProxy user weight that gives a server ``share`` percent of the pool's new sessions.

    ``peer_weights``: the user weights of the other servers in rotation. 0 -> weight 0 (dark);
    100 -> ``initial_weight`` (the configured weight, as a release without steps has it). In
    between: ``w / (w + P) = s / 100`` -> ``w = s * P / (100 - s)``, rounded to the nearest whole
    weight, at least 1 and at most 256. Raises RampError when the share cannot be had: no peer in
    rotation, or peers so light that even weight 1 is far above the share (raise the servers'
    weights, e.g. ``weight 100`` on every server line: roles/haproxy ``haproxy_server_weight``).
    """
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not math.isfinite(share) \
            or not 0 <= share <= 100:
        raise RampError("share: a traffic share from 0 to 100 percent, got %r" % (share,))
    if share == 0:
        return 0
    if share == 100:
        return int(initial_weight)
    peers = sum(int(w) for w in peer_weights if w and w > 0)
    if peers <= 0:
        raise RampError("share %s%%: no other server of the backend is in rotation (ready, UP, weight > 0), so "
                        "any weight gives this server 100%% of the traffic; bring the peers back first"
                        % fmt_share(share))
    exact = share * peers / (100.0 - share)
    weight = int(min(MAX_WEIGHT, max(1, math.floor(exact + 0.5))))
    got = pool_share(weight, [peers])
    if weight == 1 and got > 2 * share and got - share > 3:
        raise RampError("share %s%%: the peers' weights add up to only %d, so the lightest weight (1) already "
                        "gives %s%% of the traffic; give every server a larger weight (HAProxy 'weight 100', "
                        "roles/haproxy haproxy_server_weight)" % (fmt_share(share), peers, fmt_share(round(got, 1))))
    return weight
