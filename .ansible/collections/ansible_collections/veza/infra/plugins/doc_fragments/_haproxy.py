# -*- coding: utf-8 -*-
# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note that this doc fragment is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
from __future__ import annotations


class ModuleDocFragment(object):

    # The HAProxy runtime API socket options: plugins/module_utils/_haproxy.py haproxy_common_argument_spec()
    DOCUMENTATION = r"""
options:
  socket:
    description:
      - The HAProxy runtime API socket, at C(level admin). A unix socket path, or TCP as
        V(host:port), V(tcp://host:port), V(ipv4@host:port) or V(ipv6@[addr]:port).
    type: str
    default: /run/haproxy/admin.sock
  socket_timeout:
    description:
      - Seconds allowed for connecting to the socket and for each answer.
      - A finite number, more than V(0) and at most V(3600); V(nan), V(inf) and booleans are refused
        before anything is sent.
    type: float
    default: 5
"""
