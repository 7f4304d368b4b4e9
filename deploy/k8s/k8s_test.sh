#!/usr/bin/env bash
# The Kubernetes manifests, offline: each overlay is rendered with kubectl's
# built-in kustomize (TLS secrets from certificates `psctl certs` makes
# here), validated against the Kubernetes API schemas (validate/validate.mjs:
# kubernetes-models and TypeScript, from npm) and checked for what the
# deployment relies on (validate/expect.mjs). Deliberately broken manifests
# (validate/testdata) must be refused, which shows the validation bites.
set -euo pipefail
source deploy/testing/lib.sh

command -v kubectl >/dev/null ||
  fail "kubectl not found (kubectl >= 1.27 with kustomize v5; see README: Kubernetes)"
command -v node >/dev/null || fail "node not found: run deploy/bootstrap.sh"
# The validator runs from the source tree, where bootstrap installed its
# npm packages (node_modules is not a Bazel input).
validate_dir=$(dirname "$(readlink -f deploy/k8s/validate/validate.mjs)")
[[ -d "$validate_dir/node_modules/kubernetes-models" ]] ||
  fail "no npm packages in $validate_dir: run deploy/bootstrap.sh"
kubectl version --client

t=$(mktemp -d "${TEST_TMPDIR:-/tmp}/k8s_test.XXXXXX")
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/k8s"
cp -rL deploy/k8s/base deploy/k8s/overlays deploy/k8s/secrets "$t/k8s/"
psctl=client/psctl/psctl
"$psctl" certs init --dir="$t/k8s/secrets/pki" >/dev/null
for role in coordinator server worker; do
  "$psctl" certs issue --dir="$t/k8s/secrets/pki" --role=$role --name=$role \
    --dns=ps-$role,ps-$role.pscluster.svc >/dev/null
done

for overlay in gpu cpu; do
  echo "== overlays/$overlay"
  kubectl kustomize "$t/k8s/overlays/$overlay" >"$t/$overlay.yaml"
  node "$validate_dir/validate.mjs" "$t/$overlay.yaml" ||
    fail "overlays/$overlay does not validate"
  node "$validate_dir/expect.mjs" "$overlay" "$t/$overlay.yaml" ||
    fail "overlays/$overlay lacks what the deployment needs"
done

echo "== broken manifests are refused"
expect_refused() {
  local file=$1 message=$2 out
  if out=$(node "$validate_dir/validate.mjs" "$validate_dir/testdata/$file" 2>&1); then
    fail "$file was accepted"
  fi
  grep -qF -- "$message" <<<"$out" || { echo "$out"; fail "$file: no '$message'"; }
  echo "$file: refused ($message)"
}
expect_refused unknown_field.yaml "'\"readinesProbe\"' does not exist in type 'IContainer'"
expect_refused wrong_type.yaml "periodSeconds must be integer"
expect_refused missing_required.yaml "must have required property port"
expect_refused unknown_kind.yaml "unknown apiVersion/kind apps/v1 StatefulSett"
expect_refused bad_quantity.yaml "must match format \"quantity\""
echo "PASS"
