#!/usr/bin/env bash
# Offline CI checks of the Helm chart (helm/thermostat). Idempotent; tools come from
# scripts/helm-tools.sh (helm, promtool and the Prometheus Operator CRDs from the Go module proxy,
# kubernetes-validate and hadolint from PyPI).
#   1. helm lint --strict, with the default values and with every helm/thermostat/ci/*-values.yaml
#   2. helm template for each of those cases and each Kubernetes version in KUBE_VERSIONS, every
#      rendered manifest validated in strict mode (helm/thermostat/ci/validate_manifests.py:
#      Kubernetes schemas from kubernetes-validate; ServiceMonitor and PrometheusRule against the
#      upstream Prometheus Operator CRDs, KEDA kinds against helm/thermostat/ci/crd-schemas)
#   3. negative checks: bad values must be rejected (values.schema.json or a template check),
#      with an error naming the wrong value
#   4. self-checks: the validator rejects manifests with an unknown field
#   5. NOTES.txt renders for every case (helm only renders it at install, against a cluster)
#   6. hadolint on the Dockerfile (the image itself is not built here: no container engine)
#   7. promtool: `check rules` on the rendered alert rules and on the dashboard's queries,
#      `test rules` with helm/thermostat/ci/alerts-test.yaml
# Prints one "RESULT <check> PASS|FAIL [detail]" line per check (test/integration/helm-chart.test.ts
# reads them) and exits non-zero if any check failed.
#   CHART_OUT_DIR   where rendered manifests (<case>.yaml, <case>.json) go; default .stack/chart-out
#   KUBE_VERSIONS   default "1.27.0 1.37.0" (oldest supported by Chart.yaml, newest in kubernetes-validate)
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(bash scripts/helm-tools.sh)" # sets HELM, PYTHON, HADOLINT, PROMTOOL, PROMETHEUS_OPERATOR_CRDS
chart=helm/thermostat
crd_dir=$chart/ci/crd-schemas
crd_yaml=(--crd-yaml "$PROMETHEUS_OPERATOR_CRDS/monitoring.coreos.com_servicemonitors.yaml"
  --crd-yaml "$PROMETHEUS_OPERATOR_CRDS/monitoring.coreos.com_prometheusrules.yaml")
out=${CHART_OUT_DIR:-.stack/chart-out}
kube_versions=${KUBE_VERSIONS:-"1.27.0 1.37.0"}
rm -rf "$out"
mkdir -p "$out"
release=thermostat
namespace=streaming
failures=0

result() { # check status [detail]
  printf 'RESULT %s %s%s\n' "$1" "$2" "${3:+ $3}"
  [ "$2" = PASS ] || failures=$((failures + 1))
}
oneline() { tr '\n' ' ' | sed 's/  */ /g' | cut -c1-400; }

cases=(default)
for f in "$chart"/ci/*-values.yaml; do
  cases+=("$(basename "$f" -values.yaml)")
done
values_args() { [ "$1" = default ] || printf -- '-f\n%s\n' "$chart/ci/$1-values.yaml"; }

# 1. lint ----------------------------------------------------------------------------------------
for c in "${cases[@]}"; do
  mapfile -t va < <(values_args "$c")
  if log=$("$HELM" lint --strict "$chart" --namespace "$namespace" "${va[@]}" 2>&1); then
    result "lint:$c" PASS
  else
    result "lint:$c" FAIL "$(echo "$log" | grep -E 'ERROR|WARNING|Error' | oneline)"
  fi
done

# 2. template + strict validation ------------------------------------------------------------------
for c in "${cases[@]}"; do
  mapfile -t va < <(values_args "$c")
  for kv in $kube_versions; do
    manifest="$out/$c@$kv.yaml"
    if ! "$HELM" template "$release" "$chart" --namespace "$namespace" --kube-version "$kv" "${va[@]}" >"$manifest" 2>"$out/$c@$kv.err"; then
      result "template:$c@$kv" FAIL "$(oneline <"$out/$c@$kv.err")"
      continue
    fi
    result "template:$c@$kv" PASS
    if log=$("$PYTHON" "$chart/ci/validate_manifests.py" --kube-version "$kv" --crd-dir "$crd_dir" \
      "${crd_yaml[@]}" --json-out "$out/$c.json" "$manifest" 2>&1); then
      result "validate:$c@$kv" PASS "$(echo "$log" | tail -n 1)"
    else
      result "validate:$c@$kv" FAIL "$(echo "$log" | grep -v '^ok ' | oneline)"
    fi
  done
done

# 3. negative checks: name | expected error (extended regex) | helm arguments ----------------------
reject() {
  local name=$1 expect=$2
  shift 2
  local log
  if log=$("$HELM" template "$release" "$chart" --namespace "$namespace" "$@" 2>&1 >/dev/null); then
    result "reject:$name" FAIL "rendered without error: $*"
  elif echo "$log" | grep -Eq -- "$expect"; then
    result "reject:$name" PASS "$(echo "$log" | grep -E -- "$expect" | head -n 1 | oneline)"
  else
    result "reject:$name" FAIL "failed for another reason: $(echo "$log" | oneline)"
  fi
}
reject replicaCount-string "/replicaCount.*want integer" --set replicaCount=three
reject unknown-backend "/config/tfBackend.*one of" --set config.tfBackend=cuda
reject llm-without-url "/llm/url" --set llm.enabled=true
reject learning-on-webgpu "learning.enabled trains and scores with synchronous reads" --set learning.enabled=true --set gpu.enabled=true
reject unknown-key "additional properties 'replicas' not allowed" --set replicas=3
reject zero-partitions "/config/inputPartitions.*minimum" --set config.inputPartitions=0
reject bad-autoscaling-mode "/autoscaling/mode.*one of" --set autoscaling.mode=vpa
reject writable-root-fs "/securityContext/readOnlyRootFilesystem" --set securityContext.readOnlyRootFilesystem=false
reject privilege-escalation "/securityContext/allowPrivilegeEscalation" --set securityContext.allowPrivilegeEscalation=true
reject sasl-without-secret "/kafka/sasl/existingSecret" --set kafka.sasl.enabled=true
reject redis-bad-scheme "/redis/url" --set redis.url=http://redis:6379
reject redis-password-without-secret "/redis/auth" --set redis.auth.passwordKey=password
reject redis-tls-plain-url "requires redis.url to start with rediss://" --set redis.tls.enabled=true
reject redis-sentinel-password-plain-url "sentinelPasswordKey requires a redis\+sentinel:// URL" --set redis.auth.existingSecret=r --set redis.auth.sentinelPasswordKey=p
reject registry-auth-without-secret "/schemaRegistry/auth" --set kafka.schemaRegistryUrl=https://sr --set schemaRegistry.auth.bearerTokenKey=t
reject registry-auth-without-url "schemaRegistry.auth needs kafka.schemaRegistryUrl" --set schemaRegistry.auth.existingSecret=s --set schemaRegistry.auth.bearerTokenKey=t
reject registry-basic-and-bearer "either usernameKey/passwordKey or bearerTokenKey" --set kafka.schemaRegistryUrl=https://sr --set schemaRegistry.auth.existingSecret=s --set schemaRegistry.auth.usernameKey=u --set schemaRegistry.auth.passwordKey=p --set schemaRegistry.auth.bearerTokenKey=t
reject min-replicas-above-partitions "exceeds the replica cap" --set autoscaling.mode=keda --set autoscaling.minReplicas=8
reject gpu-count-zero "/gpu/count.*minimum" --set gpu.enabled=true --set gpu.count=0
reject bad-scrape-interval "/serviceMonitor/interval" --set serviceMonitor.interval=30sec
reject rules-without-runbook "prometheusRule.runbookUrl" --set prometheusRule.enabled=true
reject rules-bad-for "/prometheusRule/alerts/jobDown/for" --set prometheusRule.alerts.jobDown.for=5min
reject unknown-gpu-backend "/gpu/backend.*one of" --set gpu.enabled=true --set gpu.backend=cuda
reject netpol-bad-protocol "/networkPolicy/egress/kafka/ports/0/protocol" --set networkPolicy.enabled=true \
  --set 'networkPolicy.egress.kafka.ports[0].port=9092' --set 'networkPolicy.egress.kafka.ports[0].protocol=HTTP'
if log=$("$HELM" lint --strict "$chart" --set replicaCount=three 2>&1); then
  result "reject:lint-replicaCount-string" FAIL "helm lint accepted replicaCount=three"
elif echo "$log" | grep -q "/replicaCount"; then
  result "reject:lint-replicaCount-string" PASS
else
  result "reject:lint-replicaCount-string" FAIL "$(echo "$log" | oneline)"
fi

# 4. validator self-checks: a manifest with an unknown field must be rejected ----------------------
first_kv=${kube_versions%% *}
selfcheck() { # name file sed-expression expected-regex
  local name=$1 src=$2 expr=$3 expect=$4 log
  if [ ! -f "$src" ]; then
    result "selfcheck:$name" FAIL "missing $src"
    return
  fi
  sed "$expr" "$src" >"$out/selfcheck-$name.yaml"
  if log=$("$PYTHON" "$chart/ci/validate_manifests.py" --kube-version "$first_kv" --crd-dir "$crd_dir" \
    "${crd_yaml[@]}" "$out/selfcheck-$name.yaml" 2>&1); then
    result "selfcheck:$name" FAIL "validator accepted a broken manifest"
  elif echo "$log" | grep -Eq -- "$expect"; then
    result "selfcheck:$name" PASS
  else
    result "selfcheck:$name" FAIL "$(echo "$log" | grep -v '^ok ' | oneline)"
  fi
}
selfcheck deployment-unknown-field "$out/default@$first_kv.yaml" \
  's/^  revisionHistoryLimit: 5$/  revisionHistoryLimit: 5\n  replicass: 3/' "Deployment/.*'replicass' was unexpected"
selfcheck scaledobject-int-metadata "$out/keda@$first_kv.yaml" \
  's/lagThreshold: "\([0-9]*\)"/lagThreshold: \1/' "ScaledObject/.*lagThreshold.*not of type 'string'"
selfcheck servicemonitor-unknown-field "$out/servicemonitor@$first_kv.yaml" \
  's/^      path: \/metrics$/      path: \/metrics\n      intervall: 1m/' "ServiceMonitor/.*'intervall' was unexpected"
selfcheck prometheusrule-unknown-field "$out/servicemonitor@$first_kv.yaml" \
  's/^          for: 5m$/          for: 5m\n          forr: 5m/' "PrometheusRule/.*'forr' was unexpected"

# 5. NOTES.txt: render it through a copy of the chart where a ConfigMap template carries it -------
notes_chart="$out/notes-chart/thermostat"
mkdir -p "$(dirname "$notes_chart")"
cp -r "$chart" "$notes_chart"
mv "$notes_chart/templates/NOTES.txt" "$notes_chart/NOTES.src"
cat >"$notes_chart/templates/zz-notes-render.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: notes-render
data:
  NOTES.txt: |
    {{- tpl (.Files.Get "NOTES.src") . | nindent 4 }}
EOF
for c in "${cases[@]}"; do
  mapfile -t va < <(values_args "$c")
  if "$HELM" template "$release" "$notes_chart" --namespace "$namespace" "${va[@]}" \
    --show-only templates/zz-notes-render.yaml >"$out/$c.notes.yaml" 2>"$out/$c.notes.err"; then
    result "notes:$c" PASS
  else
    result "notes:$c" FAIL "$(oneline <"$out/$c.notes.err")"
  fi
done

# 6. Dockerfile lint -----------------------------------------------------------------------------
if log=$("$HADOLINT" --no-color Dockerfile 2>&1); then
  result "lint:dockerfile" PASS
else
  result "lint:dockerfile" FAIL "$(echo "$log" | oneline)"
fi

# 7. promtool --------------------------------------------------------------------------------------
# The alert rules as Prometheus loads them: the rendered PrometheusRule's spec (rules case).
rules_case=servicemonitor
"$PYTHON" - "$out/$rules_case.json" "$out/alerts.rules.yaml" <<'EOF'
import json, sys, yaml
rules = [d for d in json.load(open(sys.argv[1])) if d["kind"] == "PrometheusRule"]
yaml.safe_dump(rules[0]["spec"] if rules else {"groups": []}, open(sys.argv[2], "w"), sort_keys=False)
EOF
if log=$("$PROMTOOL" check rules "$out/alerts.rules.yaml" 2>&1); then
  result "promtool:check-rules" PASS "$(echo "$log" | grep -Eo 'SUCCESS: [0-9]+ rules found')"
else
  result "promtool:check-rules" FAIL "$(echo "$log" | oneline)"
fi
cp "$chart/ci/alerts-test.yaml" "$out/alerts-test.yaml"
if log=$(cd "$out" && "$PROMTOOL" test rules alerts-test.yaml 2>&1); then
  result "promtool:test-rules" PASS
else
  result "promtool:test-rules" FAIL "$(echo "$log" | oneline)"
fi
# The dashboard's queries, parsed by Prometheus itself: each becomes a recording rule, with
# Grafana's variables replaced by values of the same kind.
"$PYTHON" - "$chart/dashboards/thermostat.json" "$out/dashboard.rules.yaml" <<'EOF'
import json, re, sys, yaml
grafana = {"__rate_interval": "1m", "__interval": "1m", "__range": "1h"}
def promql(expr):
    return re.sub(r"\$\{?(\w+)\}?", lambda m: grafana.get(m.group(1), ".*"), expr)
def panels(ps):
    for p in ps:
        yield p
        yield from panels(p.get("panels", []))
rules = [{"record": f"dashboard:panel{p['id']}:{t['refId']}", "expr": promql(t["expr"])}
         for p in panels(json.load(open(sys.argv[1]))["panels"]) for t in p.get("targets", [])]
yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[2], "w"), sort_keys=False)
EOF
if log=$("$PROMTOOL" check rules "$out/dashboard.rules.yaml" 2>&1); then
  result "promtool:dashboard" PASS "$(echo "$log" | grep -Eo 'SUCCESS: [0-9]+ rules found')"
else
  result "promtool:dashboard" FAIL "$(echo "$log" | oneline)"
fi

total=$(grep -c . <<<"$(printf '%s\n' "${cases[@]}")")
echo "chart checks: $total value cases, kube versions: $kube_versions, $failures failed"
[ "$failures" -eq 0 ]
