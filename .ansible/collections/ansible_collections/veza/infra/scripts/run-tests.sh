#!/usr/bin/env bash
# Runs the test stages of `make test` (or the ones named as arguments) and prints a summary.
# Stages: sanity (ansible-test sanity), lint (ansible-lint production profile, antsibull-changelog
# lint), units (ansible-test units over tests/unit/plugins), unit (pytest tests/unit: all of it,
# with the checkout's venv), collection (build, offline install, use from outside the checkout,
# EE context: scripts/collection-roundtrip.sh), integration (pytest tests/integration: real
# haproxy/prometheus/pglast on loopback), molecule (every roles/*/molecule/* scenario on podman +
# systemd), lab (pytest tests/lab: one lab bring-up, the failover bar; docs/lab.md).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 1
export PATH="${VEZA_VENV:-/opt/veza-infra/venv}/bin:$PATH"
export ANSIBLE_CONFIG="$here/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$here/.collections"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(sanity lint units unit collection integration molecule lab)

# ansible-test wants the collection under .../ansible_collections/veza/infra and resolves the
# working directory physically, so a link does not do: sanity and units test a copy of the
# tracked (and untracked, not ignored) tree, outside this checkout (inside it, ansible-test would
# take the checkout's git file list). collection_copy prints the copy's root; the caller removes
# it (rm -rf "$base").
collection_copy() {
  local base
  mkdir -p /var/tmp/veza-infra-sanity
  base=$(mktemp -d /var/tmp/veza-infra-sanity/run.XXXXXX) || return 1
  mkdir -p "$base/ansible_collections/veza/infra"
  if ! git ls-files -co --exclude-standard -z \
      | rsync -a --from0 --files-from=- ./ "$base/ansible_collections/veza/infra/"; then
    rm -rf "$base"; return 1
  fi
  echo "$base"
}
stage_sanity() {
  # SANITY_ARGS passes extra arguments (e.g. "--test pylint plugins/modules/x.py").
  local base rc
  base=$(collection_copy) || return 1
  # shellcheck disable=SC2086
  (cd "$base/ansible_collections/veza/infra" && ansible-test sanity --python 3.11 --color no ${SANITY_ARGS:-})
  rc=$?
  rm -rf "$base"
  return $rc
}
stage_units() {
  # ansible-test units, the way the ecosystem runs a collection's unit tests: the module and
  # module_utils tests (tests/unit/plugins) in a venv ansible-test makes in the copy (pytest,
  # pytest-xdist, pytest-mock, plus tests/unit/requirements.txt), with only ansible-core.
  # The other tests/unit files need the checkout itself (tests/ on sys.path for loadgen, the
  # `ansible` package's collections for the json callback): stage unit runs them.
  # UNITS_ARGS replaces the targets (e.g. "tests/unit/plugins/modules/test_deploy_lock.py").
  local base rc
  base=$(collection_copy) || return 1
  # shellcheck disable=SC2086
  (cd "$base/ansible_collections/veza/infra" && ansible-test units --venv --python 3.11 --color no ${UNITS_ARGS:-tests/unit/plugins/})
  rc=$?
  rm -rf "$base"
  return $rc
}
stage_lint() {
  local rc=0
  ansible-lint --profile production --offline -q || rc=1
  antsibull-changelog lint || rc=1   # changelogs/fragments/*.yml and changelog.yaml
  # module, filter and role docs as antsibull-docs renders them (schema, markup, references)
  antsibull-docs lint-collection-docs --plugin-docs . || rc=1
  return $rc
}
stage_unit() {
  python -m pytest -q -p no:cacheprovider tests/unit
}
stage_collection() {
  bash scripts/collection-roundtrip.sh
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
