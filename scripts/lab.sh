#!/usr/bin/env bash
# The embedded lab: podman containers running real systemd on network `veza-lab`, provisioned
# by this collection's own playbooks through containers.podman.podman from inventory/lab.yml.
#
#   scripts/lab.sh up      build/reuse the image, create/start containers, converge, install the
#                          initial good build (veza-api v1.0.9, also as veza-api.previous), wait
#                          until HAProxy has both backends UP and Prometheus has scraped them
#   scripts/lab.sh down    remove the containers and the network (nothing left behind)
#   scripts/lab.sh status  containers, HAProxy api_pool states, Prometheus `up` per backend
#
# Host ports (127.0.0.1 only; override with the environment):
#   VEZA_LAB_HTTP_PORT  (18080) -> haproxy:80     HTTP frontend
#   VEZA_LAB_ADMIN_PORT (19100) -> haproxy:9100   HAProxy runtime API (TCP, level admin)
#   VEZA_LAB_PROM_PORT  (19090) -> prometheus:9090
# VEZA_LAB_BUILD (v1.0.9): build of the stand-in (tests/fixtures/veza_api/make_builds.py)
# installed by `up`; VEZA_LAB_BUILD_FILE=/path/to/veza-api installs that file instead.
# VEZA_LAB_CONVERGE=always: converge and reset the baseline even when a warm `up` finds nothing
# changed (default auto: skip what is already in place).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export PATH="${VEZA_VENV:-/opt/veza-infra/venv}/bin:$PATH"
export ANSIBLE_CONFIG="$here/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$here/.collections"
export ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1

IMAGE=${VEZA_IMAGE:-localhost/veza-lab:bookworm}
NETWORK=veza-lab
HTTP_PORT=${VEZA_LAB_HTTP_PORT:-18080}
ADMIN_PORT=${VEZA_LAB_ADMIN_PORT:-19100}
PROM_PORT=${VEZA_LAB_PROM_PORT:-19090}
BUILD=${VEZA_LAB_BUILD:-v1.0.9}
WAIT_S=${VEZA_LAB_WAIT_S:-120}
CONTAINERS=(haproxy backend-api-1 backend-api-2 stream-server-1 stream-server-2 prometheus)
LABEL=veza.lab=1

log() { printf 'lab: %s\n' "$*"; }
die() { printf 'lab: ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

ports_of() {
  case $1 in
    haproxy) echo "-p 127.0.0.1:$HTTP_PORT:80 -p 127.0.0.1:$ADMIN_PORT:9100" ;;
    prometheus) echo "-p 127.0.0.1:$PROM_PORT:9090" ;;
    *) echo "" ;;
  esac
}

container_state() { podman container inspect --format '{{.State.Status}}' "$1" 2>/dev/null || echo absent; }

ensure_containers() {
  podman network exists "$NETWORK" || { podman network create --label "$LABEL" "$NETWORK" >/dev/null; log "network $NETWORK created"; }
  local c st
  for c in "${CONTAINERS[@]}"; do
    st=$(container_state "$c")
    case $st in
      running) ;;
      absent)
        # SYS_ADMIN: units with mount namespacing (haproxy's Debian unit, hardened units).
        # shellcheck disable=SC2046
        podman run -d --name "$c" --hostname "$c" --network "$NETWORK" --label "$LABEL" \
          --cap-add SYS_ADMIN $(ports_of "$c") "$IMAGE" /sbin/init >/dev/null
        log "container $c created" ;;
      *)
        podman start "$c" >/dev/null; log "container $c started (was $st)" ;;
    esac
  done
  # systemd as PID 1 is ready when is-system-running answers running (or degraded).
  local deadline=$(( $(date +%s) + 60 )) pending
  while :; do
    pending=()
    for c in "${CONTAINERS[@]}"; do
      case $(podman exec "$c" systemctl is-system-running 2>/dev/null || true) in
        running|degraded) ;;
        *) pending+=("$c") ;;
      esac
    done
    [ ${#pending[@]} -eq 0 ] && break
    [ "$(date +%s)" -lt "$deadline" ] || die "systemd not up after 60 s in: ${pending[*]}"
    sleep 0.3
  done
}

haproxy_stat() {
  # api_pool rows of `show stat` as "server status" lines, read inside the haproxy container.
  podman exec haproxy sh -c 'echo "show stat" | socat -t 2 stdio tcp4:127.0.0.1:9100' 2>/dev/null |
    awk -F, '$1 == "api_pool" && $2 != "BACKEND" && $2 != "FRONTEND" { print $2, $18 }'
}

prom_up() {
  # "instance value" for up{job="backend-api"} from the published Prometheus port.
  curl -fsS --max-time 3 "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode 'query=up{job="backend-api"}' 2>/dev/null |
    python3 -c 'import json,sys; [print(r["metric"].get("instance"), r["value"][1]) for r in json.load(sys.stdin)["data"]["result"]]' 2>/dev/null || true
}

wait_ready() {
  local deadline=$(( $(date +%s) + WAIT_S )) t0 st up
  t0=$(now)
  while :; do
    st=$(haproxy_stat)
    up=$(prom_up)
    if [ "$(grep -c ' UP$' <<<"$st")" -ge 2 ] && [ "$(grep -c ' 1$' <<<"$up")" -ge 2 ]; then
      log "ready after $(since "$t0") s: HAProxy api_pool [$(tr '\n' ' ' <<<"$st")] Prometheus up [$(tr '\n' ' ' <<<"$up")]"
      return 0
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      die "not ready after $WAIT_S s: HAProxy api_pool [$(tr '\n' ' ' <<<"$st")] Prometheus up [$(tr '\n' ' ' <<<"$up")]"
    fi
    sleep 0.5
  done
}

# Hash of everything a converge depends on: when it matches the stamp a previous `up` left in
# the haproxy container and every container was already running, the converge is skipped
# (VEZA_LAB_CONVERGE=always forces it).
inputs_hash() {
  { git ls-files -co --exclude-standard -z roles/common roles/haproxy roles/backend_api roles/prometheus \
      playbooks/site.yml playbooks/haproxy.yml playbooks/backend_api.yml playbooks/prometheus.yml group_vars \
      inventory/lab.yml tests/lab/baseline.yml |
      sort -z | xargs -0 sha256sum; sha256sum <"$1"; echo "$HTTP_PORT $ADMIN_PORT $PROM_PORT"; } | sha256sum | cut -c1-16
}
STAMP=/etc/veza-lab.stamp

# The baseline holds when both backends run the build (and .previous) and HAProxy has them
# UP and ready at full weight: then a warm `up` need not run tests/lab/baseline.yml.
baseline_holds() {
  local build_sha c st
  build_sha=$(sha256sum "$1" | cut -d' ' -f1)
  for c in backend-api-1 backend-api-2; do
    [ "$(podman exec "$c" sh -c 'cat /opt/veza/backend-api/veza-api /opt/veza/backend-api/veza-api.previous 2>/dev/null' | sha256sum | cut -d' ' -f1)" = \
      "$(cat "$1" "$1" | sha256sum | cut -d' ' -f1)" ] || return 1
    podman exec "$c" systemctl is-active -q veza-backend-api || return 1
  done
  [ -n "$build_sha" ] || return 1
  # show servers state: $4 name, $6 op state (2 = running), $7 admin flags, $8/$9 user/initial weight
  st=$(podman exec haproxy sh -c 'echo "show servers state api_pool" | socat -t 2 stdio tcp4:127.0.0.1:9100' 2>/dev/null |
    awk '$4 ~ /^backend-api-/ && $6 == 2 && $7 == 0 && $8 == $9 { n++ } END { print n + 0 }')
  [ "$st" -ge 2 ]
}

run_playbooks() {
  # site.yml (backends, then HAProxy) and prometheus.yml in parallel: they touch different hosts.
  local logdir rc1=0 rc2=0 p1 p2
  logdir=$(mktemp -d /var/tmp/veza-lab-logs.XXXXXX)
  ansible-playbook -i inventory/lab.yml playbooks/site.yml >"$logdir/site.log" 2>&1 & p1=$!
  ansible-playbook -i inventory/lab.yml playbooks/prometheus.yml >"$logdir/prometheus.log" 2>&1 & p2=$!
  wait "$p1" || rc1=$?
  wait "$p2" || rc2=$?
  grep -h -A6 '^PLAY RECAP' "$logdir/site.log" "$logdir/prometheus.log" | grep -v '^PLAY RECAP' | grep . || true
  if [ "$rc1" -ne 0 ] || [ "$rc2" -ne 0 ]; then
    tail -n 60 "$logdir/site.log" "$logdir/prometheus.log"
    rm -rf "$logdir"
    die "converge failed (site.yml rc $rc1, prometheus.yml rc $rc2)"
  fi
  rm -rf "$logdir"
}

cmd_up() {
  local t0 t1 builds build_file hash was_running=1 c
  t0=$(now)
  bash scripts/build-image.sh
  [ -e "$here/.collections/ansible_collections/veza/infra" ] || bash scripts/bootstrap.sh
  for c in "${CONTAINERS[@]}"; do [ "$(container_state "$c")" = running ] || was_running=0; done
  t1=$(now); ensure_containers; log "containers up in $(since "$t1") s"
  builds=$(mktemp -d /var/tmp/veza-lab-builds.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$builds'" EXIT
  if [ -n "${VEZA_LAB_BUILD_FILE:-}" ]; then
    [ -f "$VEZA_LAB_BUILD_FILE" ] || die "VEZA_LAB_BUILD_FILE=$VEZA_LAB_BUILD_FILE: no such file"
    cp "$VEZA_LAB_BUILD_FILE" "$builds/veza-api-$BUILD"
  else
    python3 tests/fixtures/veza_api/make_builds.py "$builds" >/dev/null
  fi
  build_file="$builds/veza-api-$BUILD"
  [ -f "$build_file" ] || die "make_builds.py wrote no veza-api-$BUILD in $builds"
  hash=$(inputs_hash "$build_file")
  if [ "$was_running" = 1 ] && [ "${VEZA_LAB_CONVERGE:-auto}" != always ] &&
     [ "$(podman exec haproxy cat "$STAMP" 2>/dev/null)" = "$hash" ]; then
    log "converge skipped: lab running and roles/playbooks/vars unchanged since the last up (stamp $hash; VEZA_LAB_CONVERGE=always forces it)"
  else
    podman exec haproxy rm -f "$STAMP"
    t1=$(now); run_playbooks; log "site.yml + prometheus.yml converged in $(since "$t1") s"
  fi
  if [ "${VEZA_LAB_CONVERGE:-auto}" != always ] && baseline_holds "$build_file"; then
    log "baseline holds: $BUILD on both backends, api_pool servers UP and ready"
  else
    t1=$(now)
    ansible-playbook -i inventory/lab.yml tests/lab/baseline.yml -e "veza_lab_build_file=$build_file" >"$builds/baseline.log" 2>&1 ||
      { tail -n 60 "$builds/baseline.log"; die "tests/lab/baseline.yml failed"; }
    log "baseline ($BUILD installed, api_pool ready) in $(since "$t1") s"
  fi
  podman exec haproxy sh -c "echo $hash > $STAMP"
  wait_ready
  log "up ($([ "$was_running" = 1 ] && echo warm || echo cold)) in $(since "$t0") s: http://127.0.0.1:$HTTP_PORT, HAProxy admin tcp 127.0.0.1:$ADMIN_PORT, Prometheus http://127.0.0.1:$PROM_PORT"
}

cmd_down() {
  local c t0; t0=$(now)
  for c in "${CONTAINERS[@]}"; do
    if [ "$(container_state "$c")" != absent ]; then podman rm -f -t 2 "$c" >/dev/null; log "container $c removed"; fi
  done
  if podman network exists "$NETWORK"; then podman network rm -f "$NETWORK" >/dev/null; log "network $NETWORK removed"; fi
  log "down in $(since "$t0") s"
}

cmd_status() {
  local c rc=0
  for c in "${CONTAINERS[@]}"; do printf '%-16s %s\n' "$c" "$(container_state "$c")"; done
  if [ "$(container_state haproxy)" = running ]; then echo "HAProxy api_pool:"; haproxy_stat | sed 's/^/  /'; else rc=1; fi
  if [ "$(container_state prometheus)" = running ]; then echo "Prometheus up{job=\"backend-api\"}:"; prom_up | sed 's/^/  /'; else rc=1; fi
  return $rc
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
