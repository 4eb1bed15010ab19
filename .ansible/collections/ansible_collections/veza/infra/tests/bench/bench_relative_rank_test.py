# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does a Mann-Whitney U test over the window's probes (Kayenta's rank test) add anything to the
relative gate's per-probe rule at this gate's sample sizes? Simulation; prints figures, asserts
nothing.

Model of one window of n probes (10 to 120: SLI_WINDOW / SLI_PROBE_INTERVAL + 1). Each probe reads
p95 over the rate range R = 2 probe intervals, so consecutive probes share half their requests:
per-interval noise e_t (lognormal, sigma SIGMA) enters a probe as (e_t + e_t-1) / 2. Both sides
serve the same traffic through the same HAProxy, so a fleet-wide factor f_t (AR(1), rho 0.9,
sigma FLEET) is common to canary and baseline. Canary p95 = base x shift x exp(f_t + (e_t+e_t-1)/2),
baseline the same with its own e and shift 1. Base p95 20 ms (the stand-in's build) and 200 ms;
SIGMA 0.1 (a busy service, 60 s rate range) and 0.25 (a quiet one).

Compared, over TRIALS windows each:
- rule: the gate's per-probe rule (_sli_policy.judge_relative: ratio 1.5 and floor 0.05 s, red at
  the first red probe), i.e. what SLI_BASELINE=peers does;
- mwu: one-sided Mann-Whitney U (normal approximation, tie-corrected) of the canary's n probe
  values against the baseline's, alpha 0.05, once at the end of the window (the only honest way:
  testing after every probe inflates alpha further).
- fl=2: the same rule with failure_limit 2 (SLI_FAILURE_LIMIT=2: red at the third red probe).
Reported: false-positive rate at shift 1 (no regression), detection rate and, for the rule, the
median probe of detection, per shift and n.

Usage: python tests/bench/bench_relative_rank_test.py [TRIALS]
"""
from __future__ import annotations

import json
import math
import os
import random
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import conftest  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
from ansible_collections.veza.infra.plugins.module_utils._sli_policy import (  # noqa: E402  pylint: disable=wrong-import-position
    judge_relative, judge_sli)
from ansible_collections.veza.infra.plugins.module_utils._prom_client import PromResult  # noqa: E402  pylint: disable=wrong-import-position

BASES = (0.02, 0.2)
SIGMAS = (0.1, 0.25)
FLEET = 0.15
RHO = 0.9
REL = {"p95_ratio": 1.5, "p95_floor": 0.05, "error_delta": 0.005}
P95 = {"name": "p95_latency", "max": 0.5, "min": None}
SIZES = (10, 30, 120)
SHIFTS = (1.0, 1.2, 1.5, 3.0, 10.0)


def window(rng, n, shift, base_p95, sigma):
    fleet, prev_c, prev_b = 0.0, rng.gauss(0, sigma), rng.gauss(0, sigma)
    canary, base = [], []
    for _k in range(n):
        fleet = RHO * fleet + math.sqrt(1 - RHO ** 2) * rng.gauss(0, FLEET)
        e_c, e_b = rng.gauss(0, sigma), rng.gauss(0, sigma)
        canary.append(base_p95 * shift * math.exp(fleet + (e_c + prev_c) / 2))
        base.append(base_p95 * math.exp(fleet + (e_b + prev_b) / 2))
        prev_c, prev_b = e_c, e_b
    return canary, base


def mwu_p_greater(xs, ys):
    """One-sided p of 'xs tend to be larger than ys' (normal approximation, tie correction)."""
    allv = sorted([(v, 0) for v in xs] + [(v, 1) for v in ys])
    ranks, i = [0.0] * len(allv), 0
    ties = 0.0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1][0] == allv[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2.0 + 1
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    n1, n2 = len(xs), len(ys)
    r1 = sum(r for r, (_v, side) in zip(ranks, allv) if side == 0)
    u1 = r1 - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    var = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    z = (u1 - n1 * n2 / 2.0) / math.sqrt(var) if var > 0 else 0.0
    return 0.5 * math.erfc(z / math.sqrt(2))


def rule_first_red(canary, base, failure_limit=0):
    """Probe index at which the gate goes red (more than failure_limit red probes), or None."""
    reds = 0
    for k, (c, b) in enumerate(zip(canary, base)):
        status, _text = judge_relative("p95_latency", judge_sli(P95, PromResult.ok([c])),
                                       judge_sli(P95, PromResult.ok([b])), REL)
        if status == "red":
            reds += 1
            if reds > failure_limit:
                return k
    return None


def magnitude(canary, base):
    """The rule's magnitude test on the window's medians (what a rank test must be paired with to
    ignore a significant but harmless 20 -> 24 ms change)."""
    c, b = statistics.median(canary), statistics.median(base)
    return c > b * REL["p95_ratio"] and c - b > REL["p95_floor"]


def main(trials):
    rng = random.Random(17)
    rows = []
    print("Relative gate: per-probe rule (ratio 1.5, floor 0.05 s, red at the first red probe) vs one-sided "
          "Mann-Whitney U (alpha 0.05) at the window's end, alone and with the rule's magnitude test on the "
          "medians; fleet sigma %.2f, %d windows per row" % (FLEET, trials))
    print("%5s %5s %6s %5s | %9s %6s | %9s %6s | %9s %9s" % (
        "base", "sigma", "shift", "n", "rule red", "probe", "fl=2 red", "probe", "mwu red", "mwu+mag"))
    for base_p95 in BASES:
        for sigma in SIGMAS:
            for shift in SHIFTS:
                for n in SIZES:
                    rule_red, fl2_red, mwu_red, mwu_mag, when, when2 = 0, 0, 0, 0, [], []
                    for _t in range(trials):
                        canary, base = window(rng, n, shift, base_p95, sigma)
                        first = rule_first_red(canary, base)
                        if first is not None:
                            rule_red += 1
                            when.append(first)
                        third = rule_first_red(canary, base, failure_limit=2)
                        if third is not None:
                            fl2_red += 1
                            when2.append(third)
                        if mwu_p_greater(canary, base) < 0.05:
                            mwu_red += 1
                            mwu_mag += magnitude(canary, base)
                    row = {"base": base_p95, "sigma": sigma, "shift": shift, "n": n, "rule_red": rule_red / trials,
                           "mwu_red": mwu_red / trials, "mwu_magnitude_red": mwu_mag / trials,
                           "rule_median_probe": statistics.median(when) if when else None,
                           "failure_limit_2_red": fl2_red / trials,
                           "failure_limit_2_median_probe": statistics.median(when2) if when2 else None}
                    rows.append(row)
                    print("%5.2f %5.2f %6.1f %5d | %8.1f%% %6s | %8.1f%% %6s | %8.1f%% %8.1f%%" % (
                        base_p95, sigma, shift, n, 100 * row["rule_red"],
                        "-" if not when else "%g" % row["rule_median_probe"], 100 * row["failure_limit_2_red"],
                        "-" if not when2 else "%g" % row["failure_limit_2_median_probe"], 100 * row["mwu_red"],
                        100 * row["mwu_magnitude_red"]))
    out_dir = os.path.join(HERE, "results")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "relative_rank_test.json"), "w", encoding="utf-8") as fh:
        json.dump({"trials": trials, "fleet": FLEET, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
