# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Doc fragment of the connection options every veza.infra Prometheus module shares.

This doc fragment is PRIVATE to veza.infra. There is no compatibility promise: do not use it
from other collections. It documents ``_prom_client.connection_argument_spec()``.
"""
from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    """Options of the Prometheus HTTP API client (url, timeout, auth, TLS)."""

    DOCUMENTATION = r"""
options:
  url:
    description: Base URL of the Prometheus server, C(http://host[:port][/prefix]) or C(https://host[:port][/prefix]).
    type: str
    default: http://prom.lxd:9090
    aliases: [prometheus_url]
  timeout:
    description:
      - Timeout of each API call in seconds, from the connection to the last byte of the answer
        (one deadline for the whole call, not per read). At most V(600).
      - Answers larger than 8 MiB are refused (an SLI, series or label-values answer is a few KiB).
    type: float
    default: 10.0
  bearer_token:
    description: Bearer token sent in the C(Authorization) header. Mutually exclusive with O(bearer_token_file) and O(url_username).
    type: str
  bearer_token_file:
    description:
      - File holding the bearer token (one line), read where the module runs (the controller with
        the action plugin). Keeps the token out of variables and logs.
      - Mutually exclusive with O(bearer_token) and O(url_username).
    type: path
  url_username:
    description: User name for HTTP basic authentication (Prometheus C(--web.config.file) C(basic_auth_users)).
    type: str
  url_password:
    description: Password for HTTP basic authentication. Required with O(url_username).
    type: str
  validate_certs:
    description: Verify the TLS certificate of an C(https) O(url).
    type: bool
    default: true
  ca_path:
    description: PEM file of CA certificates used to verify an C(https) O(url) (for a self-signed or private CA).
    type: path
"""
