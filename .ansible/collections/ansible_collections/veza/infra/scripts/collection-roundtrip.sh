#!/usr/bin/env bash
# The collection as users get it: build the tarball from this checkout, install it into a clean
# temporary path without network, then use it from outside the checkout with
# ANSIBLE_COLLECTIONS_PATH set to that path only:
#   - the tarball holds no file that .gitignore ignores (caches, test output, bench results...),
#     and its size and file count are printed;
#   - `ansible-galaxy collection verify --offline`: installed files match the tarball's
#     MANIFEST.json/FILES.json checksums (and a tampered file is caught);
#   - `ansible-playbook veza.infra.canary --syntax-check`, then a real run with ARTIFACT unset
#     and one with a missing ARTIFACT file: the pre-flight refuses with its message, nothing changes;
#   - `ansible-doc veza.infra.<module>` for every module, `ansible-doc -t role` for every role
#     with an argument spec;
#   - `ansible-builder create` renders execution-environment.yml into a build context holding
#     this tarball, and ansible-builder's introspection finds meta/execution-environment.yml's
#     dependencies in the installed collection.
# Run by `scripts/run-tests.sh collection` (make test). Leaves nothing behind (temp dir removed).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export PATH="${VEZA_VENV:-/opt/veza-infra/venv}/bin:$PATH"
export ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1 PY_COLORS=0

tmp=$(mktemp -d /var/tmp/veza-infra-collection.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "collection: FAILED: $*" >&2; exit 1; }
step() { echo "-- collection: $*"; }

version=$(python - "$here/galaxy.yml" <<'PY'
import sys, yaml
print(yaml.safe_load(open(sys.argv[1], encoding="utf-8"))["version"])
PY
)
tarball="$tmp/dist/veza-infra-$version.tar.gz"

# --- build -----------------------------------------------------------------------------------
step "build"
(cd "$here" && ANSIBLE_CONFIG="$here/ansible.cfg" ansible-galaxy collection build --output-path "$tmp/dist" .) >/dev/null
[ -f "$tarball" ] || fail "ansible-galaxy collection build made no $tarball"
tar -tzf "$tarball" | sed 's#/$##' | sort > "$tmp/tar.list"
nfiles=$(tar -tvzf "$tarball" | grep -c '^-')
echo "tarball $(basename "$tarball"): $(stat -c %s "$tarball") bytes, $nfiles files"
for f in MANIFEST.json FILES.json galaxy.yml; do
  # (galaxy.yml is replaced by MANIFEST.json in the tarball)
  [ "$f" = galaxy.yml ] && { ! grep -qx galaxy.yml "$tmp/tar.list" || fail "galaxy.yml in tarball"; continue; }
  grep -qx "$f" "$tmp/tar.list" || fail "no $f in the tarball"
done
# Nothing git ignores (build_ignore in galaxy.yml keeps caches, results, tarballs out).
ignored=$(cd "$here" || exit 1
          grep -vx -e MANIFEST.json -e FILES.json "$tmp/tar.list" | git check-ignore --no-index --stdin
          true)
[ -z "$ignored" ] || fail "the tarball holds ignored files (extend build_ignore in galaxy.yml): $(echo "$ignored" | head -5 | tr '\n' ' ')"

# --- install, offline, into a clean path ------------------------------------------------------
step "install into a clean path (offline)"
cd "$tmp"   # outside the checkout from here on
export ANSIBLE_CONFIG="$tmp/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$tmp/collections"
printf '[defaults]\ninventory = %s/inventory.ini\nretry_files_enabled = false\n' "$tmp" > "$ANSIBLE_CONFIG"
ansible-galaxy collection install --offline --no-deps -p "$tmp/collections" "$tarball" >/dev/null
installed="$tmp/collections/ansible_collections/veza/infra"
[ -f "$installed/MANIFEST.json" ] || fail "nothing installed at $installed"
ansible-galaxy collection list veza.infra -p "$tmp/collections" 2>/dev/null | grep -q "veza.infra *$version" \
  || fail "ansible-galaxy collection list does not show veza.infra $version"

step "verify --offline (MANIFEST.json / FILES.json checksums)"
ansible-galaxy collection verify --offline -p "$tmp/collections" veza.infra >"$tmp/verify.out" 2>&1 \
  || { cat "$tmp/verify.out"; fail "verify --offline of the fresh install"; }
cp "$installed/meta/runtime.yml" "$tmp/runtime.yml.orig"
echo "# tampered" >> "$installed/meta/runtime.yml"
if ansible-galaxy collection verify --offline -p "$tmp/collections" veza.infra >/dev/null 2>&1; then
  fail "verify --offline did not notice a modified meta/runtime.yml"
fi
cp "$tmp/runtime.yml.orig" "$installed/meta/runtime.yml"

# --- the canary playbook from the installed collection -----------------------------------------
step "ansible-playbook veza.infra.canary --syntax-check"
# The fleet's groups, every host local: the pre-flight must stop before any task touches them.
cat > "$tmp/inventory.ini" <<'INI'
[haproxy]
lb ansible_connection=local
[backend_api_instances]
backend-api-1 ansible_connection=local
backend-api-2 ansible_connection=local
[all:vars]
ansible_python_interpreter=auto_silent
INI
ansible-playbook veza.infra.canary --syntax-check >"$tmp/syntax.out" 2>&1 \
  || { cat "$tmp/syntax.out"; fail "syntax check of veza.infra.canary"; }

refused() {  # $1: label, $2: expected message; ARTIFACT is set (or not) by the caller
  local out="$tmp/run-$1.out" rc=0
  NO_MIGRATIONS=1 ansible-playbook veza.infra.canary >"$out" 2>&1 || rc=$?
  [ $rc -ne 0 ] || { cat "$out"; fail "canary with $1 ARTIFACT was not refused"; }
  grep -qF "$2" "$out" || { cat "$out"; fail "canary with $1 ARTIFACT: no '$2' in the output"; }
  grep -qE 'changed=[1-9]' "$out" && { cat "$out"; fail "canary with $1 ARTIFACT changed something"; }
  grep -qE '^lb +: .*changed=0 .*failed=1' "$out" || { cat "$out"; fail "canary with $1 ARTIFACT: no recap with changed=0 failed=1"; }
  grep -q 'Deploy lock' "$out" && { cat "$out"; fail "canary with $1 ARTIFACT reached the deploy lock"; }
  echo "refused ($1 ARTIFACT, rc $rc): $(grep -oF "$2" "$out" | head -1)"
}
step "ansible-playbook veza.infra.canary without ARTIFACT / with a missing ARTIFACT"
(unset ARTIFACT; refused unset "ARTIFACT (canary_artifact) is not set")
(export ARTIFACT="$tmp/no-such-veza-api"; refused missing "ARTIFACT $tmp/no-such-veza-api does not exist on the controller")

# --- ansible-doc for every module and role --------------------------------------------------------
step "ansible-doc"
n=0
for m in "$installed"/plugins/modules/*.py; do
  name=$(basename "$m" .py); [ "${name#_}" = "$name" ] || continue
  ansible-doc "veza.infra.$name" >"$tmp/doc.out" 2>&1 || { cat "$tmp/doc.out"; fail "ansible-doc veza.infra.$name"; }
  grep -q "veza.infra.$name" "$tmp/doc.out" || fail "ansible-doc veza.infra.$name does not name the module"
  n=$((n+1))
done
[ $n -gt 0 ] || fail "no module in the installed collection"
r=0
for spec in "$installed"/roles/*/meta/argument_specs.yml; do
  role=$(basename "$(dirname "$(dirname "$spec")")")
  ansible-doc -t role "veza.infra.$role" >"$tmp/doc.out" 2>&1 || { cat "$tmp/doc.out"; fail "ansible-doc -t role veza.infra.$role"; }
  r=$((r+1))
done
echo "ansible-doc: $n modules, $r roles"

# --- execution environment --------------------------------------------------------------------
step "ansible-builder create (execution-environment.yml)"
mkdir -p "$tmp/ee/dist"
cp "$here/execution-environment.yml" "$tmp/ee/"
cp -r "$here/meta" "$tmp/ee/meta"
cp "$tarball" "$tmp/ee/dist/"
(cd "$tmp/ee" && ansible-builder create --output-filename Containerfile >"$tmp/ee.out" 2>&1) \
  || { cat "$tmp/ee.out"; fail "ansible-builder create"; }
ctx="$tmp/ee/context"
[ -f "$ctx/_build/collections/$(basename "$tarball")" ] \
  || fail "the build context has no $(basename "$tarball"): execution-environment.yml names another version than galaxy.yml ($version)?"
grep -qx "  type: file" "$ctx/_build/requirements.yml" || fail "no file collection in the EE's galaxy requirements"
grep -q "name: collections/$(basename "$tarball")" "$ctx/_build/requirements.yml" \
  || fail "execution-environment.yml installs another tarball than veza-infra-$version.tar.gz"
grep -q '^pglast' "$ctx/_build/requirements.txt" || fail "the EE's python requirements lack pglast"
python "$ctx/_build/scripts/introspect.py" introspect "$tmp/collections" >"$tmp/introspect.out" 2>&1 \
  || { cat "$tmp/introspect.out"; fail "ansible-builder introspection of the installed collection"; }
if ! grep -q "^- 'pglast.*from collection veza.infra" "$tmp/introspect.out" \
   || ! grep -q "^- 'git .*from collection veza.infra" "$tmp/introspect.out"; then
  cat "$tmp/introspect.out"; fail "introspection does not find veza.infra's pglast/git (meta/execution-environment.yml)"
fi
echo "ansible-builder: context with Containerfile, $(basename "$tarball"), introspection: pglast, git"
pending=$(find "$here/changelogs/fragments" -name '*.yml' | wc -l)
[ "$pending" -eq 0 ] || echo "note: $pending changelog fragment(s) not in CHANGELOG.rst yet: before publishing, \
antsibull-changelog release (--version $version --update-existing while $version is unpublished)"
echo "collection: ok"
