#!/usr/bin/env bash
# Builds the one image every lab host and Molecule instance runs: Debian 12 with real systemd as
# PID 1 and everything the hosts need baked in (python3 for Ansible, haproxy, prometheus, the
# stand-in's runtime), so that no test waits on apt inside a container. No registry is reachable,
# so the image is made with debootstrap, then imported twice from the same rootfs:
#   podman: localhost/veza-lab:bookworm (Molecule's podman driver, the ansible-pull test host)
#   incus:  image alias veza-lab-bookworm in the default project (the embedded lab, docs/lab.md)
#
#   scripts/build-image.sh [all|podman|incus]   (default all)
# Reused when an image with the same recipe hash exists (podman label / incus property
# veza.recipe); a missing one is made from the other's rootfs (podman export, 15 s) rather
# than by a second debootstrap. FORCE=1 rebuilds.
set -euo pipefail
IMAGE=${VEZA_IMAGE:-localhost/veza-lab:bookworm}
INCUS_IMAGE=${VEZA_INCUS_IMAGE:-veza-lab-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
here=$(cd "$(dirname "$0")" && pwd)
recipe=$(sha256sum "$here/build-image.sh" | cut -c1-16)
want=${1:-all}
case $want in all|podman|incus) ;; *) echo "usage: $0 [all|podman|incus]" >&2; exit 2 ;; esac

podman_recipe() { podman image inspect --format '{{ index .Labels "veza.recipe" }}' "$IMAGE" 2>/dev/null || true; }
incus_recipe() {
  incus image list "$INCUS_IMAGE" --project default -f json 2>/dev/null |
    python3 -c 'import json, sys
for i in json.load(sys.stdin):
    if any(a["name"] == sys.argv[1] for a in i.get("aliases") or []):
        print(i["properties"].get("veza.recipe", ""))' "$INCUS_IMAGE" 2>/dev/null || true
}
need_podman=0; need_incus=0
if [ "$want" != incus ] && { [ "${FORCE:-0}" = 1 ] || [ "$(podman_recipe)" != "$recipe" ]; }; then need_podman=1; fi
if [ "$want" != podman ] && { [ "${FORCE:-0}" = 1 ] || [ "$(incus_recipe)" != "$recipe" ]; }; then need_incus=1; fi
if [ $need_podman = 0 ] && [ $need_incus = 0 ]; then
  echo "build-image: $([ "$want" != incus ] && echo "$IMAGE ")$([ "$want" != podman ] && echo "incus:$INCUS_IMAGE ")up to date (recipe $recipe)"
  exit 0
fi
start=$(date +%s)
work=$(mktemp -d /var/tmp/veza-image.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The image as Incus wants it: metadata.yaml (architecture, creation date, properties) + rootfs.
import_incus() {
  local t0; t0=$(date +%s)
  printf 'architecture: %s\ncreation_date: %s\nproperties:\n  description: veza.infra lab image (Debian 12, systemd)\n  os: debian\n  release: bookworm\n  veza.recipe: "%s"\n' \
    "$(uname -m)" "$(date +%s)" "$recipe" > "$work/metadata.yaml"
  tar -C "$work" -cf "$work/meta.tar" metadata.yaml
  local old
  # (no image under that alias yet on a new machine: incus fails, and pipefail must not end the script)
  old=$(incus image info "$INCUS_IMAGE" --project default 2>/dev/null | awk '/^Fingerprint:/ { print $2 }' || true)
  incus image alias delete "$INCUS_IMAGE" --project default >/dev/null 2>&1 || true
  incus image import "$work/meta.tar" "$1" --alias "$INCUS_IMAGE" --project default >/dev/null
  # The image of the previous recipe (instances made from it keep their own copy).
  if [ -n "$old" ]; then incus image delete "$old" --project default >/dev/null 2>&1 || true; fi
  echo "build-image: incus image $INCUS_IMAGE imported in $(( $(date +%s) - t0 )) s (recipe $recipe)"
}

if [ $need_podman = 0 ] && [ $need_incus = 1 ] && [ "$(podman_recipe)" = "$recipe" ]; then
  # The podman image is current (and exists: `incus` alone skips the podman check above): its
  # rootfs, not a second debootstrap. Without it, podman create would try to pull from a registry.
  cid=$(podman create "$IMAGE" /sbin/init)
  podman export "$cid" -o "$work/rootfs.tar"
  podman rm "$cid" >/dev/null
  import_incus "$work/rootfs.tar"
  exit 0
fi

# python3-apt: ansible.builtin.apt; haproxy/prometheus: the roles' install tasks find them
# installed (no-op); socat/curl/iproute2/procps: operators' tools; git: ansible-pull;
# isc-dhcp-client: the address and the <name>.lxd name on an Incus bridge (veza-dhcp.service
# below; podman configures eth0 itself).
PACKAGES=python3,python3-apt,systemd,systemd-sysv,dbus,haproxy,prometheus,socat,curl,ca-certificates,iproute2,procps,git,netbase,isc-dhcp-client
rootfs=$work/rootfs
mkdir "$rootfs"
echo "build-image: debootstrap bookworm into $rootfs (about 2 minutes)"
if ! debootstrap --variant=minbase --include="$PACKAGES" bookworm "$rootfs" "$MIRROR" >/var/tmp/veza-debootstrap.log 2>&1; then
  tail -20 /var/tmp/veza-debootstrap.log; echo "build-image: debootstrap failed (log: /var/tmp/veza-debootstrap.log)" >&2; exit 1
fi
rm -f /var/tmp/veza-debootstrap.log
# Packaged services stay off until a role enables them: a backend host must not run haproxy.
chroot "$rootfs" systemctl disable haproxy.service prometheus.service >/dev/null 2>&1 || true
# Units that make no sense in a container and would show up as failed.
for u in systemd-remount-fs.service getty@tty1.service console-getty.service \
         systemd-modules-load.service sys-kernel-config.mount sys-kernel-debug.mount; do
  chroot "$rootfs" systemctl mask "$u" >/dev/null 2>&1 || true
done
# DHCP on eth0 under Incus (LXC) only: the bridge's dnsmasq learns the instance's name from the
# request (dhclient sends the hostname) and answers <name>.lxd; dhclient-script writes
# resolv.conf (nameserver = the bridge, search lxd). Forking: boot waits for the lease.
cat > "$rootfs/etc/systemd/system/veza-dhcp.service" <<'UNIT'
[Unit]
Description=DHCP on eth0 (Incus bridge: address, resolv.conf and the .lxd name)
ConditionVirtualization=lxc
DefaultDependencies=no
After=systemd-sysctl.service
Before=network.target network-online.target
Wants=network.target

[Service]
Type=forking
PIDFile=/run/dhclient.eth0.pid
ExecStart=/sbin/dhclient -4 -pf /run/dhclient.eth0.pid -lf /var/lib/dhcp/dhclient.eth0.leases eth0

[Install]
WantedBy=multi-user.target network-online.target
UNIT
chroot "$rootfs" systemctl enable veza-dhcp.service >/dev/null 2>&1
: > "$rootfs/etc/resolv.conf"
# debootstrap copies the build host's name: without the file, systemd keeps the name the
# container manager gives (Incus: the instance name; podman mounts its own /etc/hostname).
rm -f "$rootfs/etc/hostname"
printf 'deb %s bookworm main\n' "$MIRROR" > "$rootfs/etc/apt/sources.list"
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
: > "$rootfs/etc/machine-id"
tar -C "$rootfs" -cf "$work/rootfs.tar" .
rm -rf "$rootfs"
if [ $need_podman = 1 ]; then
  podman import --quiet \
    --change 'CMD ["/sbin/init"]' --change 'ENV container=podman' \
    --change 'STOPSIGNAL SIGRTMIN+3' \
    --change "LABEL veza.recipe=$recipe" "$work/rootfs.tar" "$IMAGE" >/dev/null
  echo "build-image: $IMAGE built (recipe $recipe)"
fi
if [ $need_incus = 1 ]; then import_incus "$work/rootfs.tar"; fi
echo "build-image: done in $(( $(date +%s) - start )) s"
