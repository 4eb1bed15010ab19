#!/usr/bin/env bash
# Installs everything `make test` / `make demo` need on a bare Debian 12 machine (run as root).
# Idempotent and quick when everything is already there: apt runs only for missing packages,
# the venv is rebuilt only when requirements.lock.txt changed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VEZA_VENV:-/opt/veza-infra/venv}

# --- Debian packages -------------------------------------------------------------------
# incus-base/incus-client (bookworm-backports), dnsmasq-base (the Incus bridge's DHCP + DNS: the
# lab's names haproxy.lxd, ...; only a Recommends of incus-base), busybox-static (the platform
# check's throwaway containers): the embedded lab (docs/lab.md). debootstrap: the one image of the
# lab and Molecule. podman/runc: Molecule's podman driver and the ansible-pull test host;
# golang-github-containernetworking-plugin-dnsname: names on podman's CNI networks (the haproxy
# scenario's backends; without it HAProxy marks them MAINT (resolution)).
# haproxy/prometheus: the real components the integration tests start on loopback. procps: `ps`
# for the canary's lock (roles/canary/tasks/lock.yml runs it on the controller). rsync: sanity
# tree copy.
APT_PACKAGES=(python3-venv shellcheck podman runc golang-github-containernetworking-plugin-dnsname debootstrap haproxy prometheus socat git make curl rsync
              ca-certificates procps dnsmasq-base busybox-static)
BACKPORTS_PACKAGES=(incus-base incus-client)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
missing_bpo=()
for p in "${BACKPORTS_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing_bpo+=("$p")
done
installed_now=0
if [ ${#missing[@]} -gt 0 ] || [ ${#missing_bpo[@]} -gt 0 ]; then
  installed_now=1
  export DEBIAN_FRONTEND=noninteractive
  # Incus 6.0 LTS comes from bookworm-backports: add that suite once (deb822, same mirror as the
  # machine's bookworm entry), unless some source already names it.
  if [ ${#missing_bpo[@]} -gt 0 ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    mirror=$(grep -rhoE 'https?://[^ ]+/debian/?' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | grep -v security | head -1 || true)
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "${mirror:-http://deb.debian.org/debian}" > /etc/apt/sources.list.d/bookworm-backports.sources
    echo "bootstrap: added bookworm-backports (/etc/apt/sources.list.d/bookworm-backports.sources)"
  fi
  echo "bootstrap: apt-get install ${missing[*]} ${missing_bpo[*]}"
  apt-get update -qq
  # policy-rc.d keeps the packaged haproxy/prometheus services from starting on the host:
  # tests start their own instances on loopback.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  if [ ${#missing[@]} -gt 0 ]; then apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; fi
  if [ ${#missing_bpo[@]} -gt 0 ]; then
    apt-get install -y -q --no-install-recommends -t bookworm-backports "${missing_bpo[@]}" >/dev/null
  fi
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

# --- Incus: the lab's platform ----------------------------------------------------------------
# Every systemd container takes inotify instances of the host's user: at the kernel's default of
# 128, a lab and a second one (the LB pair, a parallel named lab) ran out, and the new containers'
# systemd could not start. Raised to 1024 when lower (a nested or read-only /proc/sys: a warning).
inotify=$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 1024)
if [ "$inotify" -lt 1024 ]; then
  if echo 1024 > /proc/sys/fs/inotify/max_user_instances 2>/dev/null; then
    echo "bootstrap: fs.inotify.max_user_instances $inotify -> 1024 (systemd containers of the lab)"
  else
    echo "bootstrap: WARNING: fs.inotify.max_user_instances is $inotify and cannot be raised here;" \
         "more than one lab at a time may not start (sysctl -w fs.inotify.max_user_instances=1024 on the host)" >&2
  fi
fi
# No systemd on these machines: start incusd when it does not answer, then one `dir` storage
# pool `default` and the default profile's root disk (incus admin init --preseed, only when no
# pool exists yet). Then prove the platform once (scripts/platform-check.sh, stamp below): two
# throwaway containers on one bridge reach each other by name, the host reaches them.
if ! incus info >/dev/null 2>&1; then
  echo "bootstrap: starting incusd (no systemd: /usr/libexec/incus/incusd --group incus-admin)"
  mkdir -p /var/log/incus
  setsid /usr/libexec/incus/incusd --group incus-admin >>/var/log/incus/incusd.log 2>&1 < /dev/null &
  if ! incus admin waitready --timeout 60; then
    tail -20 /var/log/incus/incusd.log >&2
    echo "bootstrap: ERROR: incusd did not become ready in 60 s (log above: /var/log/incus/incusd.log)" >&2; exit 1
  fi
fi
if [ -z "$(incus storage list -f csv -c n 2>/dev/null)" ]; then
  echo "bootstrap: incus admin init --preseed (dir pool 'default', root disk in the default profile)"
  incus admin init --preseed <<'PRESEED'
storage_pools:
  - name: default
    driver: dir
profiles:
  - name: default
    devices:
      root:
        type: disk
        path: /
        pool: default
PRESEED
fi
check_stamp=/var/lib/veza-infra/platform-check.ok
check_want=$( { incus version 2>/dev/null; sha256sum "$here/scripts/platform-check.sh"; } | sha256sum | cut -c1-16)
if [ "$installed_now" = 1 ] || [ "${VEZA_PLATFORM_CHECK:-auto}" = always ] || [ "$(cat "$check_stamp" 2>/dev/null)" != "$check_want" ]; then
  bash "$here/scripts/platform-check.sh"
  mkdir -p "$(dirname "$check_stamp")"; echo "$check_want" > "$check_stamp"
fi

# --- veza.infra resolvable from the checkout ----------------------------------------------
mkdir -p "$here/.collections/ansible_collections/veza"
ln -sfn ../../.. "$here/.collections/ansible_collections/veza/infra"
echo "bootstrap: ok (venv $VENV)"
