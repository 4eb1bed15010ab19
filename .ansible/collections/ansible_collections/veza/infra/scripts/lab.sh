#!/usr/bin/env bash
# The embedded lab on Incus (docs/lab.md): scripts/lab.sh up|down|status|inventory.
# The lab is declared and driven by scripts/lab.py (with the venv's Python: it reads HAProxy and
# Prometheus through the collection's own clients); this wrapper only finds that Python.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
exec "${VEZA_VENV:-/opt/veza-infra/venv}/bin/python" "$here/scripts/lab.py" "$@"
