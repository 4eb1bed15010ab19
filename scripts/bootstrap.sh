#!/usr/bin/env bash
# Installs everything `make test` / `make demo` need on a bare Debian 12 machine (run as root).
# Idempotent and quick when everything is already there: apt runs only for missing packages,
# the venv is rebuilt only when requirements.lock.txt changed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VEZA_VENV:-/opt/veza-infra/venv}

# --- Debian packages -------------------------------------------------------------------
# podman/runc/debootstrap: lab hosts (systemd in containers); haproxy/prometheus: the real
# components the integration tests start on loopback; rsync: sanity tree copy.
APT_PACKAGES=(python3-venv shellcheck podman runc debootstrap haproxy prometheus socat git make curl rsync ca-certificates)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps the packaged haproxy/prometheus services from starting on the host:
  # tests start their own instances on loopback.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Podman as root without systemd as PID 1 --------------------------------------------
# runc (crun is not in bookworm's podman deps by default) and ulimits inside the host's hard
# limits: podman's own default ulimits fail here. A --ulimit flag replaces both defaults.
conf=/etc/containers/containers.conf
if ! grep -q 'managed by veza.infra' "$conf" 2>/dev/null; then
  hn=$(ulimit -Hn); [ "$hn" = unlimited ] && hn=1048576; [ "$hn" -gt 65536 ] && hn=65536
  hu=$(ulimit -Hu); [ "$hu" = unlimited ] && hu=4194304
  pm=$(cat /proc/sys/kernel/pid_max); nproc_lim=$(( hu < pm ? hu : pm ))
  mkdir -p /etc/containers
  [ -f "$conf" ] && cp "$conf" "$conf.veza-infra.bak"
  cat > "$conf" <<CONF
# managed by veza.infra scripts/bootstrap.sh
[containers]
default_ulimits = ["nofile=${hn}:${hn}", "nproc=${nproc_lim}:${nproc_lim}"]

[engine]
runtime = "runc"
CONF
fi

# --- Python venv (pinned) -----------------------------------------------------------------
stamp="$VENV/.veza-requirements.sha256"
want=$(sha256sum "$here/requirements.lock.txt" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: creating venv $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  # (pip's output goes to a log: this machine's pip.conf names local indexes that may be absent)
  if ! "$VENV/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.lock.txt" \
      >"$VENV.install.log" 2>&1; then
    grep -v 'is ignored: it is neither' "$VENV.install.log" | tail -30
    echo "bootstrap: pip install failed (full log: $VENV.install.log)" >&2; exit 1
  fi
  echo "$want" > "$stamp"
fi

# --- ansible-test's pip bootstrap ---------------------------------------------------------
# ansible-test downloads a get-pip script for each sanity venv from a host this machine cannot
# reach. The stand-in installs pip with ensurepip, then pip installs what ansible-test asked for.
pipver=$("$VENV/bin/python" - <<'PY'
import re, pathlib, ansible_test
src = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
m = re.search(r"pip='([0-9.]+)'", src.read_text())
print(m.group(1) if m else "24.2")
PY
)
getpip=~/.ansible/test/cache/get_pip_${pipver//./_}.py
if [ ! -f "$getpip" ]; then
  mkdir -p "$(dirname "$getpip")"
  cat > "$getpip" <<'PY'
# Stand-in for ansible-test's get-pip download (no route to that host here).
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"],
                      stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "-q"] + args))
PY
fi

# --- veza.infra resolvable from the checkout ----------------------------------------------
mkdir -p "$here/.collections/ansible_collections/veza"
ln -sfn ../../.. "$here/.collections/ansible_collections/veza/infra"
echo "bootstrap: ok (venv $VENV)"
