#!/usr/bin/env bash
# make fresh-check: the README's set-up and `make demo` from a copy of this working tree, inside
# a brand-new Debian 12 system (docs/fresh-check.md).
#
# The system is a nested, privileged Incus system container from a bare
# `debootstrap --variant=minbase bookworm` rootfs plus git and make, nothing else. Like the
# machines this project runs on, its PID 1 is not systemd. It gets what every such machine is
# given (CA certificates, pip settings, PIP_* variables, the local wheel directory, DNS and the
# Debian mirror) and nothing the project installs. The rootfs is cached as an Incus image keyed by
# the hash of its recipe; the container is new on every run and always deleted, on failure and
# on Ctrl-C too.
#
# Stages, each timed: host, rootfs, launch, copy, bootstrap (`make bootstrap`), demo
# (`make demo`), test (`make test`, only with FRESH_CHECK_TEST=1), cleanup. A failing stage ends
# the run; its last lines are printed again and the run exits non-zero.
#
# Knobs (environment):
#   FRESH_CHECK_SOURCE=<dir>   tree to copy (default: this checkout). A git work tree gives its
#                              tracked + untracked-not-ignored files, any other dir all its files
#   FRESH_CHECK_REF=<git ref>  copy that commit of FRESH_CHECK_SOURCE instead (git archive), e.g. incus
#   FRESH_CHECK_TEST=1         also run `make test` after the demo
#   FRESH_CHECK_TIMEOUT=<s>    limit per stage inside the system (default 1500; make test 3600)
#   FRESH_CHECK_SUBNET=<cidr>  the check's own bridge (default 10.213.47.1/24)
#   FRESH_CHECK_APT_SOURCES=debian|host   debian (default): the sources of a Debian 12 install
#                              (bookworm, -updates, -security); host: this host's enabled sources
#   FRESH_CHECK_LOG_DIR=<dir>  where stage logs go (default: a new /var/tmp/veza-fresh-check.*)
#   FRESH_CHECK_ENV="K=V ..."  extra environment for the stages inside (e.g. SLI_WINDOW=30)
#   FRESH_CHECK_ON_FAIL=<cmd>  shell command run inside the system (in the checkout) after a
#                              stage failed, before the system goes: to look at the failure, e.g.
#                              FRESH_CHECK_ENV=VEZA_KEEP_LAB=1 FRESH_CHECK_ON_FAIL='podman ps -a'
#   FRESH_CHECK_UNTIL=<stage>  stop after that stage (rootfs, launch, copy, bootstrap): to debug
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
SOURCE=${FRESH_CHECK_SOURCE:-$here}
REF=${FRESH_CHECK_REF:-}
RUN_TEST=${FRESH_CHECK_TEST:-0}
STAGE_TIMEOUT=${FRESH_CHECK_TIMEOUT:-1500}
SUBNET=${FRESH_CHECK_SUBNET:-10.213.47.1/24}
APT_SOURCES=${FRESH_CHECK_APT_SOURCES:-debian}
PROJECT=veza-fresh        # Incus project: the check's images and instances, apart from veza-lab
POOL=veza-fresh           # dir storage pool (kept between runs: it holds the image cache)
NETWORK=veza-fresh        # bridge with NAT (kept between runs)
SUITE=bookworm
MIRROR=$(sed -n 's/^URIs: *\(http[^ ]*debian\)\/*$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CHECKOUT=/root/veza.infra # where the copy lands inside the system
INSTANCE=veza-fresh-$(date -u +%H%M%S)-$$

logdir=${FRESH_CHECK_LOG_DIR:-$(mktemp -d /var/tmp/veza-fresh-check.XXXXXX)}
mkdir -p "$logdir"
work=$(mktemp -d /var/tmp/veza-fresh-work.XXXXXX)
inc() { incus --project "$PROJECT" "$@"; }
say() { echo "fresh-check: $*"; }

# --- stage bookkeeping ---------------------------------------------------------------------
names=() secs=() notes=()
t_start=$EPOCHREALTIME
failed=''
stopped=''
current='' current_t0=''
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# run_stage NAME NOTE CMD...: runs CMD with its output streamed (indented) and kept in
# $logdir/NAME.log; records the wall time; on failure prints the log's last lines and sets $failed.
run_stage() {
  local name=$1 note=$2 t0 rc s
  shift 2
  [ -n "$failed" ] && return 1
  if [ -n "$stopped" ]; then return 1; fi
  say "== $name${note:+ ($note)}"
  t0=$EPOCHREALTIME
  current=$name current_t0=$t0
  "$@" 2>&1 | tee "$logdir/$name.log" | sed -u 's/^/    /'
  rc=${PIPESTATUS[0]}
  current=''
  s=$(elapsed "$t0")
  names+=("$name") secs+=("$s")
  if [ "$rc" -eq 0 ]; then
    notes+=("ok${note:+, $note}")
    say "   $name ok in ${s} s"
    if [ "${FRESH_CHECK_UNTIL:-}" = "$name" ]; then stopped=$name; fi
    return 0
  fi
  [ "$rc" -eq 124 ] && note="timed out (FRESH_CHECK_TIMEOUT)" || note="rc $rc"
  notes+=("FAILED ($note)")
  failed=$name
  say "   $name FAILED ($note) after ${s} s; its last lines:"
  grep -v '^[[:space:]]*$' "$logdir/$name.log" | tail -n 40 | sed 's/^/  > /'
  if [ -n "${FRESH_CHECK_ON_FAIL:-}" ] && [ "$instance_created" = 1 ]; then
    say "   FRESH_CHECK_ON_FAIL in the system: $FRESH_CHECK_ON_FAIL"
    in_system 300 bash -c "$FRESH_CHECK_ON_FAIL" 2>&1 | tee "$logdir/on-fail.log" | sed 's/^/  ? /'
  fi
  return 1
}

summary() {
  local i total
  total=$(elapsed "$t_start")
  say "summary (source: $source_desc; logs: $logdir)"
  for i in "${!names[@]}"; do
    printf '  %-10s %8s s  %s\n' "${names[$i]}" "${secs[$i]}" "${notes[$i]}"
  done
  printf '  %-10s %8s s\n' total "$total"
}

# --- cleanup: the instance always goes, whatever happened -------------------------------------
instance_created=0
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$? t0
  trap - EXIT INT TERM
  if [ -n "$current" ]; then  # interrupted in the middle of a stage
    names+=("$current") secs+=("$(elapsed "$current_t0")") notes+=("INTERRUPTED (rc $rc)")
  fi
  if [ "$instance_created" = 1 ]; then
    t0=$EPOCHREALTIME
    if [ -n "$failed" ] || [ "$rc" -ne 0 ]; then
      # the system's own logs (the demo's canary.log and load.txt, pip's log, incusd's): keep them
      inc exec "$INSTANCE" -- sh -c "tar -czf - \$(ls -d /var/tmp/veza-* /opt/veza-infra/*.log /var/log/incusd.log 2>/dev/null)" \
        >"$logdir/system-logs.tar.gz" 2>/dev/null ||
        rm -f "$logdir/system-logs.tar.gz"
      [ -s "$logdir/system-logs.tar.gz" ] && say "the system's logs: $logdir/system-logs.tar.gz"
    fi
    local t_stop=''
    if ! inc info "$INSTANCE" >/dev/null 2>&1; then
      names+=(cleanup) secs+=("$(elapsed "$t0")") notes+=("ok, nothing to delete")
    elif inc stop --force "$INSTANCE" >"$logdir/cleanup.log" 2>&1 && t_stop=$(elapsed "$t0") &&
        inc delete --force "$INSTANCE" >>"$logdir/cleanup.log" 2>&1; then
      names+=(cleanup) secs+=("$(elapsed "$t0")") notes+=("ok, $INSTANCE stopped in $t_stop s, deleted")
    elif inc delete --force "$INSTANCE" >>"$logdir/cleanup.log" 2>&1; then
      names+=(cleanup) secs+=("$(elapsed "$t0")") notes+=("ok, $INSTANCE deleted")
    else
      names+=(cleanup) secs+=("$(elapsed "$t0")") notes+=("FAILED: $(tail -1 "$logdir/cleanup.log")")
      rc=1
    fi
  fi
  rm -rf "$work"
  [ ${#names[@]} -gt 0 ] && summary
  if [ -n "$failed" ]; then
    say "FAIL at stage $failed"
    [ "$rc" -eq 0 ] && rc=1
  elif [ "$rc" -ne 0 ]; then
    say "FAIL (interrupted or error, rc $rc)"
  elif [ -n "$stopped" ]; then
    say "stopped after stage $stopped (FRESH_CHECK_UNTIL): no verdict"
  else
    say "PASS"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

# --- stage host: what this machine needs for the check itself --------------------------------
host_ready() {
  local missing=() p
  [ "$(id -u)" = 0 ] || { echo "run as root (Incus and debootstrap need it)"; return 1; }
  for p in incus:incus-client debootstrap:debootstrap git:git gzip:gzip flock:util-linux; do
    command -v "${p%%:*}" >/dev/null || missing+=("${p#*:}")
  done
  [ -x /usr/libexec/incus/incusd ] || missing+=(incus-base)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "missing on this host: apt-get install ${missing[*]} (incus from bookworm-backports)"
    return 1
  fi
  if ! incus info >/dev/null 2>&1; then
    # no systemd here: start incusd the way the lab does when it is not running
    echo "incusd is not running: starting it"
    setsid /usr/libexec/incus/incusd --group incus-admin >>/var/log/incusd.log 2>&1 < /dev/null &
    incus admin waitready --timeout 60 || { echo "incusd did not start (see /var/log/incusd.log)"; return 1; }
  fi
  incus storage show "$POOL" >/dev/null 2>&1 || incus storage create "$POOL" dir || return 1
  incus network show "$NETWORK" >/dev/null 2>&1 ||
    incus network create "$NETWORK" ipv4.address="$SUBNET" ipv4.nat=true ipv6.address=none || return 1
  incus project show "$PROJECT" >/dev/null 2>&1 ||
    incus project create "$PROJECT" -c features.images=true -c features.profiles=true || return 1
  incus network get "$NETWORK" ipv4.address
}

# --- stage rootfs: debootstrap minbase + git + make, cached as an image by recipe hash ---------
# Everything that shapes the image is in this function or its arguments: its text is hashed.
build_rootfs() {
  local dir=$1
  debootstrap --variant=minbase --include=git,make "$SUITE" "$dir/rootfs" "$MIRROR" || return 1
  # debootstrap copies the build host's identity and leaves its download cache: drop them
  rm -f "$dir/rootfs/etc/hostname" "$dir/rootfs/etc/resolv.conf" "$dir/rootfs/etc/apt/sources.list"
  rm -rf "$dir/rootfs/var/cache/apt/archives/"*.deb "$dir/rootfs/var/lib/apt/lists/"*
  # the sources of a Debian 12 install
  cat > "$dir/rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat > "$dir/metadata.yaml" <<EOF
architecture: x86_64
creation_date: $(date +%s)
properties:
  description: Debian 12 ($SUITE) debootstrap minbase + git + make, veza.infra fresh-check
  os: debian
  release: $SUITE
EOF
  tar -C "$dir" -cf "$dir/metadata.tar" metadata.yaml
  tar -C "$dir/rootfs" -cf - . | gzip -1 > "$dir/rootfs.tar.gz"
}
recipe_hash=$({ declare -f build_rootfs; echo "$SUITE $MIRROR"; } | sha256sum | cut -c1-12)
IMAGE=rootfs-$recipe_hash

rootfs_image() {
  local old
  if inc image show "$IMAGE" >/dev/null 2>&1; then
    echo "cached image $IMAGE (recipe $recipe_hash)"
    return 0
  fi
  echo "building $IMAGE: debootstrap --variant=minbase --include=git,make $SUITE ($MIRROR)"
  build_rootfs "$work/image" > "$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; return 1; }
  tail -1 "$work/debootstrap.log"
  inc image import "$work/image/metadata.tar" "$work/image/rootfs.tar.gz" --alias "$IMAGE" || return 1
  rm -rf "$work/image"
  # one image in the cache: the current recipe's
  for old in $(inc image list -f csv -c l | grep '^rootfs-' | grep -vx "$IMAGE"); do
    echo "dropping the stale image $old"; inc image delete "$old"
  done
}

# --- stage launch: the container, given what every machine here is given ----------------------
# PID 1 is a shell loop (these machines have no systemd as PID 1). It mounts what systemd would
# (/dev/shm, /run, the cgroup hierarchies of this host: LXC mounts none of them here).
write_init() {
  local target opts
  cat <<'EOF'
#!/bin/sh
# PID 1 of the fresh-check system (scripts/fresh-check.sh): no systemd, like the host.
mountpoint -q /dev/shm || { mkdir -p /dev/shm; mount -t tmpfs -o nosuid,nodev,mode=1777 shm /dev/shm; }
mountpoint -q /run || mount -t tmpfs -o nosuid,nodev,mode=755 run /run
mkdir -p /run/lock
if ! mountpoint -q /sys/fs/cgroup; then
  mount -t tmpfs -o nosuid,nodev,noexec,mode=755 cgroup /sys/fs/cgroup
EOF
  # the host's own cgroup layout (v1 controllers, name=systemd, cgroup2), mounted the same way
  while read -r target opts; do
    case $target in /sys/fs/cgroup/*) ;; *) continue ;; esac
    opts=$(echo "$opts" | tr , '\n' | grep -vE '^(rw|ro|relatime|nosuid|nodev|noexec)$' | paste -sd,)
    case $opts in name=*) opts=none,$opts ;; esac   # a named hierarchy without controllers
    printf '  mkdir -p %s; mount -t cgroup -o %s cgroup %s\n' "$target" "$opts" "$target"
  done < <(findmnt -rn -t cgroup -o TARGET,OPTIONS)
  while read -r target; do
    case $target in /sys/fs/cgroup/*) printf '  mkdir -p %s; mount -t cgroup2 cgroup2 %s\n' "$target" "$target" ;; esac
  done < <(findmnt -rn -t cgroup2 -o TARGET)
  cat <<'EOF'
fi
trap 'exit 0' TERM INT PWR
while :; do sleep 3600 & wait $!; done
EOF
}

launch() {
  local gw prefix ip p i=0 f raw
  gw=${bridge_cidr%/*} prefix=${bridge_cidr#*/}
  ip=${gw%.*}.$(( 100 + $$ % 100 ))
  raw="lxc.init.cmd = /usr/local/sbin/fresh-init
lxc.net.0.ipv4.address = $ip/$prefix
lxc.net.0.ipv4.gateway = $gw"
  local cfg=(-c security.privileged=true -c security.nesting=true -c raw.lxc="$raw")
  # the PIP_* environment and any proxy of this host
  while IFS='=' read -r p _; do
    cfg+=(-c "environment.$p=${!p}")
  done < <(env | grep -E '^(PIP_[A-Z_]+|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY)=' | sort)
  inc init -q "$IMAGE" "$INSTANCE" -s "$POOL" -n "$NETWORK" "${cfg[@]}" || return 1
  # local wheel directories named by PIP_FIND_LINKS: the same paths, read-only
  for f in ${PIP_FIND_LINKS:-}; do
    f=${f#file://}
    [ -d "$f" ] || continue
    inc config device add "$INSTANCE" "wheels$i" disk source="$f" path="$f" readonly=true >/dev/null || return 1
    echo "device wheels$i: $f (read-only)"; i=$((i + 1))
  done

  # the files every machine here is given, staged as one tree
  local g=$work/given
  mkdir -p "$g/usr/local/sbin" "$g/etc/apt/apt.conf.d" "$g/etc/apt/sources.list.d"
  write_init > "$g/usr/local/sbin/fresh-init"; chmod 755 "$g/usr/local/sbin/fresh-init"
  echo "nameserver $gw" > "$g/etc/resolv.conf"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$INSTANCE" > "$g/etc/hosts"
  echo "$INSTANCE" > "$g/etc/hostname"
  for f in /usr/local/share/ca-certificates /etc/pip.conf /etc/xdg/pip; do
    [ -e "$f" ] && tar -C / -cf - "${f#/}" | tar -C "$g" -xf - && echo "given: $f"
  done
  # apt settings of this host that no package owns and that shape downloads (Acquire::...)
  for f in /etc/apt/apt.conf.d/*; do
    [ -f "$f" ] && ! dpkg -S "$f" >/dev/null 2>&1 && grep -q 'Acquire::' "$f" &&
      cp -a "$f" "$g/etc/apt/apt.conf.d/" && echo "given: $f"
  done
  if [ "$APT_SOURCES" = host ]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] && tar -C / -cf - "${f#/}" | tar -C "$g" -xf - && echo "given: $f"
    done
  fi
  inc file push -q "$g/usr/local/sbin/fresh-init" "$INSTANCE/usr/local/sbin/fresh-init" -p --mode 0755 || return 1
  inc start "$INSTANCE" || return 1
  tar -C "$g" -cf - . | inc exec "$INSTANCE" -- tar -x --no-same-owner -C / || return 1
  # ca-certificates is not in minbase: its postinst (run when bootstrap installs it) builds the
  # bundle from /usr/local/share/ca-certificates; run update-ca-certificates now if it is there
  inc exec "$INSTANCE" --env ADDR="$ip/$prefix via $gw" -- sh -s <<'EOF'
if command -v update-ca-certificates >/dev/null; then
  update-ca-certificates >/dev/null && echo "update-ca-certificates: done"
else
  echo "update-ca-certificates: not in minbase (ca-certificates installs it; its postinst adds /usr/local/share/ca-certificates)"
fi
echo "PID 1: $(tr '\0' ' ' </proc/1/cmdline)"
echo "eth0: $ADDR"
echo "packages: $(dpkg-query -W -f '${Package}\n' | wc -l) installed"
printf 'absent: '; for c in ps ip curl python3 systemctl podman incus; do command -v $c >/dev/null || printf '%s ' "$c"; done; echo
echo "cgroup mounts: $(grep -cE ' (cgroup|cgroup2) ' /proc/mounts)"
getent hosts deb.debian.org >/dev/null && echo "dns: deb.debian.org resolves"
EOF
}

# --- stage copy: the working tree, as a fresh clone would have it -------------------------------
tree_tar() {
  if [ -n "$REF" ]; then
    git -C "$SOURCE" archive --format=tar "$REF"
  elif git -C "$SOURCE" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$SOURCE" ls-files -co --exclude-standard -z |
      while IFS= read -r -d '' f; do
        if [ -e "$SOURCE/$f" ] || [ -L "$SOURCE/$f" ]; then printf '%s\0' "$f"; fi
      done | tar -C "$SOURCE" --null -T - -cf -
  else
    tar -C "$SOURCE" -cf - .
  fi
}

copy_tree() {
  tree_tar > "$work/tree.tar" || return 1
  echo "sending $(tar -tf "$work/tree.tar" | wc -l) entries, $(du -h "$work/tree.tar" | cut -f1)"
  inc exec "$INSTANCE" -- sh -c "mkdir -p $CHECKOUT && tar -x -C $CHECKOUT" < "$work/tree.tar" || return 1
  # the scripts list files with git (lab.sh, run-tests.sh) and diff migrations against
  # origin/main: make the copy a one-commit clone of itself
  inc exec "$INSTANCE" --cwd "$CHECKOUT" -- sh -s <<'EOF'
set -e
git init -q -b main
git add -A
git -c user.name=fresh-check -c user.email=fresh-check@localhost commit -q -m "fresh-check copy"
git update-ref refs/remotes/origin/main HEAD
echo "copy: $(git ls-files | wc -l) files, $(du -sh . | cut -f1) in $(pwd), one commit on main = origin/main"
EOF
}

# --- stages inside the system -------------------------------------------------------------------
in_system() { # TIMEOUT CMD...: runs CMD as root in the checkout, like a user at a root shell
  local t=$1 kv envs=()
  shift
  for kv in ${FRESH_CHECK_ENV:-}; do envs+=(--env "$kv"); done
  inc exec "$INSTANCE" --cwd "$CHECKOUT" "${envs[@]}" -- timeout -k 15 "$t" "$@"
}

# --- the run --------------------------------------------------------------------------------------
exec 9>/var/lock/veza-fresh-check.lock
flock -n 9 || { echo "fresh-check: another fresh-check is running (/var/lock/veza-fresh-check.lock)" >&2; failed=lock; exit 1; }
if [ -n "$REF" ]; then
  source_desc="$SOURCE @ $REF ($(git -C "$SOURCE" rev-parse --short "$REF" 2>/dev/null || echo '?'))"
elif git -C "$SOURCE" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  source_desc="$SOURCE ($(git -C "$SOURCE" rev-parse --abbrev-ref HEAD) $(git -C "$SOURCE" rev-parse --short HEAD)$(git -C "$SOURCE" status --porcelain | grep -q . && echo ', with uncommitted changes'))"
else
  source_desc=$SOURCE
fi
say "source: $source_desc"
say "system: $INSTANCE (project $PROJECT, image $IMAGE); logs in $logdir"

bridge_cidr=
run_stage host "pool/network/project $POOL" host_ready &&
  bridge_cidr=$(tail -1 "$logdir/host.log")
run_stage rootfs "" rootfs_image
instance_created=1  # from here on, cleanup deletes $INSTANCE if it exists
run_stage launch "" launch
run_stage copy "" copy_tree
run_stage bootstrap "make bootstrap" in_system "$STAGE_TIMEOUT" make bootstrap
run_stage demo "make demo" in_system "$STAGE_TIMEOUT" make demo
if [ "$RUN_TEST" = 1 ]; then
  run_stage test "make test" in_system "${FRESH_CHECK_TIMEOUT:-3600}" make test
fi
[ -z "$failed" ]
