# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The canary's traffic ramp (module_utils/_ramp.py): CANARY_STEPS parsing, the share -> HAProxy
weight arithmetic, the SLI window's split over the steps. Unit and property tests (hypothesis,
bounded, derandomized when CI is set)."""
from __future__ import annotations

import os

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.veza.infra.plugins.module_utils import _ramp as r

BOUNDED = settings(max_examples=200, deadline=None, derandomize=bool(os.environ.get("CI")), database=None)


@pytest.mark.parametrize("raw, want", [
    ("100", [100.0]),
    (None, [100.0]),
    ("5,100", [5.0, 100.0]),
    ("dark,5,100", ["dark", 5.0, 100.0]),
    (" DARK , 5 ,25%, 100 ", ["dark", 5.0, 25.0, 100.0]),
    (["dark", 5, 100], ["dark", 5.0, 100.0]),
    ("dark,100", ["dark", 100.0]),
    ("2.5,100", [2.5, 100.0]),
])
def test_parse_steps(raw, want):
    assert r.parse_steps(raw) == want


@pytest.mark.parametrize("raw, needle", [
    ("", "empty"),
    ("5,25", "last step must be 100"),
    ("25,5,100", "must increase"),
    ("5,5,100", "must increase"),
    ("5,dark,100", "only be the first"),
    ("0,100", "above 0"),
    ("101", "above 0"),
    ("nan,100", "above 0"),
    ("five,100", "not a traffic share"),
    (",".join(["100"] * 21), "at most 20"),
])
def test_parse_steps_refuses_naming_the_knob(raw, needle):
    with pytest.raises(r.RampError) as exc:
        r.parse_steps(raw)
    assert needle in str(exc.value) and "CANARY_STEPS" in str(exc.value)


@pytest.mark.parametrize("share, peers, initial, want", [
    (0, [100], 100, 0),          # dark: no balanced traffic
    (100, [100], 100, 100),      # full: the configured weight, as today
    (100, [], 7, 7),
    (5, [100], 100, 5),          # 5 / 105 = 4.76 %
    (50, [100], 100, 100),
    (25, [100, 100], 100, 67),   # 67 / 267 = 25.1 %
    (10, [1] * 9, 1, 1),         # 1 / 10 = 10 %: light weights are fine when they fit
    (95, [100], 100, 256),       # capped at HAProxy's 256 (72 %): reported as the effective share
])
def test_share_weight(share, peers, initial, want):
    assert r.share_weight(share, peers, initial) == want


def test_share_weight_refuses_without_peers_and_with_too_light_peers():
    with pytest.raises(r.RampError, match="no other server"):
        r.share_weight(5, [], 100)
    with pytest.raises(r.RampError, match="haproxy_server_weight"):
        r.share_weight(5, [1], 1)      # weight 1 against 1 is 50 %, not 5 %
    for bad in (-1, 101, float("nan"), True, "5"):
        with pytest.raises(r.RampError, match="share"):
            r.share_weight(bad, [100], 100)


@BOUNDED
@given(share=st.floats(min_value=1, max_value=70), peers=st.lists(st.integers(50, 256), min_size=1, max_size=8))
def test_share_weight_property_within_a_point_when_it_fits(share, peers):
    """With peers of weight >= 50 and a share the 256 cap allows, the weight gives the share within
    the rounding of one weight unit (and within the lab's +-3 points)."""
    total = sum(peers)
    exact = share * total / (100 - share)
    w = r.share_weight(share, peers, 100)
    assert 1 <= w <= 256
    got = r.pool_share(w, peers)
    if exact <= 256:
        # one weight unit of rounding at most: |w - exact| <= 0.5 (or the floor of 1)
        assert abs(w - exact) <= 0.5 + 1e-9 or (w == 1 and exact < 1)
        assert abs(got - share) <= max(100.0 / (total + w) , 1e-9) + 1e-9
    else:
        assert w == 256 and got < share


@BOUNDED
@given(share=st.floats(min_value=0, max_value=100, allow_nan=False),
       peers=st.lists(st.integers(0, 256), max_size=6), initial=st.integers(0, 256))
def test_share_weight_property_never_raises_other_than_ramp_error(share, peers, initial):
    try:
        w = r.share_weight(share, peers, initial)
    except r.RampError as exc:
        assert "share" in str(exc)
        return
    assert 0 <= w <= 256
    if share == 0:
        assert w == 0
    if share == 100:
        assert w == initial


@pytest.mark.parametrize("window, steps, interval, want", [
    (3600, [100.0], 30, [3600]),
    (3600, [5.0, 100.0], 30, [1800, 1800]),
    (3600, ["dark", 5.0, 100.0], 30, [0, 1800, 1800]),
    (100, [5.0, 25.0, 100.0], 10, [33, 33, 34]),
])
def test_step_windows(window, steps, interval, want):
    assert r.step_windows(window, steps, interval) == want


def test_step_windows_refuses_less_than_two_probes_a_step():
    with pytest.raises(r.RampError) as exc:
        r.step_windows(100, [5.0, 25.0, 100.0], 30)
    assert "SLI_WINDOW" in str(exc.value) and "at least 180" in str(exc.value)


@BOUNDED
@given(window=st.integers(1, 10 ** 5), interval=st.integers(1, 600),
       shares=st.lists(st.integers(1, 99), unique=True, max_size=5), dark=st.booleans())
def test_step_windows_property_split_is_exact(window, interval, shares, dark):
    steps = (["dark"] if dark else []) + sorted(float(s) for s in shares) + [100.0]
    try:
        parts = r.step_windows(window, steps, interval)
    except r.RampError as exc:
        assert window // (len(steps) - dark) < 2 * interval and "SLI_WINDOW" in str(exc)
        return
    assert sum(parts) == window and len(parts) == len(steps)
    assert all(p >= 2 * interval for s, p in zip(steps, parts) if s != "dark")
    assert parts[-1] == max(parts)
    if dark:
        assert parts[0] == 0


def test_ramp_plan():
    plan = r.ramp_plan("dark,5,100", 60, 3)
    assert [(s["label"], s["share"], s["window"], s["dark"]) for s in plan] == [
        ("dark", 0, 0, True), ("5", 5.0, 30, False), ("100", 100.0, 30, False)]
