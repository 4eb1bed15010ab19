#!/usr/bin/env bash
# Builds the one image every lab host and Molecule instance runs: Debian 12 with real systemd as
# PID 1 and everything the hosts need baked in (python3 for Ansible, haproxy, prometheus, the
# stand-in's runtime), so that no test waits on apt inside a container. No registry is reachable,
# so the image is made with debootstrap and `podman import`.
#
# Reused when an image with the same recipe hash exists (label veza.recipe); FORCE=1 rebuilds.
set -euo pipefail
IMAGE=${VEZA_IMAGE:-localhost/veza-lab:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
here=$(cd "$(dirname "$0")" && pwd)
recipe=$(sha256sum "$here/build-image.sh" | cut -c1-16)

if [ "${FORCE:-0}" != 1 ] && [ "$(podman image inspect --format '{{ index .Labels "veza.recipe" }}' "$IMAGE" 2>/dev/null)" = "$recipe" ]; then
  echo "build-image: $IMAGE is up to date (recipe $recipe)"
  exit 0
fi

# python3-apt: ansible.builtin.apt; haproxy/prometheus: the roles' install tasks find them
# installed (no-op); socat/curl/iproute2/procps: operators' tools; git: ansible-pull.
PACKAGES=python3,python3-apt,systemd,systemd-sysv,dbus,haproxy,prometheus,socat,curl,ca-certificates,iproute2,procps,git,netbase
rootfs=$(mktemp -d /var/tmp/veza-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "build-image: debootstrap bookworm into $rootfs (about 2 minutes)"
start=$(date +%s)
if ! debootstrap --variant=minbase --include="$PACKAGES" bookworm "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1; then
  tail -20 "$rootfs.log"; echo "build-image: debootstrap failed (log: $rootfs.log)" >&2; exit 1
fi
rm -f "$rootfs.log"
# Packaged services stay off until a role enables them: a backend host must not run haproxy.
chroot "$rootfs" systemctl disable haproxy.service prometheus.service >/dev/null 2>&1 || true
# Units that make no sense in a container and would show up as failed.
for u in systemd-remount-fs.service getty@tty1.service console-getty.service \
         systemd-modules-load.service sys-kernel-config.mount sys-kernel-debug.mount; do
  chroot "$rootfs" systemctl mask "$u" >/dev/null 2>&1 || true
done
printf 'deb %s bookworm main\n' "$MIRROR" > "$rootfs/etc/apt/sources.list"
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
: > "$rootfs/etc/machine-id"
tar -C "$rootfs" -c . | podman import \
  --change 'CMD ["/sbin/init"]' --change 'ENV container=podman' \
  --change 'STOPSIGNAL SIGRTMIN+3' \
  --change "LABEL veza.recipe=$recipe" - "$IMAGE" >/dev/null
echo "build-image: $IMAGE built in $(( $(date +%s) - start )) s (recipe $recipe)"
