#!/usr/bin/env bash
# Proves that this machine can run the embedded lab (docs/lab.md): Incus answers, two throwaway
# containers on one Incus bridge get an address, reach each other by name (<name>.lxd, the
# bridge's dnsmasq), and the host reaches them. Run by scripts/bootstrap.sh after it installed
# something (and once per Incus version); fails naming what is missing and the package to install.
# The containers are busybox (busybox-static), not the lab image: the check needs no debootstrap
# and takes a few seconds. Bridge subnet: VEZA_CHECK_SUBNET (10.214.250.1/24). Everything it creates is deleted, also when it fails.
set -euo pipefail
NET=vezachk0
A=veza-check-a
B=veza-check-b
ALIAS=veza-platform-check
work=$(mktemp -d /var/tmp/veza-platform-check.XXXXXX)

fail() { printf 'platform-check: ERROR: %s\n' "$*" >&2; exit 1; }
cleanup() {
  incus delete --force "$A" "$B" >/dev/null 2>&1 || true
  incus image delete "$ALIAS" >/dev/null 2>&1 || true
  incus network delete "$NET" >/dev/null 2>&1 || true
  rm -rf "$work"
}
[ "${VEZA_CHECK_KEEP:-0}" = 1 ] || trap cleanup EXIT
t0=$(date +%s.%N)

# --- what must be installed -----------------------------------------------------------------
command -v incus >/dev/null || fail "no incus client: apt-get install -t bookworm-backports incus-client incus-base"
[ -x /usr/libexec/incus/incusd ] || fail "no incusd: apt-get install -t bookworm-backports incus-base"
incus info >/dev/null 2>&1 || fail "incusd does not answer (start it: /usr/libexec/incus/incusd --group incus-admin &; log /var/log/incus/incusd.log)"
command -v dnsmasq >/dev/null || fail "no dnsmasq: Incus bridges get DHCP and the .lxd names from it: apt-get install dnsmasq-base"
{ [ -x /bin/busybox ] && /bin/busybox --list | grep -qx udhcpc; } ||
  fail "no static busybox for the check's containers: apt-get install busybox-static"
[ -n "$(incus storage list -f csv -c n)" ] || fail "no Incus storage pool: incus admin init --preseed (scripts/bootstrap.sh does it)"
incus profile device get default root pool >/dev/null 2>&1 || fail "the default Incus profile has no root disk: incus profile device add default root disk path=/ pool=default"

# --- a busybox image: DHCP (udhcpc, sends its hostname) and an httpd that answers its name ---
cleanup
mkdir -p "$work/rootfs"/{bin,sbin,etc,proc,sys,dev,tmp,www,run}
cp /bin/busybox "$work/rootfs/bin/busybox"
for t in sh ip ifconfig route udhcpc httpd wget nslookup cat sleep mount hostname; do ln -s busybox "$work/rootfs/bin/$t"; done
cat > "$work/rootfs/sbin/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc 2>/dev/null
hostname > /www/index.html
ip link set lo up
udhcpc -i eth0 -t 20 -T 1 -A 1 -q -x "hostname:$(hostname)" -s /bin/dhcp-event >/tmp/udhcpc.log 2>&1
httpd -p 80 -h /www
exec sleep 2147483647
INIT
cat > "$work/rootfs/bin/dhcp-event" <<'EVENT'
#!/bin/sh
case "$1" in
  bound|renew)
    ifconfig "$interface" "$ip" netmask "$subnet" up
    for r in $router; do route add default gw "$r" dev "$interface"; break; done
    : > /etc/resolv.conf
    [ -n "$domain" ] && echo "search $domain" >> /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done ;;
esac
EVENT
chmod 755 "$work/rootfs/sbin/init" "$work/rootfs/bin/dhcp-event"
printf 'architecture: %s\ncreation_date: %s\nproperties:\n  description: veza.infra platform check (busybox)\n' \
  "$(uname -m)" "$(date +%s)" > "$work/metadata.yaml"
tar -C "$work" -cf "$work/meta.tar" metadata.yaml
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
incus image import "$work/meta.tar" "$work/rootfs.tar" --alias "$ALIAS" >/dev/null ||
  fail "incus image import failed (storage pool: incus storage list)"

# --- one bridge, two containers ---------------------------------------------------------------
out=$(incus network create "$NET" ipv4.address="${VEZA_CHECK_SUBNET:-10.214.250.1/24}" ipv4.nat=false ipv6.address=none dns.domain=lxd 2>&1) ||
  fail "incus network create $NET: $out (bridge networks need iproute2, nftables or iptables, dnsmasq-base)"
for c in "$A" "$B"; do
  out=$(incus launch "$ALIAS" "$c" --network "$NET" 2>&1) || fail "incus launch $c: $out"
done
ip_of() { incus list "$1" -f csv -c 4 | awk '{ print $1; exit }'; }
deadline=$(( $(date +%s) + 30 ))
for c in "$A" "$B"; do
  until [ -n "$(ip_of "$c")" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "$c got no DHCP lease on $NET in 30 s (dnsmasq of the bridge: apt-get install dnsmasq-base; $(incus exec "$c" -- cat /tmp/udhcpc.log 2>/dev/null | tail -2 | tr '\n' ' '))"
    sleep 0.3
  done
done

# --- by name, both ways; then from the host by address ---------------------------------------------
for pair in "$A $B" "$B $A"; do
  read -r from to <<<"$pair"
  got=""
  for _ in $(seq 1 20); do
    # (busybox-static's wget cannot resolve names itself: glibc NSS in a static binary; its
    # nslookup asks the container's nameserver, the bridge's dnsmasq, directly)
    addr=$(incus exec "$from" -- nslookup "$to.lxd" 2>/dev/null | awk '/^Name:/ { n = 1 } n && /^Address:/ { print $2; exit }' || true)
    got=""
    if [ -n "$addr" ]; then got=$(timeout 5 incus exec "$from" -- wget -q -O - "http://$addr/" 2>/dev/null || true); fi
    [ "$got" = "$to" ] && break
    sleep 0.5
  done
  [ "$got" = "$to" ] || fail "$from cannot reach $to.lxd by name (resolv.conf: $(incus exec "$from" -- cat /etc/resolv.conf | tr '\n' ' '); the bridge's DNS is dnsmasq: apt-get install dnsmasq-base; check that nothing else holds port 53 on the bridge address)"
done
for c in "$A" "$B"; do
  ip=$(ip_of "$c")
  got=$(curl -s --max-time 3 "http://$ip/" || true)
  [ "$got" = "$c" ] || fail "the host cannot reach $c at $ip (route to the bridge $NET, firewall: iptables/nftables forwarding)"
done
echo "platform-check: ok in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s: $A and $B on bridge $NET reach each other as <name>.lxd, the host reaches both"
