#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: prom_preflight
short_description: Check, before a canary changes anything, that its Prometheus SLI gate can work
version_added: 0.1.0
description:
  - Read-only pre-flight of M(veza.infra.prom_sli_watch), through the same Prometheus client and the
    same connection options.
  - First, Prometheus answers at O(url) with these credentials and TLS options. It asks for
    C(/api/v1/status/buildinfo). A refused password or token fails with "refused the credentials"
    and the HTTP status. A certificate that does not verify fails with the TLS error.
  - Then every SLI of the gate has series for the canary. With the default SLIs, C(<histogram>_bucket)
    and C(<histogram>_count) must have series matching O(selector) within the last O(lookback)
    seconds. When they do not, the module fails and lists the values that do exist of each label
    the selector uses (for example the C(instance) values of the histogram), so that the fix is
    one knob. Without this check, a canary whose series are labelled differently is drained,
    deployed and rolled back for "no data" on every run.
  - With O(slis), each query must be accepted by Prometheus and return data now.
options:
  histogram:
    description: Base name of the request-duration histogram of the default SLIs (as in M(veza.infra.prom_sli_watch)).
    type: str
    default: veza_gin_http_request_duration_seconds
  selector:
    description:
      - PromQL label matchers of the canary's series, as given to M(veza.infra.prom_sli_watch),
        for example V(instance="backend-api-2:8080").
    type: str
    default: ''
  slis:
    description:
      - The SLIs of the gate when they are not the default ones (same form as in M(veza.infra.prom_sli_watch)).
        Each query must be accepted and return data.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the SLI.
        type: str
        required: true
      query:
        description: PromQL instant query.
        type: str
        required: true
      max:
        description: Upper bound (as in M(veza.infra.prom_sli_watch)).
        type: float
      min:
        description: Lower bound (as in M(veza.infra.prom_sli_watch)).
        type: float
  lookback:
    description: Seconds of history searched for the canary's series, from V(1) to V(604800).
    type: int
    default: 600
  selector_knob:
    description:
      - Name of the setting that holds O(selector), used in the refusal so that it names the knob
        to fix (the canary role passes V(canary_sli_selector)).
    type: str
    default: selector
extends_documentation_fragment:
  - veza.infra._prometheus
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Read-only. Check mode runs the same checks.
  diff_mode:
    support: none
    details: Nothing is changed, so there is no diff.
  platform:
    platforms: posix
notes:
  - Run it with C(delegate_to=localhost) (or wherever M(veza.infra.prom_sli_watch) runs), so that
    it reaches Prometheus the same way and reads O(bearer_token_file) and O(ca_path) there.
author:
  - Veza infra team (@veza-infra)
seealso:
  - module: veza.infra.prom_sli_watch
  - name: Prometheus HTTP API
    description: Series, label values and build information endpoints.
    link: https://prometheus.io/docs/prometheus/latest/querying/api/
"""

EXAMPLES = r"""
- name: Prometheus answers with our credentials and has the canary's series
  veza.infra.prom_preflight:
    url: https://prom.lxd:9090
    url_username: veza-canary
    url_password: "{{ vault_prom_password }}"
    ca_path: /etc/veza/prom-ca.pem
    selector: instance="backend-api-2.lxd:8080"
  delegate_to: localhost

- name: Same with a bearer token file
  veza.infra.prom_preflight:
    url: https://prom.lxd:9090
    bearer_token_file: /etc/veza/prom-token
    selector: instance="backend-api-2.lxd:8080"
  delegate_to: localhost
"""

RETURN = r"""
version:
  description: Version of the Prometheus server.
  returned: success
  type: str
  sample: 2.42.0
series:
  description: Number of series found per selector (default SLIs) or per SLI name (O(slis)).
  returned: success
  type: dict
  sample: {'veza_gin_http_request_duration_seconds_count{instance="backend-api-2:8080"}': 12}
checks:
  description: What was checked, one line each.
  returned: success
  type: list
  elements: str
label_values:
  description: On a refusal for missing series, the values of each selector label that exist on the histogram.
  returned: when the canary's series are missing
  type: dict
  sample: {instance: ['backend-api-1.lxd:8080', 'backend-api-2.lxd:8080']}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.veza.infra.plugins.module_utils._prom_client import PromClient, PromConfigError
from ansible_collections.veza.infra.plugins.module_utils._sli_preflight import (
    MUTUALLY_EXCLUSIVE,
    REQUIRED_TOGETHER,
    PromPreflightRefused,
    argument_spec,
    run_preflight,
    validate_params,
)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_together=REQUIRED_TOGETHER,
        mutually_exclusive=MUTUALLY_EXCLUSIVE,
        supports_check_mode=True,
    )
    try:
        cfg = validate_params(module.params)
        client = PromClient(http_agent="veza.infra.prom_preflight", **cfg["connection"])
        result = run_preflight(client, cfg)
    except PromConfigError as exc:
        msg = str(exc)
        if msg.startswith("url:"):
            msg = "Prometheus at %s is not a usable address: %s" % (module.params["url"], msg)
        module.fail_json(msg=msg)
    except PromPreflightRefused as exc:
        module.fail_json(msg=str(exc), **exc.facts)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
