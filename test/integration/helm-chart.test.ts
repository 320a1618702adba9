// The Helm chart's CI checks (scripts/validate-chart.sh: helm lint, helm template per values file,
// strict offline schema validation, rejection of bad values), plus what the rendered manifests
// must do. The script installs helm (Go module proxy) and kubernetes-validate (PyPI) into .stack/
// on first use, so the first run takes a few minutes; later runs take seconds.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENV_KEYS } from '../../core/config.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const ciDir = join(root, 'helm/thermostat/ci');
const KUBE_VERSIONS = ['1.27.0', '1.37.0'];
const CASES = [
  'default',
  ...readdirSync(ciDir)
    .filter((f) => f.endsWith('-values.yaml'))
    .map((f) => f.slice(0, -'-values.yaml'.length))
    .sort(),
];
const REJECTS = [
  'replicaCount-string',
  'unknown-backend',
  'llm-without-url',
  'unknown-key',
  'zero-partitions',
  'bad-autoscaling-mode',
  'writable-root-fs',
  'privilege-escalation',
  'sasl-without-secret',
  'redis-bad-scheme',
  'redis-password-without-secret',
  'redis-tls-plain-url',
  'redis-sentinel-password-plain-url',
  'registry-auth-without-secret',
  'registry-auth-without-url',
  'registry-basic-and-bearer',
  'min-replicas-above-partitions',
  'gpu-count-zero',
  'bad-scrape-interval',
  'rules-without-runbook',
  'rules-bad-for',
  'unknown-gpu-backend',
  'learning-on-webgpu',
  'netpol-bad-protocol',
  'lint-replicaCount-string',
];
const SELFCHECKS = [
  'deployment-unknown-field',
  'scaledobject-int-metadata',
  'servicemonitor-unknown-field',
  'prometheusrule-unknown-field',
];
// Environment variables the job reads besides core/config.ts ENV_KEYS: the config file path
// (core/config.ts loadConfig) and Node's extra CAs.
const OTHER_ENV = new Set(['THERMOSTAT_CONFIG', 'NODE_EXTRA_CA_CERTS']);

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered Kubernetes objects are free-form JSON */
type K8s = any;

let run: { status: number | null; stdout: string; stderr: string };
let outDir: string;
const results = new Map<string, { status: string; detail: string }>();

function docs(c: string): K8s[] {
  return JSON.parse(readFileSync(join(outDir, `${c}.json`), 'utf8'));
}
function one(c: string, kind: string, name?: string): K8s {
  const found = docs(c).filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
  assert.equal(found.length, 1, `${c}: expected one ${kind}${name ? ` ${name}` : ''}, got ${found.length}`);
  return found[0];
}
function none(c: string, kind: string): void {
  assert.deepEqual(
    docs(c)
      .filter((d) => d.kind === kind)
      .map((d) => d.metadata.name),
    [],
    `${c}: no ${kind} expected`,
  );
}
const container = (c: string): K8s => one(c, 'Deployment').spec.template.spec.containers[0];
const envOf = (c: string): K8s[] => container(c).env;
const envVar = (c: string, name: string): K8s => envOf(c).find((e: K8s) => e.name === name);
const configMap = (c: string): Record<string, string> => one(c, 'ConfigMap', 'thermostat').data;

before(() => {
  outDir = mkdtempSync(join(tmpdir(), 'thermostat-chart-'));
  run = spawnSync('bash', ['scripts/validate-chart.sh'], {
    cwd: root,
    env: { ...process.env, CHART_OUT_DIR: outDir, KUBE_VERSIONS: KUBE_VERSIONS.join(' ') },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  for (const line of run.stdout.split('\n')) {
    const m = /^RESULT (\S+) (PASS|FAIL)(?: (.*))?$/.exec(line);
    if (m) results.set(m[1], { status: m[2], detail: m[3] ?? '' });
  }
});

after(() => rmSync(outDir, { recursive: true, force: true }));

describe('scripts/validate-chart.sh', () => {
  test('exits 0 after running every check', () => {
    assert.equal(run.status, 0, `validate-chart.sh failed:\n${run.stdout}\n${run.stderr}`);
  });

  const expectPass = (check: string): void => {
    const r = results.get(check);
    assert.ok(r, `no result for ${check}:\n${run.stdout}\n${run.stderr}`);
    assert.equal(r.status, 'PASS', `${check}: ${r.detail}`);
  };
  for (const c of CASES) {
    test(`values case "${c}": helm lint --strict, helm template, strict schema validation and NOTES.txt pass`, () => {
      expectPass(`lint:${c}`);
      expectPass(`notes:${c}`);
      for (const kv of KUBE_VERSIONS) {
        expectPass(`template:${c}@${kv}`);
        expectPass(`validate:${c}@${kv}`);
        assert.match(results.get(`validate:${c}@${kv}`)!.detail, / 0 invalid /);
      }
    });
  }
  test('NOTES.txt tells the scaling range and the drain settings', () => {
    const notes = (c: string): string => readFileSync(join(outDir, `${c}.notes.yaml`), 'utf8');
    assert.match(notes('keda'), /Scaling: KEDA on consumer lag, 2\.\.12 replicas\./);
    assert.match(
      notes('keda'),
      /consumer groups reco-heating-user, reco-heating-content, reco-heating-allocator/,
    );
    assert.match(notes('default'), /Scaling: fixed, 2 replicas\./);
    assert.match(notes('drain'), /terminationGracePeriodSeconds 76\./);
    assert.match(
      notes('gpu'),
      /learned allocation scorer on webgpu \(THERMOSTAT_TF_BACKEND=webgpu; .*WEBGPU=true/,
    );
    assert.match(notes('gpu-cuda'), /THERMOSTAT_TF_BACKEND=gpu; .*TFJS_GPU=true on a CUDA 11 base/);
    assert.match(notes('servicemonitor'), /Alerts: PrometheusRule thermostat; .*docs\/RUNBOOK\.md/);
    assert.match(notes('networkpolicy'), /egress only to DNS, Kafka, Redis, the Schema Registry\./);
  });
  test('bad values are rejected at install, naming the wrong value', () => {
    for (const r of REJECTS) expectPass(`reject:${r}`);
    assert.match(results.get('reject:replicaCount-string')!.detail, /replicaCount.*integer/);
    assert.match(results.get('reject:unknown-backend')!.detail, /tfBackend/);
  });
  test('the validator itself rejects unknown fields and wrongly typed CRD fields', () => {
    for (const s of SELFCHECKS) expectPass(`selfcheck:${s}`);
  });
  test('promtool: the alert rules and every dashboard query parse; the alert unit tests pass', () => {
    expectPass('promtool:check-rules');
    assert.match(results.get('promtool:check-rules')!.detail, /SUCCESS: 10 rules found/);
    expectPass('promtool:test-rules');
    expectPass('promtool:dashboard');
    assert.match(results.get('promtool:dashboard')!.detail, /SUCCESS: \d+ rules found/);
  });
  test('the Dockerfile passes hadolint', () => {
    expectPass('lint:dockerfile');
  });
});

describe('docs/DEPLOY.md (Helm values table)', () => {
  test('the values table documents every value the schema accepts', () => {
    const schema = JSON.parse(readFileSync(join(root, 'helm/thermostat/values.schema.json'), 'utf8'));
    const leaves = (s: K8s, prefix: string): string[] =>
      s.properties && s.additionalProperties === false
        ? Object.entries(s.properties).flatMap(([k, sub]) => leaves(sub, prefix ? `${prefix}.${k}` : k))
        : [prefix];
    const paths = leaves(schema, '');
    assert.ok(paths.length > 100, `schema leaves: ${paths.length}`);
    const doc = readFileSync(join(root, 'docs/DEPLOY.md'), 'utf8');
    const rows = new Set([...doc.matchAll(/^\| `([^`]+)`\s*\|/gm)].map((m) => m[1]));
    assert.deepEqual(
      paths.filter((p) => !rows.has(p)),
      [],
      'values missing from the docs/DEPLOY.md values table',
    );
  });
});

describe('Dockerfile', () => {
  // Not buildable here (no container engine): check the structure the chart relies on.
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const stages = text.split(/^FROM /m).slice(1);
  const runtime = stages[stages.length - 1];

  test('multi-stage: the build stage compiles the native Kafka client and prunes dev dependencies', () => {
    assert.equal(stages.length, 2);
    assert.match(stages[0], /^\S+ AS build/);
    assert.match(stages[0], /CKJS_LINKING=dynamic/);
    for (const dev of [
      'libcurl4-openssl-dev',
      'libssl-dev',
      'libsasl2-dev',
      'zlib1g-dev',
      'libzstd-dev',
      'liblz4-dev',
    ]) {
      assert.match(stages[0], new RegExp(`\\b${dev}\\b`), dev);
    }
    assert.match(stages[0], /npm ci\b/);
    assert.match(stages[0], /npm run build/);
    assert.match(stages[0], /npm prune --omit=dev/);
  });

  test('runtime stage: runtime libraries only, non-root numeric user, runs the compiled job', () => {
    assert.match(runtime, /^\S+ AS runtime/);
    for (const lib of ['libcurl4', 'libssl3', 'libsasl2-2', 'zlib1g', 'libzstd1', 'liblz4-1']) {
      assert.match(runtime, new RegExp(`\\s${lib}\\s`), lib);
    }
    assert.doesNotMatch(runtime, /-dev\b|build-essential|npm (ci|install)/);
    const user = /^USER (\d+)(?::(\d+))?$/m.exec(runtime);
    assert.ok(user && Number(user[1]) > 0, 'USER is a non-root uid');
    // The chart runs the pod as this uid.
    const values = readFileSync(join(root, 'helm/thermostat/values.yaml'), 'utf8');
    assert.match(values, new RegExp(`runAsUser: ${user[1]}\\b`));
    assert.match(runtime, /THERMOSTAT_USE_DIST=1/);
    assert.match(runtime, /ENTRYPOINT \["node", "bin\/thermostat\.mjs"\]\s+CMD \["run"\]/);
    assert.match(runtime, /EXPOSE 9464/);
  });

  test('Node.js 22 LTS base pinned by digest, the same major as package.json engines', () => {
    const base = /^ARG NODE_IMAGE=(node:(\d+)[\w.-]*-bookworm-slim)@sha256:([0-9a-f]{64})$/m.exec(text);
    assert.ok(base, 'NODE_IMAGE is a node:<version>-bookworm-slim tag pinned by a sha256 digest');
    assert.equal(base[2], '22');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    assert.equal(pkg.engines.node, `>=${base[2]}`);
    for (const s of stages) assert.match(s, /^\$\{NODE_IMAGE\} AS /, 'every stage builds on the pinned base');
  });

  test('runtime stage: OCI labels, the revision for thermostat_build_info, a HEALTHCHECK on /healthz', () => {
    for (const label of [
      'title',
      'description',
      'licenses',
      'version',
      'revision',
      'created',
      'source',
      'base.name',
    ])
      assert.match(
        runtime,
        new RegExp(`org\\.opencontainers\\.image\\.${label.replace('.', '\\.')}=`),
        label,
      );
    assert.match(runtime, /org\.opencontainers\.image\.revision="\$\{REVISION\}"/);
    assert.match(runtime, /THERMOSTAT_REVISION=\$\{REVISION\}/);
    const hc = /^HEALTHCHECK [^\n]*(?:\\\n[^\n]*)*?CMD (\[.*\])$/m.exec(runtime);
    assert.ok(hc, 'HEALTHCHECK present');
    const [cmd, flag, script] = JSON.parse(hc[1]) as string[];
    assert.deepEqual([cmd, flag], ['node', '-e']);
    assert.match(script, /process\.env\.THERMOSTAT_HTTP_PORT \|\| 9464\) \+ '\/healthz'/);
    // WebGPU: Dawn's packages after the prune, the Vulkan loader in the runtime stage.
    assert.match(stages[0], /npm prune[\s\S]*WEBGPU[\s\S]*scripts\/webgpu\.sh/);
    assert.match(runtime, /WEBGPU" = true \]; then vulkan=libvulkan1/);
  });
});

describe('rendered manifests', () => {
  test('default: Deployment with restricted security, probes, /tmp emptyDir and drain-derived grace period', () => {
    const dep = one('default', 'Deployment');
    const pod = dep.spec.template.spec;
    const c = container('default');
    assert.equal(dep.spec.replicas, 2);
    // THERMOSTAT_SHUTDOWN_TIMEOUT_MS 25000 -> 25 s + 10 s margin.
    assert.equal(configMap('default').THERMOSTAT_SHUTDOWN_TIMEOUT_MS, '25000');
    assert.equal(pod.terminationGracePeriodSeconds, 35);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.equal(pod.automountServiceAccountToken, false);
    assert.deepEqual(
      {
        runAsNonRoot: c.securityContext.runAsNonRoot,
        readOnlyRootFilesystem: c.securityContext.readOnlyRootFilesystem,
        allowPrivilegeEscalation: c.securityContext.allowPrivilegeEscalation,
        drop: c.securityContext.capabilities.drop,
        seccomp: c.securityContext.seccompProfile.type,
      },
      {
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        drop: ['ALL'],
        seccomp: 'RuntimeDefault',
      },
    );
    const tmp = c.volumeMounts.find((m: K8s) => m.mountPath === '/tmp');
    assert.ok(tmp, '/tmp is mounted');
    assert.ok(pod.volumes.find((v: K8s) => v.name === tmp.name).emptyDir, '/tmp is an emptyDir');
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    assert.equal(c.startupProbe.httpGet.path, '/healthz');
    assert.deepEqual(c.ports, [{ name: 'metrics', containerPort: 9464, protocol: 'TCP' }]);
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory);
    assert.deepEqual(
      pod.topologySpreadConstraints.map((t: K8s) => t.topologyKey),
      ['topology.kubernetes.io/zone', 'kubernetes.io/hostname'],
    );
    for (const t of pod.topologySpreadConstraints)
      assert.deepEqual(t.labelSelector.matchLabels, dep.spec.selector.matchLabels);
    none('default', 'HorizontalPodAutoscaler');
    none('default', 'ScaledObject');
    none('default', 'ServiceMonitor');
    none('default', 'PrometheusRule');
    none('default', 'NetworkPolicy');
    assert.equal(configMap('default').THERMOSTAT_HTTP_HOST, '0.0.0.0');
    assert.equal(configMap('default').THERMOSTAT_SCORER, undefined, 'the rule scorer by default');
    assert.equal(configMap('default').THERMOSTAT_LEARN_ONLINE, undefined, 'no online learning by default');
  });

  test('learning: online learning and LLM reward weights switched on through the ConfigMap', () => {
    const cm = configMap('learning');
    assert.equal(cm.THERMOSTAT_LEARN_ONLINE, 'true');
    assert.equal(cm.THERMOSTAT_LLM_ENABLED, 'true');
    assert.equal(cm.THERMOSTAT_LLM_URL, 'https://llm.internal/v1');
  });

  test('default: Service, PDB and every object carry the standard labels and select the pods', () => {
    const dep = one('default', 'Deployment');
    const selector = dep.spec.selector.matchLabels;
    assert.deepEqual(selector, {
      'app.kubernetes.io/name': 'thermostat',
      'app.kubernetes.io/instance': 'thermostat',
    });
    for (const [k, v] of Object.entries(selector)) assert.equal(dep.spec.template.metadata.labels[k], v);
    const svc = one('default', 'Service');
    assert.deepEqual(svc.spec.selector, selector);
    assert.deepEqual(svc.spec.ports, [
      { name: 'metrics', port: 9464, targetPort: 'metrics', protocol: 'TCP' },
    ]);
    const pdb = one('default', 'PodDisruptionBudget');
    assert.deepEqual(pdb.spec.selector.matchLabels, selector);
    assert.equal(pdb.spec.maxUnavailable, 1);
    for (const d of docs('default')) {
      for (const l of [
        'app.kubernetes.io/name',
        'app.kubernetes.io/instance',
        'app.kubernetes.io/version',
        'app.kubernetes.io/managed-by',
        'helm.sh/chart',
      ]) {
        assert.ok(d.metadata.labels?.[l], `${d.kind}/${d.metadata.name} lacks label ${l}`);
      }
      assert.equal(d.metadata.namespace, 'streaming', `${d.kind}/${d.metadata.name} namespace`);
    }
  });

  test('default: the ConfigMap only sets variables the job reads, and the dashboard ships labelled for Grafana', () => {
    for (const name of Object.keys(configMap('default'))) {
      assert.ok(
        name in ENV_KEYS || OTHER_ENV.has(name),
        `ConfigMap sets ${name}, which the job does not read`,
      );
    }
    for (const c of CASES) {
      const d = docs(c).find((x) => x.kind === 'ConfigMap' && x.metadata.name === 'thermostat');
      for (const name of Object.keys(d.data))
        assert.ok(name in ENV_KEYS || OTHER_ENV.has(name), `${c}: ${name}`);
    }
    assert.equal(configMap('default').KAFKA_BROKERS, 'kafka:9092');
    assert.equal(configMap('default').THERMOSTAT_HTTP_PORT, '9464');
    const dash = one('default', 'ConfigMap', 'thermostat-dashboard');
    assert.equal(dash.metadata.labels.grafana_dashboard, '1');
    const shipped = JSON.parse(dash.data['thermostat.json']);
    const source = JSON.parse(readFileSync(join(root, 'helm/thermostat/dashboards/thermostat.json'), 'utf8'));
    assert.deepEqual(shipped, source);
  });

  test('drain: terminationGracePeriodSeconds = ceil(shutdownTimeoutMs / 1000) + margin', () => {
    assert.equal(configMap('drain').THERMOSTAT_SHUTDOWN_TIMEOUT_MS, '60500');
    assert.equal(one('drain', 'Deployment').spec.template.spec.terminationGracePeriodSeconds, 61 + 15);
    none('drain', 'PodDisruptionBudget');
    none('drain', 'ServiceAccount');
    assert.equal(one('drain', 'Deployment').spec.template.spec.topologySpreadConstraints, undefined);
  });

  test('static-membership: THERMOSTAT_INSTANCE_ID is the pod name (downward API); off by default', () => {
    assert.deepEqual(envVar('static-membership', 'THERMOSTAT_INSTANCE_ID'), {
      name: 'THERMOSTAT_INSTANCE_ID',
      valueFrom: { fieldRef: { fieldPath: 'metadata.name' } },
    });
    assert.equal(envVar('default', 'THERMOSTAT_INSTANCE_ID'), undefined);
    assert.equal(configMap('default').THERMOSTAT_INSTANCE_ID, undefined);
  });

  test('keda: ScaledObject on the consumer groups, capped at the partition count, with Kafka auth', () => {
    const so = one('keda', 'ScaledObject');
    assert.equal(one('keda', 'Deployment').spec.replicas, undefined, 'KEDA owns the replica count');
    assert.equal(so.spec.scaleTargetRef.name, one('keda', 'Deployment').metadata.name);
    assert.equal(so.spec.minReplicaCount, 2);
    assert.equal(so.spec.maxReplicaCount, 12, 'maxReplicas 48 capped at inputPartitions 12');
    assert.deepEqual(
      so.spec.triggers.map((t: K8s) => [t.type, t.metadata.consumerGroup, t.metadata.topic]),
      [
        ['kafka', 'reco-heating-user', 'user-interactions'],
        ['kafka', 'reco-heating-content', 'reco-heating-content-events'],
      ],
    );
    const auth = one('keda', 'TriggerAuthentication');
    for (const t of so.spec.triggers) {
      assert.equal(t.metadata.allowIdleConsumers, 'false');
      assert.equal(t.metadata.lagThreshold, '5000');
      assert.equal(t.metadata.sasl, 'scram_sha512');
      assert.equal(t.metadata.tls, 'enable');
      assert.equal(t.authenticationRef.name, auth.metadata.name);
    }
    assert.deepEqual(
      auth.spec.secretTargetRef.map((r: K8s) => `${r.parameter}=${r.name}/${r.key}`),
      ['username=kafka-credentials/username', 'password=kafka-credentials/password', 'ca=kafka-ca/ca.crt'],
    );
  });

  test('hpa: external lag metric, maxReplicas capped at the partition count; minAvailable PDB', () => {
    const hpa = one('hpa', 'HorizontalPodAutoscaler');
    assert.equal(hpa.spec.maxReplicas, 4, 'maxReplicas 10 capped at inputPartitions 4');
    assert.equal(hpa.spec.metrics[0].type, 'External');
    assert.equal(hpa.spec.metrics[0].external.metric.name, 'thermostat_consumer_lag_records');
    assert.equal(hpa.spec.metrics[0].external.target.averageValue, '20000');
    assert.equal(one('hpa', 'Deployment').spec.replicas, undefined);
    const pdb = one('hpa', 'PodDisruptionBudget');
    assert.equal(pdb.spec.minAvailable, '50%');
    assert.equal(pdb.spec.maxUnavailable, undefined);
    const cpu = one('hpa-cpu', 'HorizontalPodAutoscaler');
    assert.equal(cpu.spec.maxReplicas, 6);
    assert.equal(cpu.spec.metrics[0].resource.target.averageUtilization, 75);
  });

  test('gpu: nvidia.com/gpu limit, GPU node selector and tolerations, the learned scorer on WebGPU', () => {
    const pod = one('gpu', 'Deployment').spec.template.spec;
    assert.equal(container('gpu').resources.limits['nvidia.com/gpu'], 1);
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/arch': 'amd64', 'nvidia.com/gpu.present': 'true' });
    assert.deepEqual(pod.tolerations.map((t: K8s) => t.key).sort(), ['dedicated', 'nvidia.com/gpu']);
    assert.equal(pod.runtimeClassName, 'nvidia');
    assert.equal(configMap('gpu').THERMOSTAT_TF_BACKEND, 'webgpu');
    assert.equal(configMap('gpu').THERMOSTAT_SCORER, 'learned');
    // Dawn needs the Vulkan ICD, which the NVIDIA runtime mounts only with "graphics".
    assert.deepEqual(envVar('gpu', 'NVIDIA_DRIVER_CAPABILITIES'), {
      name: 'NVIDIA_DRIVER_CAPABILITIES',
      value: 'compute,utility,graphics',
    });
    assert.equal(configMap('default').THERMOSTAT_TF_BACKEND, 'auto');
    assert.equal(container('default').resources.limits['nvidia.com/gpu'], undefined);
    assert.equal(envVar('default', 'NVIDIA_DRIVER_CAPABILITIES'), undefined);
  });

  test('gpu-cuda: gpu.backend tfjs-node-gpu selects the CUDA backend, two GPUs, no Vulkan capability', () => {
    assert.equal(configMap('gpu-cuda').THERMOSTAT_TF_BACKEND, 'gpu');
    assert.equal(configMap('gpu-cuda').THERMOSTAT_SCORER, 'learned');
    assert.equal(container('gpu-cuda').resources.limits['nvidia.com/gpu'], 2);
    assert.equal(envVar('gpu-cuda', 'NVIDIA_DRIVER_CAPABILITIES'), undefined);
    assert.equal(one('gpu-cuda', 'Deployment').spec.template.spec.runtimeClassName, undefined);
  });

  test('servicemonitor: PrometheusRule with every alert, on the release series, each with its runbook entry', () => {
    const pr = one('servicemonitor', 'PrometheusRule');
    assert.equal(pr.metadata.labels.release, 'kube-prometheus-stack');
    const rules = pr.spec.groups.flatMap((g: K8s) => g.rules);
    assert.deepEqual(
      rules.map((r: K8s) => r.alert),
      [
        'ThermostatJobDown',
        'ThermostatInstanceDown',
        'ThermostatConsumerLagGrowing',
        'ThermostatConsumerGroupLagGrowing',
        'ThermostatDeadLetterRateHigh',
        'ThermostatCheckpointsFailing',
        'ThermostatCheckpointStale',
        'ThermostatRedisDegraded',
        'ThermostatAllocatorStalled',
        'ThermostatHeatingCapBinding',
      ],
    );
    const runbook = readFileSync(join(root, 'docs/RUNBOOK.md'), 'utf8');
    const base = 'https://git.example.com/platform/thermostat/blob/main/docs/RUNBOOK.md#';
    for (const r of rules) {
      assert.equal(r.labels.team, 'streaming', `${r.alert}: alertLabels`);
      assert.ok(['critical', 'warning', 'info'].includes(r.labels.severity), r.alert);
      assert.ok(r.annotations.runbook_url.startsWith(base), r.alert);
      const anchor = r.annotations.runbook_url.slice(base.length);
      assert.ok(
        [...runbook.matchAll(/^## (\w+)$/gm)].some((m) => m[1].toLowerCase() === anchor),
        `${r.alert}: no RUNBOOK.md section for #${anchor}`,
      );
      const expr = String(r.expr);
      if (r.alert === 'ThermostatConsumerGroupLagGrowing')
        assert.match(
          expr,
          /kafka_consumergroup_lag\{consumergroup=~"thermostat-\(user\|content\|allocator\)", cluster="prod"\}/,
        );
      else
        for (const sel of expr.match(/\b(up|thermostat_\w+)\{[^}]*\}/g) ?? [])
          assert.match(sel, /\{job="thermostat", namespace="streaming"/, `${r.alert}: ${sel}`);
    }
    // Job down reads up, not the job's own metrics, and carries the release's labels itself.
    const down = rules.find((r: K8s) => r.alert === 'ThermostatJobDown');
    assert.equal(down.expr, 'absent(up{job="thermostat", namespace="streaming"} == 1)');
    assert.deepEqual([down.labels.namespace, down.labels.job], ['streaming', 'thermostat']);
    // 10 ticks of config.tickMs (60 s) = 600 s.
    assert.match(rules.find((r: K8s) => r.alert === 'ThermostatAllocatorStalled').expr, /\[600s\]/);
  });

  test('networkpolicy: ingress only to the metrics port from Prometheus; egress only to DNS, Kafka, Redis, registry', () => {
    const np = one('networkpolicy', 'NetworkPolicy');
    assert.deepEqual(
      np.spec.podSelector.matchLabels,
      one('networkpolicy', 'Deployment').spec.selector.matchLabels,
    );
    assert.deepEqual(np.spec.policyTypes, ['Ingress', 'Egress']);
    assert.equal(np.spec.ingress.length, 1);
    assert.deepEqual(np.spec.ingress[0].ports, [{ port: 'metrics', protocol: 'TCP' }]);
    assert.deepEqual(np.spec.ingress[0].from[0].namespaceSelector.matchLabels, {
      'kubernetes.io/metadata.name': 'monitoring',
    });
    const ports = np.spec.egress.map((e: K8s) =>
      e.ports.map((p: K8s) => `${p.port}/${p.protocol}`).join(','),
    );
    assert.deepEqual(
      ports,
      ['53/UDP,53/TCP', '9093/TCP', '6379/TCP,26379/TCP', '8081/TCP'],
      'no LLM rule: llm is off',
    );
    for (const e of np.spec.egress) assert.ok(e.to?.length > 0, 'every egress rule names its destinations');
    assert.equal(configMap('networkpolicy').THERMOSTAT_HTTP_HOST, '::');
  });

  test('servicemonitor: scrapes /metrics on the Service port, dashboard in the Grafana namespace', () => {
    const sm = one('servicemonitor', 'ServiceMonitor');
    const svc = one('servicemonitor', 'Service');
    assert.equal(sm.metadata.labels.release, 'kube-prometheus-stack');
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels))
      assert.equal(svc.metadata.labels[k], v);
    assert.deepEqual(sm.spec.namespaceSelector.matchNames, ['streaming']);
    assert.deepEqual(
      sm.spec.endpoints.map((e: K8s) => [e.port, e.path, e.interval]),
      [[svc.spec.ports[0].name, '/metrics', '15s']],
    );
    const dash = one('servicemonitor', 'ConfigMap', 'thermostat-dashboard');
    assert.equal(dash.metadata.namespace, 'monitoring');
    assert.equal(dash.metadata.annotations.grafana_folder, 'Streaming');
  });

  test('external-secrets: credentials only through Secret references, wired into the job config', () => {
    const cm = configMap('external-secrets');
    const text = JSON.stringify(docs('external-secrets'));
    assert.equal(cm.REDIS_URL, 'rediss://redis.internal:6380/0', 'the URL carries no credentials');
    assert.equal(cm.REDIS_USERNAME, 'thermostat');
    assert.equal(cm.THERMOSTAT_KAFKA_RDKAFKA, undefined, 'SASL config is composed in the pod');
    assert.doesNotMatch(JSON.stringify(cm), /password|sasl\.username/i);
    assert.equal(
      docs('external-secrets').filter((d) => d.kind === 'Secret').length,
      0,
      'the chart never creates Secrets',
    );
    const env = envOf('external-secrets');
    const names = env.map((e: K8s) => e.name);
    const fromSecret = (n: string): string => {
      const ref = envVar('external-secrets', n).valueFrom.secretKeyRef;
      return `${ref.name}/${ref.key}`;
    };
    assert.equal(fromSecret('KAFKA_SASL_USERNAME'), 'thermostat-kafka/user');
    assert.equal(fromSecret('KAFKA_SASL_PASSWORD'), 'thermostat-kafka/pass');
    assert.equal(fromSecret('REDIS_PASSWORD'), 'thermostat-redis/redis-password');
    assert.equal(fromSecret('THERMOSTAT_LLM_API_KEY'), 'thermostat-llm/token');
    // $(VAR) expands only from variables defined earlier in the list.
    assert.ok(names.indexOf('KAFKA_SASL_PASSWORD') < names.indexOf('THERMOSTAT_KAFKA_RDKAFKA'));
    assert.equal(
      envVar('external-secrets', 'REDIS_URL'),
      undefined,
      'REDIS_PASSWORD is read by the job itself',
    );
    const rd = JSON.parse(
      envVar('external-secrets', 'THERMOSTAT_KAFKA_RDKAFKA')
        .value.replace('$(KAFKA_SASL_USERNAME)', 'u')
        .replace('$(KAFKA_SASL_PASSWORD)', 'p'),
    );
    assert.deepEqual(rd, {
      'client.rack': 'use1-az1',
      'security.protocol': 'SASL_SSL',
      'sasl.mechanisms': 'SCRAM-SHA-256',
      'sasl.username': 'u',
      'sasl.password': 'p',
      'ssl.ca.location': '/etc/thermostat/kafka-tls/ca.crt',
      'ssl.certificate.location': '/etc/thermostat/kafka-tls/tls.crt',
      'ssl.key.location': '/etc/thermostat/kafka-tls/tls.key',
    });
    // Every file the configuration points to is mounted from the right Secret / ConfigMap.
    const pod = one('external-secrets', 'Deployment').spec.template.spec;
    const mountedFrom = (path: string): K8s => {
      const m = container('external-secrets').volumeMounts.find((v: K8s) =>
        path.startsWith(`${v.mountPath}/`),
      );
      assert.ok(m, `${path} is not under a mount`);
      return pod.volumes.find((v: K8s) => v.name === m.name);
    };
    assert.equal(mountedFrom(rd['ssl.ca.location']).secret.secretName, 'thermostat-kafka-tls');
    assert.equal(mountedFrom(cm.NODE_EXTRA_CA_CERTS).secret.secretName, 'thermostat-redis-ca');
    const fileCm = mountedFrom(cm.THERMOSTAT_CONFIG).configMap.name;
    const file = JSON.parse(one('external-secrets', 'ConfigMap', fileCm).data['config.json']);
    assert.deepEqual(file, { kafka: { batchSize: 5000 }, watermark: { allowedLatenessMs: 10000 } });
    assert.equal(cm.SCHEMA_REGISTRY_URL, 'https://schema-registry.internal:8081');
    assert.equal(cm.THERMOSTAT_LLM_URL, 'https://llm.internal/v1');
    assert.doesNotMatch(text, /"(token|pass|redis-password)":/, 'no secret value is inlined');
  });

  test('redis-sentinel / redis-cluster: the topology in REDIS_URL, passwords and registry credentials from Secrets', () => {
    const fromSecret = (c: string, n: string): string => {
      const ref = envVar(c, n).valueFrom.secretKeyRef;
      return `${ref.name}/${ref.key}`;
    };
    const sentinel = configMap('redis-sentinel');
    assert.match(sentinel.REDIS_URL, /^redis\+sentinel:\/\/redis-sentinel-0\.redis:26379,.*\/thermostat$/);
    assert.equal(fromSecret('redis-sentinel', 'REDIS_PASSWORD'), 'thermostat-redis/redis-password');
    assert.equal(
      fromSecret('redis-sentinel', 'REDIS_SENTINEL_PASSWORD'),
      'thermostat-redis/sentinel-password',
    );
    assert.equal(sentinel.SCHEMA_REGISTRY_MODE, 'lookup');
    assert.equal(
      fromSecret('redis-sentinel', 'SCHEMA_REGISTRY_USERNAME'),
      'thermostat-schema-registry/api-key',
    );
    assert.equal(
      fromSecret('redis-sentinel', 'SCHEMA_REGISTRY_PASSWORD'),
      'thermostat-schema-registry/api-secret',
    );
    assert.equal(envVar('redis-sentinel', 'SCHEMA_REGISTRY_BEARER_TOKEN'), undefined);

    const cluster = configMap('redis-cluster');
    assert.match(cluster.REDIS_URL, /^rediss\+cluster:\/\//);
    assert.equal(cluster.REDIS_USERNAME, 'thermostat');
    assert.equal(cluster.SCHEMA_REGISTRY_MODE, 'register');
    assert.deepEqual(
      [cluster.SCHEMA_REGISTRY_LOGICAL_CLUSTER, cluster.SCHEMA_REGISTRY_IDENTITY_POOL_ID],
      ['lsrc-abc123', 'pool-xyz'],
    );
    assert.equal(
      fromSecret('redis-cluster', 'SCHEMA_REGISTRY_BEARER_TOKEN'),
      'thermostat-schema-registry-token/token',
    );
    assert.equal(envVar('redis-cluster', 'SCHEMA_REGISTRY_USERNAME'), undefined);
    // The default renders no registry credentials at all.
    assert.equal(envVar('default', 'SCHEMA_REGISTRY_USERNAME'), undefined);
    assert.equal(configMap('default').SCHEMA_REGISTRY_MODE, undefined);
  });

  test('redis-url-secret: REDIS_URL straight from a Secret; KEDA without auth on the user stage only', () => {
    assert.equal(configMap('redis-url-secret').REDIS_URL, undefined);
    const ref = envVar('redis-url-secret', 'REDIS_URL').valueFrom.secretKeyRef;
    assert.deepEqual(ref, { name: 'thermostat-redis-url', key: 'url' });
    const so = one('redis-url-secret', 'ScaledObject');
    assert.equal(so.spec.triggers.length, 1);
    assert.equal(so.spec.triggers[0].metadata.consumerGroup, 'thermostat-user');
    assert.equal(so.spec.triggers[0].authenticationRef, undefined);
    assert.equal(so.spec.maxReplicaCount, 6, 'maxReplicas 6, inputPartitions 6');
    none('redis-url-secret', 'TriggerAuthentication');
  });
});
