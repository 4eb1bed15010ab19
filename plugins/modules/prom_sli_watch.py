#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: prom_sli_watch
short_description: Gate a canary on Prometheus SLIs over a time window
version_added: 0.1.0
description:
  - Watches Prometheus for O(window) seconds, probing every O(interval) seconds, and returns
    RV(verdict=green) only when every probe stayed within its thresholds and there is evidence
    (the last probe and enough probes were green, see O(min_good_ratio)). The first probe over a
    threshold fails the task at once with the SLI, its value, the threshold, the query and the time.
  - By default it watches the runbook's two SLIs of the C(veza_gin_http_request_duration_seconds)
    histogram, with O(selector) merged into every vector selector. V(p95_latency) is the 0.95
    C(histogram_quantile) of the C(_bucket) rate. V(error_rate) is the rate of C(_count) with a
    5xx C(status) label over the rate of all C(_count). A service that served no 5xx at all has a
    ratio of 0, not "no data". The queries as sent are returned in RV(slis).
  - O(slis) replaces both with your own queries.
  - Edge cases are explicit. An empty vector or NaN is "no data" (see O(on_no_data) and
    O(no_data_limit)). A failed query or an unreachable Prometheus is an error (see O(error_limit)).
    PromQL that Prometheus rejects fails the task before the window starts, with Prometheus's own
    error text. Every probe is kept in RV(probes).
  - The action plugin of the same name runs the window on the controller and prints one line per
    probe while it runs (elapsed/total, each SLI against its threshold, the probe status). Run
    without it (for example as a plain module on a host), the module behaves the same but reports
    only at the end.
  - Read-only. In check mode it still runs the whole window and reports, and C(changed) is always
    false.
options:
  window:
    description: Length of the watch in seconds. The last probe runs at O(window).
    type: int
    default: 3600
  interval:
    description: Seconds between probes. Must not exceed O(window).
    type: int
    default: 30
  min_window:
    description:
      - Shortest O(window) accepted, in seconds. A shorter window proves little about a canary.
        A lab lowers this on purpose.
    type: int
    default: 300
  p95_threshold:
    description: Maximum p95 request latency in seconds of the default latency SLI. A probe above it is red.
    type: float
    default: 0.5
  error_rate_threshold:
    description: Maximum ratio of 5xx responses of the default error SLI (V(0.005) is 0.5 %). A probe above it is red.
    type: float
    default: 0.005
  selector:
    description:
      - PromQL label matchers added to every vector selector of the default queries, with or
        without braces, for example V(instance="backend-api-2:8080").
      - Not applied to O(slis).
    type: str
    default: ''
  histogram:
    description:
      - Base name of the request-duration histogram of the default queries (without C(_bucket)/C(_count)).
      - The default queries count each series over the rate range R. A series with samples before R counts by
        C(increase). A series born inside R (the C(status="503") series a new build creates with its first
        503) on a target Prometheus scraped before R counts its whole value, so the errors served before its
        first scrape are not lost.
    type: str
    default: veza_gin_http_request_duration_seconds
  slis:
    description:
      - Your own SLIs, replacing both default ones (O(p95_threshold), O(error_rate_threshold) and
        O(selector) are then unused). Each query must return an instant vector or a scalar. With
        several series, the worst value counts.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the SLI in the output, a word such as V(p99_latency).
        type: str
        required: true
      query:
        description: PromQL instant query.
        type: str
        required: true
      max:
        description: The probe is red when the value is above this.
        type: float
      min:
        description: The probe is red when the value is below this.
        type: float
  scrape_interval:
    description:
      - Scrape interval of the target in Prometheus, in seconds. It is used only to size the rate
        range R of the default queries, which is max(2 x O(interval), 4 x O(scrape_interval)).
        Two intervals make consecutive probes overlap. Four scrapes give the PromQL C(rate) function enough samples.
    type: int
    default: 15
  rate_range:
    description: Rate range R of the default queries as a PromQL duration (V(1m), V(90s)), instead of the computed one.
    type: str
  on_no_data:
    description:
      - What a probe without data (an empty vector or NaN, for example no traffic) does.
      - V(fail) makes the gate red after O(no_data_limit) consecutive no-data probes. A probe with
        data resets the count.
      - V(ignore) keeps and counts such probes but does not fail on their number. They are not
        evidence either. The window must still end on a green probe and meet O(min_good_ratio).
    type: str
    choices: [fail, ignore]
    default: fail
  no_data_limit:
    description: Consecutive no-data probes that make the gate red with O(on_no_data=fail).
    type: int
    default: 2
  error_limit:
    description:
      - Consecutive probes with a failed query (Prometheus unreachable, timeout, HTTP or execution
        error) that make the gate red. A probe that gets an answer resets the count.
      - A query Prometheus rejects as invalid PromQL is red at once, whatever this says.
    type: int
    default: 3
  failure_limit:
    description:
      - Red probes (an SLI over its threshold) tolerated over the window; the gate is red when
        more than this many probes were red, counted over the whole window, not consecutively
        (the semantics of Argo Rollouts' C(failureLimit)).
      - V(0), the default, fails the gate at the first red probe, as the runbook wants. Raise it
        only for an SLI known to be noisy, and keep it well below O(window) / O(interval).
    type: int
    default: 0
    version_added: 0.1.0
  min_good_ratio:
    description:
      - Share of the window's probes that must be green for a V(green) verdict (V(0.5) is half),
        above 0 and at most 1.
      - Never green without evidence. A window that ran to its end is green only when its last
        probe was green and at least this share of its probes (and at least one) were green.
        Otherwise it is red, whatever O(error_limit), O(no_data_limit), O(on_no_data=ignore) or
        O(failure_limit) tolerated on the way. An unreachable Prometheus, or one that fails only
        the last probes, can never make the gate green.
    type: float
    default: 0.5
    version_added: 0.1.0
  fail_on_red:
    description:
      - Fail the task when the verdict is V(red), or V(inconclusive) (relative gate only). With
        V(false) the task succeeds and the caller reads RV(verdict).
      - Both fail the task, so a caller that must not roll back on V(inconclusive) tells them
        apart by RV(verdict) (the canary role's rescue does).
    type: bool
    default: true
  report_path:
    description:
      - Write the result as JSON to this path, and a self-contained HTML page with an SVG chart of
        each SLI against its threshold next to it (same name, C(.html) instead of C(.json)).
      - Written on the controller when the action plugin runs, on the target otherwise. Its
        directory must exist and be writable, and neither file may be a directory. This is checked
        before the window starts.
      - A report that cannot be written after the window (for example its directory was removed)
        does not lose the result. The verdict stands, every probe is returned, and the error is in
        RV(report_error) and a warning.
    type: path
  baseline_selector:
    description:
      - Turns on the relative gate. PromQL label matchers of the baseline, the pool's servers
        still on the old binary, for example V(instance=~"backend-api-(1|3):8080"). Every probe
        queries the default SLIs for the baseline too (same client, same queries, this selector
        instead of O(selector)) and compares them with the canary's.
      - With a baseline, a probe is V(red) when the canary breaches an absolute threshold and the
        baseline does not, when the canary's p95 is above the baseline's times
        O(baseline_p95_ratio) B(and) above it by more than O(baseline_p95_floor), or when its 5xx
        ratio is above the baseline's by more than O(baseline_error_delta). A regression against
        the baseline is red even when both breach. It is V(inconclusive) when the baseline breaches
        a threshold too (fleet-wide, see O(on_inconclusive)). It is V(no_data) when either side
        has no data or fewer than O(min_requests) requests. An inconclusive probe is never green.
      - Only with the default SLIs, not with O(slis). Mutually exclusive with O(baseline_instances).
    type: str
    version_added: 0.1.0
  baseline_instances:
    description:
      - The relative gate's baseline as label values of O(baseline_label), matched literally,
        for example V([backend-api-1:8080, backend-api-3:8080]). The canary role passes the peers
        not yet upgraded. See O(baseline_selector).
    type: list
    elements: str
    version_added: 0.1.0
  baseline_label:
    description: Label that O(baseline_instances) are values of.
    type: str
    default: instance
    version_added: 0.1.0
  baseline_p95_ratio:
    description:
      - Relative gate. The canary's p95 must exceed the baseline's times this ratio (at least 1),
        and by O(baseline_p95_floor), for the probe to be red.
    type: float
    default: 1.5
    version_added: 0.1.0
  baseline_p95_floor:
    description:
      - Relative gate. Seconds the canary's p95 must exceed the baseline's by, on top of
        O(baseline_p95_ratio), for the probe to be red. It keeps a 2 ms to 4 ms change from
        failing the gate.
    type: float
    default: 0.05
    version_added: 0.1.0
  baseline_error_delta:
    description:
      - Relative gate. The probe is red when the canary's 5xx ratio exceeds the baseline's by more
        than this (V(0.005) is 0.5 percentage points), from 0 to 1.
    type: float
    default: 0.005
    version_added: 0.1.0
  min_requests:
    description:
      - Relative gate. Requests each side must have served over the rate range of a probe
        (the histogram's C(_count), counted as the default queries count). Fewer on either side make the probe
        V(no_data), never green. V(0) turns the minimum off.
      - As with O(min_canary_requests), too few requests in the window's first rate range is a warm-up, not a
        strike towards O(no_data_limit); no series under O(requests_selector) is 0 requests.
    type: int
    default: 50
    version_added: 0.1.0
  on_inconclusive:
    description:
      - Relative gate. What an inconclusive probe (the baseline breaches too, fleet-wide) does.
      - V(hold) extends the window by one O(interval) per inconclusive probe, up to O(hold_limit)
        seconds. A window that still ends inconclusive, or has enough good probes only when
        counting the inconclusive ones, gets the verdict V(inconclusive), meaning fail without
        rolling back. A blip that recovers is made up for by the extension and can still be green.
      - V(rollback) counts it as a red probe (see O(failure_limit)).
      - V(ignore) keeps it. It is not evidence, and the window must still end on a green probe
        with O(min_good_ratio) of all its probes green.
    type: str
    choices: [hold, rollback, ignore]
    default: hold
    version_added: 0.1.0
  hold_limit:
    description: Relative gate, O(on_inconclusive=hold). Most seconds the window is extended by.
    type: int
    default: 600
    version_added: 0.1.0
  min_canary_requests:
    description:
      - Absolute gate. Requests the canary (O(selector)) must have served over the rate range of a probe
        (the histogram's C(_count), counted as the default queries count); fewer make the probe V(no_data), never green, and
        O(on_no_data) / O(no_data_limit) decide. The canary's traffic ramp sets it at its low-share steps
        (C(CANARY_MIN_REQUESTS)). V(0), the default, turns the minimum off (no extra query).
      - In the first rate range of the window, a probe whose only lack is too few requests is still V(no_data)
        but does not count towards O(no_data_limit). The range reaches back before the window, when the canary
        had a smaller share or none (a step after the dark step). The report marks such a probe C(warmup).
    type: int
    default: 0
    version_added: 0.2.0
  requests_selector:
    description:
      - PromQL label matchers added to O(selector) (and to the baseline's) for the request counts of
        O(min_canary_requests) and O(min_requests) only, for example V(path!="/api/v1/health").
      - HAProxy's health checks are requests too. One LB checking every 5 s sends 12 in a 60 s rate range,
        an LB pair 24, so without this a minimum of 20 passes with no user request at all. The canary role
        sets it to every path but its health path (C(SLI_REQUESTS_SELECTOR)).
    type: str
    default: ''
    version_added: 0.2.0
  control_file:
    description:
      - On-call controls (C(make canary-abort), C(canary-promote), C(canary-hold SECONDS=...)), a JSON-lines
        file on the controller read at every probe. C(abort) makes the verdict red at once, C(promote) ends
        the window green at once, C(hold) extends it by C(seconds). The live line shows the control; RV(controls)
        says who decided and when.
      - Only controls of O(control_run_id) written from O(control_since) on apply, each once; lines that do not
        parse, unknown actions and other runs' controls are skipped with a warning. A missing file is no control.
    type: path
    version_added: 0.2.0
  control_run_id:
    description: The run whose controls apply (required with O(control_file)).
    type: str
    version_added: 0.2.0
  control_since:
    description:
      - Epoch seconds from which controls apply (the end of the previous ramp step, RV(control_until)). Unset,
        the start of this window.
    type: float
    version_added: 0.2.0
extends_documentation_fragment:
  - veza.infra._prometheus
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
    details: The action plugin runs the window on the controller and prints one line per probe.
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Read-only. Check mode runs the same probes and reports the same verdict.
  diff_mode:
    support: N/A
    details: Nothing is changed, so there is no diff.
  platform:
    platforms: posix
notes:
  - A value equal to its threshold is within it. Only a value strictly above O(slis[].max) or
    below O(slis[].min) is red.
  - Run it with C(delegate_to=localhost) (or on the deploy host), where Prometheus is reachable.
  - The docs of the collection (C(docs/modules/prom_sli_watch.md)) compare this policy with Argo
    Rollouts and Flagger analysis.
author:
  - Veza infra team (@veza-infra)
seealso:
  - name: Prometheus HTTP API
    description: Instant queries and their error types.
    link: https://prometheus.io/docs/prometheus/latest/querying/api/
  - name: Argo Rollouts analysis
    description: The analysis runs this module is compared with.
    link: https://argoproj.github.io/argo-rollouts/features/analysis/
"""

EXAMPLES = r"""
- name: Watch the canary for an hour (the runbook's step 7)
  veza.infra.prom_sli_watch:
    url: http://prom.lxd:9090
    selector: instance="backend-api-2:8080"
    report_path: /var/tmp/canary-sli.json
  delegate_to: localhost

- name: Short lab window, tolerate quiet periods
  veza.infra.prom_sli_watch:
    url: http://127.0.0.1:9090
    window: 60
    interval: 5
    min_window: 60
    scrape_interval: 1
    on_no_data: ignore
  delegate_to: localhost

- name: Own SLIs, report instead of failing
  veza.infra.prom_sli_watch:
    window: 900
    slis:
      - name: p99_latency
        query: histogram_quantile(0.99, sum by (le) (rate(veza_gin_http_request_duration_seconds_bucket[2m])))
        max: 1.5
      - name: healthy_backends
        query: sum(up{job="backend-api"})
        min: 2
    fail_on_red: false
  delegate_to: localhost
  register: gate

- name: Relative gate, the canary against the peers still on the old binary
  veza.infra.prom_sli_watch:
    url: http://prom.lxd:9090
    selector: instance="backend-api-2:8080"
    baseline_instances: [backend-api-1:8080, backend-api-3:8080]
    on_inconclusive: hold
    hold_limit: 900
    fail_on_red: false
  delegate_to: localhost
  register: gate

- name: Roll back on a red gate
  ansible.builtin.debug:
    msg: "rolling back: {{ gate.reason }}"
  when: gate.verdict == 'red'
"""

RETURN = r"""
verdict:
  description:
    - V(green) when the window ended without a red probe, V(red) otherwise.
    - V(inconclusive) only with a baseline and O(on_inconclusive=hold). The baseline breached
      too (fleet-wide), and the caller should stop without rolling back.
  returned: always
  type: str
  sample: red
reason:
  description: Why. For a breach, the SLI, its value, the threshold, the probe time and the query.
  returned: always
  type: str
  sample: >-
    SLI p95_latency breached its threshold: 0.96 > max 0.5 at 2026-01-12T10:01:30.04Z
    (probe 3, 90.0s into the window); query: histogram_quantile(0.95, ...)
duration:
  description: Seconds from the first probe to the end of the watch.
  returned: always
  type: float
  sample: 3600.2
probes:
  description: Every probe, in order.
  returned: always
  type: list
  elements: dict
  contains:
    index:
      description: Probe number, from 0.
      type: int
    time:
      description: Start of the probe, UTC, ISO 8601.
      type: str
      sample: '2026-01-12T10:00:00.01Z'
    elapsed:
      description: Seconds since the first probe.
      type: float
    status:
      description: V(green), V(red), V(no_data) or V(error); with a baseline also V(inconclusive).
      type: str
    values:
      description: Value of each SLI (null without data; V(+Inf) as a string).
      type: dict
      sample: {p95_latency: 0.0098, error_rate: 0.0}
    sli_status:
      description: Per SLI V(ok), V(breach), V(empty), V(nan) or V(error).
      type: dict
    errors:
      description: Query error text per SLI, when any (C(baseline/<sli>) and C(requests) with a baseline).
      type: dict
    baseline:
      description: With a baseline, its C(values) and C(sli_status), as for the canary.
      type: dict
      version_added: 0.1.0
    requests:
      description: With a baseline, requests over the rate range per side (C(canary), C(baseline)).
      type: dict
      version_added: 0.1.0
    relative:
      description: With a baseline, per SLI the comparison's C(status) (V(ok), V(red), V(inconclusive)) and C(text).
      type: dict
      version_added: 0.1.0
baseline:
  description:
    - The relative gate as run. Includes C(selector), the baseline C(slis) and C(requests) queries,
      C(p95_ratio), C(p95_floor), C(error_delta), C(min_requests), C(on_inconclusive) and
      C(hold_limit). C(extension) is the number of seconds the window was held, and C(fleet) the
      first inconclusive probe (null when none).
  returned: when O(baseline_selector) or O(baseline_instances) is set
  type: dict
  version_added: 0.1.0
controls:
  description:
    - On-call controls applied, in order, each with C(action), C(seconds) (hold), C(user), C(uid), C(time)
      (epoch), C(text) (what, who, when), and the C(probe) and C(elapsed) at which it applied.
  returned: when O(control_file) is set
  type: list
  elements: dict
  version_added: 0.2.0
held:
  description: Seconds the window was extended by C(hold) controls.
  returned: when O(control_file) is set
  type: float
  version_added: 0.2.0
control_until:
  description: Epoch seconds when the window ended; the next step's O(control_since).
  returned: when O(control_file) is set
  type: float
  version_added: 0.2.0
counts:
  description: Number of probes per status (with a baseline, C(inconclusive) too).
  returned: always
  type: dict
  sample: {green: 120, red: 0, no_data: 1, error: 0}
breach:
  description: The first SLI over its threshold (sli, value, max, min, query, time, elapsed, probe), null when none.
  returned: always
  type: dict
slis:
  description: The SLIs watched (name, query, max, min), with the default queries as sent.
  returned: always
  type: list
  elements: dict
rate_range:
  description: Rate range R used in the default queries.
  returned: always
  type: str
  sample: 60s
report_path:
  description: JSON report written.
  returned: when O(report_path) is set
  type: str
report_html:
  description: HTML report with one SVG chart per SLI.
  returned: when O(report_path) is set
  type: str
report_error:
  description: Why the report could not be written after the window (the result is complete all the same).
  returned: when writing the report failed
  type: str
  version_added: 0.1.0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.veza.infra.plugins.module_utils._sli_watch import (
    MUTUALLY_EXCLUSIVE,
    REQUIRED_TOGETHER,
    PromSliConfigError,
    argument_spec,
    execute,
)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_together=REQUIRED_TOGETHER,
        mutually_exclusive=MUTUALLY_EXCLUSIVE,
        supports_check_mode=True,
    )
    try:
        result = execute(module.params)
    except PromSliConfigError as exc:
        module.fail_json(msg=str(exc), verdict="red", reason=str(exc), probes=[], duration=0.0)
    except OSError as exc:  # report_path could not be written
        module.fail_json(msg="prom_sli_watch: cannot write the report: %s" % exc)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    result["changed"] = False
    if result["verdict"] != "green" and module.params["fail_on_red"]:
        module.fail_json(msg=result["reason"], **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
