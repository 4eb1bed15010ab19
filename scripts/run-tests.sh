#!/usr/bin/env bash
# Runs the test stages of `make test` (or the ones named as arguments) and prints a summary.
# Stages: sanity (ansible-test sanity), lint (ansible-lint production profile), unit (pytest
# tests/unit), integration (pytest tests/integration: real haproxy/prometheus/pglast on
# loopback), molecule (every roles/*/molecule/* scenario on podman + systemd), lab (pytest
# tests/lab: one lab bring-up, the failover bar; docs/lab.md).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 1
export PATH="${VEZA_VENV:-/opt/veza-infra/venv}/bin:$PATH"
export ANSIBLE_CONFIG="$here/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$here/.collections"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(sanity lint unit integration molecule lab)

stage_sanity() {
  # ansible-test wants the collection under .../ansible_collections/veza/infra and resolves
  # the working directory physically, so a link does not do: test a copy of the tracked tree,
  # outside this checkout (inside it, ansible-test would take the checkout's git file list).
  # SANITY_ARGS passes extra arguments (e.g. "--test pylint plugins/modules/x.py").
  local base dst rc
  mkdir -p /var/tmp/veza-infra-sanity
  base=$(mktemp -d /var/tmp/veza-infra-sanity/run.XXXXXX)
  dst="$base/ansible_collections/veza/infra"
  mkdir -p "$dst"
  git ls-files -co --exclude-standard -z | rsync -a --from0 --files-from=- ./ "$dst/"
  # shellcheck disable=SC2086
  (cd "$dst" && ansible-test sanity --python 3.11 --color no ${SANITY_ARGS:-})
  rc=$?
  rm -rf "$base"
  return $rc
}
stage_lint() {
  ansible-lint --profile production --offline -q
}
stage_unit() {
  python -m pytest -q -p no:cacheprovider tests/unit
}
stage_integration() {
  python -m pytest -q -p no:cacheprovider tests/integration
}
stage_lab() {
  python -m pytest -q -s -p no:cacheprovider tests/lab
}
stage_molecule() {
  # Each roles/<role>/molecule/<scenario> on podman with real systemd, on the lab image: built
  # here from a fresh clone (about 2 minutes), reused while its recipe is unchanged. Instances
  # are named molecule-*, never the lab's. veza.infra.* resolves through ANSIBLE_COLLECTIONS_PATH.
  local rc=0 found=0 scen role
  bash scripts/build-image.sh || return 1
  for scen in roles/*/molecule/*/molecule.yml; do
    [ -e "$scen" ] || continue
    found=1
    role=$(basename "$(dirname "$(dirname "$(dirname "$scen")")")")
    local name; name=$(basename "$(dirname "$scen")")
    echo "== molecule: role $role scenario $name"
    (cd "roles/$role" && molecule test -s "$name") || rc=1
  done
  [ $found -eq 1 ] || echo "molecule: no scenario yet"
  return $rc
}

passed=0; failed=0; failed_names=()
for s in "${stages[@]}"; do
  echo "=================== stage: $s ==================="
  start=$(date +%s)
  if "stage_$s"; then passed=$((passed+1)); r=ok; else failed=$((failed+1)); failed_names+=("$s"); r=FAILED; fi
  echo "=================== stage: $s $r in $(( $(date +%s) - start )) s ==================="
done
[ $failed -gt 0 ] && echo "failed stages: ${failed_names[*]}"
echo "make-test: $passed passed, $failed failed"
[ $failed -eq 0 ]
