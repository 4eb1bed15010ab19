#!/usr/bin/env bash
# make demo: the main job on the embedded lab, in a few minutes.
#   1. lab up (HAProxy, two backends on veza-api v1.0.9, Prometheus: Incus system containers)
#   2. steady traffic through HAProxy (30 % sticky clients) in the background
#   3. a real canary of v1.0.10: pre-flight, drain, push, health, re-enable, a 60 s SLI window
#      with one live line per probe, then the peer
#   4. the traffic result (sent, failed, slowest) and the SLI report; lab down
# VEZA_KEEP_LAB=1 leaves the lab running for exploration (`make lab-down` removes it).
# SLI_WINDOW / SLI_PROBE_INTERVAL / any runbook knob can be exported to change the run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export PATH="${VEZA_VENV:-/opt/veza-infra/venv}/bin:$PATH"
export ANSIBLE_CONFIG="$here/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$here/.collections" PYTHONUNBUFFERED=1
work=$(mktemp -d /var/tmp/veza-demo.XXXXXX)
loadgen_pid=
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  if [ -n "$loadgen_pid" ]; then kill "$loadgen_pid" 2>/dev/null || true; fi
  if [ "${VEZA_KEEP_LAB:-0}" != 1 ]; then bash scripts/lab.sh down >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

echo "demo: 1/4 lab up"
# Unfiltered: when the lab does not come up, lab.sh names the failing playbook, task and message.
if ! bash scripts/lab.sh up; then
  echo "demo: FAILED: the lab did not come up (its cause is printed above)" >&2
  exit 1
fi
python tests/fixtures/veza_api/make_builds.py "$work/builds" >/dev/null

echo "demo: 2/4 traffic through HAProxy: 40 req/s, 30 % sticky clients"
python tests/loadgen.py --url "http://127.0.0.1:${VEZA_LAB_HTTP_PORT:-18080}/api/v1/tracks" \
  --rate 40 --duration 600 >"$work/load.txt" 2>&1 &
loadgen_pid=$!

echo "demo: 3/4 canary of v1.0.10 (SLI window ${SLI_WINDOW:-60} s)"
rc=0
ARTIFACT="$work/builds/veza-api-v1.0.10" MIGRATIONS_PATHS="$here/tests/fixtures/migrations" \
SLI_REPORT_DIR="$work/reports" SLI_WINDOW="${SLI_WINDOW:-60}" \
  ansible-playbook -i inventory/lab.yml playbooks/canary.yml >"$work/canary.log" 2>&1 &
pb=$!
# Follow the run: the play and task headers and the SLI probes, as they come.
tail -n +1 -f "$work/canary.log" --pid "$pb" | grep --line-buffered -E '^(PLAY \[|TASK \[.*(Step|Preflight \| (Artifact|Migrations|HAProxy|Prometheus))|prom_sli_watch|fatal|\[ERROR\])' || true
wait "$pb" || rc=$?
if [ $rc -ne 0 ]; then
  # The follow above shows headers only: the failing task and its message, from the log.
  python scripts/lab.py explain "$work/canary.log" | sed 's/^/  /'
fi

kill -TERM "$loadgen_pid" 2>/dev/null || true
wait "$loadgen_pid" 2>/dev/null || true
loadgen_pid=
echo "demo: 4/4 result"
grep -A6 'PLAY RECAP' "$work/canary.log" | sed 's/^/  /'
sed 's/^/  /' "$work/load.txt" | head -5
for h in backend-api-1 backend-api-2; do
  printf '  %s runs %s\n' "$h" "$(incus --project veza-lab exec "$h" -- curl -s http://127.0.0.1:8080/api/v1/health)"
done
find "$work/reports" -name "*.html" -printf "  SLI report: %p\n" 2>/dev/null || true
if [ $rc -eq 0 ]; then echo "demo: canary GREEN, v1.0.10 rolled to the fleet"; else echo "demo: canary FAILED (rc $rc), see $work/canary.log"; fi
exit $rc
