import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

/**
 * deploy/kubernetes (kustomize) and deploy/helm/crm-api: static checks of the manifests against
 * what the application really does (README.md's configuration table, the health endpoints and
 * port, the graceful shutdown bound), so a renamed variable or a moved probe path shows up here.
 * No application, no database, no cluster. Where `kubectl` is installed the kustomization is
 * rendered (`kubectl kustomize`, offline) and checked too, and `kubectl apply --dry-run=client -k`
 * runs when it can (it needs an API server for discovery; skipped without one). Where `helm` is
 * installed, `helm lint` and `helm template` run and their output gets the same checks.
 */

// Jest runs from the project root (the ESM test files have no __dirname).
const ROOT = process.cwd();
const K8S_DIR = join(ROOT, 'deploy/kubernetes');
const CHART_DIR = join(ROOT, 'deploy/helm/crm-api');

const LIVENESS_PATH = '/api/v1/health';
const READINESS_PATH = '/api/v1/health/ready';
const APP_PORT_DEFAULT = 3000;
const SECRET_KEYS = [
  'DATABASE_URL',
  'JWT_ACCESS_SECRET',
  'JWT_REFRESH_SECRET',
  'REDIS_URL',
  'AMQP_URL',
  'METRICS_TOKEN',
  'SMTP_URL',
];
/** Files of deploy/kubernetes that kustomization.yaml may leave out (they need CRDs). */
const OPTIONAL_MANIFESTS = ['servicemonitor.yaml'];

/** apiVersion of every kind the manifests may hold. */
const API_VERSIONS: Readonly<Record<string, string>> = {
  Namespace: 'v1',
  ConfigMap: 'v1',
  Secret: 'v1',
  Deployment: 'apps/v1',
  Service: 'v1',
  HorizontalPodAutoscaler: 'autoscaling/v2',
  PodDisruptionBudget: 'policy/v1',
  Ingress: 'networking.k8s.io/v1',
  ServiceMonitor: 'monitoring.coreos.com/v1',
};
const REQUIRED_KINDS = [
  'ConfigMap',
  'Secret',
  'Deployment',
  'Service',
  'HorizontalPodAutoscaler',
  'PodDisruptionBudget',
  'Ingress',
];

// --- minimal shapes of the objects read --------------------------------------------------------

type Labels = Record<string, string>;
interface Probe {
  httpGet?: { path: string; port: string | number };
  periodSeconds?: number;
  failureThreshold?: number;
  timeoutSeconds?: number;
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
}
interface Container {
  name: string;
  image: string;
  ports?: { name?: string; containerPort: number }[];
  env?: {
    name: string;
    valueFrom?: {
      configMapKeyRef?: { name: string; key: string };
      secretKeyRef?: { name: string; key: string };
    };
  }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  securityContext?: SecurityContext;
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  securityContext?: SecurityContext;
  volumes?: { name: string; emptyDir?: object }[];
  topologySpreadConstraints?: { topologyKey: string; labelSelector?: { matchLabels?: Labels } }[];
  affinity?: {
    podAntiAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: { topologyKey: string }[];
      preferredDuringSchedulingIgnoredDuringExecution?: {
        podAffinityTerm: { topologyKey: string };
      }[];
    };
  };
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Labels; annotations?: Labels };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  // The kinds' specs, read field by field below.
  spec?: {
    replicas?: number;
    selector?: Labels | { matchLabels?: Labels };
    strategy?: { type?: string; rollingUpdate?: { maxUnavailable?: number | string } };
    template?: { metadata?: { labels?: Labels; annotations?: Labels }; spec: PodSpec };
    ports?: { name?: string; port: number; targetPort?: string | number }[];
    scaleTargetRef?: { apiVersion: string; kind: string; name: string };
    minReplicas?: number;
    maxReplicas?: number;
    metrics?: {
      type: string;
      resource?: { name: string; target: { type: string; averageUtilization?: number } };
    }[];
    minAvailable?: number | string;
    maxUnavailable?: number | string;
    ingressClassName?: string;
    tls?: { hosts?: string[]; secretName?: string }[];
    rules?: {
      host?: string;
      http?: {
        paths: {
          path: string;
          pathType: string;
          backend: { service: { name: string; port: { name?: string; number?: number } } };
        }[];
      };
    }[];
    endpoints?: {
      port?: string;
      path?: string;
      authorization?: { credentials?: { name: string; key: string } };
    }[];
  };
}

// --- helpers --------------------------------------------------------------------------------

/** Every document of a YAML stream; fails on any parse error. Empty documents are dropped. */
function parseStream(text: string, where: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      throw new Error(`${where}: ${doc.errors.map((e) => e.message).join('; ')}`);
    }
    const value = doc.toJS() as Manifest | null;
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

/** The variables of README.md's "Configuration" table (its first column). */
function readmeVariables(): Map<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## Configuration');
  const end = readme.indexOf('\n## ', start + 1);
  if (start === -1) throw new Error('README.md has no "## Configuration" section');
  const vars = new Map<string, string>();
  for (const line of readme.slice(start, end === -1 ? undefined : end).split('\n')) {
    const m = /^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|\s*([^|]*)\|/.exec(line);
    if (m) vars.set(m[1], m[2].trim().replace(/^`|`$/g, ''));
  }
  return vars;
}

function which(cmd: string): boolean {
  return spawnSync('which', [cmd], { encoding: 'utf8' }).status === 0;
}

function run(cmd: string, args: string[]): { status: number | null; out: string; err: string } {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return {
    status: r.status,
    out: r.stdout ?? '',
    err: `${r.stderr ?? ''}${r.error?.message ?? ''}`,
  };
}

function one(manifests: Manifest[], kind: string): Manifest {
  const found = manifests.filter((m) => m.kind === kind);
  expect({ kind, count: found.length }).toEqual({ kind, count: 1 });
  return found[0];
}

function matchLabels(selector: Labels | { matchLabels?: Labels } | undefined): Labels {
  if (!selector) return {};
  if ('matchLabels' in selector && typeof selector.matchLabels === 'object') {
    return selector.matchLabels;
  }
  return selector as Labels;
}

function selects(selector: Labels, labels: Labels | undefined): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels?.[k] === v);
}

function toInt(v: number | string | undefined, what: string): number {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n)) throw new Error(`${what} is not an integer: ${String(v)}`);
  return n;
}

/** Seconds the preStop hook waits (exec `sleep N` or the native sleep action). */
function preStopSeconds(c: Container): number {
  const preStop = c.lifecycle?.preStop;
  if (preStop?.sleep) return preStop.sleep.seconds;
  const cmd = preStop?.exec?.command ?? [];
  const i = cmd.findIndex((part) => /(^|\/)sleep$/.test(part));
  return i === -1 ? 0 : Number(cmd[i + 1]);
}

/**
 * The checks shared by the kustomize manifests and the chart's rendered output: the set of
 * objects as a whole (what references what, the numbers that must agree).
 */
function checkObjects(manifests: Manifest[], vars: Map<string, string>, where: string): void {
  // Kinds and apiVersions.
  for (const m of manifests) {
    expect({ where, kind: m.kind, known: m.kind in API_VERSIONS }).toEqual({
      where,
      kind: m.kind,
      known: true,
    });
    expect({ where, kind: m.kind, apiVersion: m.apiVersion }).toEqual({
      where,
      kind: m.kind,
      apiVersion: API_VERSIONS[m.kind],
    });
    expect(m.metadata?.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  }
  for (const kind of REQUIRED_KINDS) one(manifests, kind);

  const configMap = one(manifests, 'ConfigMap');
  const secret = one(manifests, 'Secret');
  const deployment = one(manifests, 'Deployment');
  const service = one(manifests, 'Service');
  const hpa = one(manifests, 'HorizontalPodAutoscaler');
  const pdb = one(manifests, 'PodDisruptionBudget');
  const ingress = one(manifests, 'Ingress');

  // Environment: every name is a documented variable; nothing secret in the ConfigMap.
  const config = configMap.data ?? {};
  const secretKeys = [...Object.keys(secret.stringData ?? {}), ...Object.keys(secret.data ?? {})];
  const pod = deployment.spec!.template!.spec;
  const container = pod.containers[0];
  expect(pod.containers).toHaveLength(1);
  const envNames = [
    ...Object.keys(config),
    ...secretKeys,
    ...(container.env ?? []).map((e) => e.name),
    ...(container.env ?? []).flatMap((e) => {
      const ref = e.valueFrom?.configMapKeyRef ?? e.valueFrom?.secretKeyRef;
      return ref ? [ref.key] : [];
    }),
  ];
  const undocumented = envNames.filter((name) => !vars.has(name));
  expect({ where, undocumented }).toEqual({ where, undocumented: [] });
  const secretInConfig = Object.keys(config).filter((k) => SECRET_KEYS.includes(k));
  expect({ where, secretInConfig }).toEqual({ where, secretInConfig: [] });
  expect(config.NODE_ENV).toBe('production');
  for (const key of ['DATABASE_URL', 'JWT_ACCESS_SECRET', 'JWT_REFRESH_SECRET']) {
    expect({ where, key, inSecret: secretKeys.includes(key) }).toEqual({
      where,
      key,
      inSecret: true,
    });
  }
  for (const ref of container.envFrom ?? []) {
    if (ref.configMapRef) expect(ref.configMapRef.name).toBe(configMap.metadata.name);
    if (ref.secretRef) expect(ref.secretRef.name).toBe(secret.metadata.name);
  }
  expect((container.envFrom ?? []).some((r) => r.secretRef)).toBe(true);
  expect((container.envFrom ?? []).some((r) => r.configMapRef)).toBe(true);

  // Port and probes.
  const port = Number(config.PORT ?? vars.get('PORT') ?? APP_PORT_DEFAULT);
  expect(port).toBe(APP_PORT_DEFAULT); // the image's EXPOSE and HEALTHCHECK
  const http = (container.ports ?? []).find((p) => p.containerPort === port);
  expect(http).toBeDefined();
  const probePortOk = (probe: Probe | undefined): boolean =>
    probe?.httpGet?.port === port ||
    (http?.name !== undefined && probe?.httpGet?.port === http.name);
  const probes = {
    startup: container.startupProbe?.httpGet?.path,
    liveness: container.livenessProbe?.httpGet?.path,
    readiness: container.readinessProbe?.httpGet?.path,
  };
  expect({ where, probes }).toEqual({
    where,
    probes: { startup: LIVENESS_PATH, liveness: LIVENESS_PATH, readiness: READINESS_PATH },
  });
  for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
    expect({ where, probePort: probe?.httpGet?.port, ok: probePortOk(probe) }).toMatchObject({
      ok: true,
    });
  }
  // The startup probe must leave time for migrations run one pod at a time.
  const startup = container.startupProbe!;
  expect((startup.periodSeconds ?? 10) * (startup.failureThreshold ?? 3)).toBeGreaterThanOrEqual(
    120,
  );

  // Shutdown: preStop sleep (the Service stops routing), then SIGTERM and the app's drain,
  // all within the grace period.
  const shutdownMs = Number(config.SHUTDOWN_TIMEOUT_MS ?? vars.get('SHUTDOWN_TIMEOUT_MS'));
  expect(Number.isFinite(shutdownMs)).toBe(true);
  const sleep = preStopSeconds(container);
  expect(sleep).toBeGreaterThan(0);
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  expect(grace * 1000).toBeGreaterThan(shutdownMs);
  expect(grace * 1000).toBeGreaterThan(sleep * 1000 + shutdownMs);

  // Security context: non-root, read-only root, no capabilities, DATA_DIR on an emptyDir.
  const csc = container.securityContext ?? {};
  const psc = pod.securityContext ?? {};
  expect(csc.runAsNonRoot ?? psc.runAsNonRoot).toBe(true);
  expect(csc.runAsUser ?? psc.runAsUser).not.toBe(0);
  expect(csc.readOnlyRootFilesystem).toBe(true);
  expect(csc.allowPrivilegeEscalation).toBe(false);
  expect(csc.privileged ?? false).toBe(false);
  expect(csc.capabilities?.drop).toContain('ALL');
  expect(csc.capabilities?.add ?? []).toEqual([]);
  const dataDir = config.DATA_DIR ?? vars.get('DATA_DIR');
  expect(dataDir).toMatch(/^\//);
  const mount = (container.volumeMounts ?? []).find((v) => v.mountPath === dataDir);
  expect({ where, dataDirMounted: mount !== undefined }).toEqual({ where, dataDirMounted: true });
  const volume = (pod.volumes ?? []).find((v) => v.name === mount?.name);
  expect(volume?.emptyDir).toBeDefined();

  // Resources.
  for (const kind of ['requests', 'limits'] as const) {
    expect(container.resources?.[kind]?.cpu).toBeDefined();
    expect(container.resources?.[kind]?.memory).toBeDefined();
  }

  // Image: crm-api:<version> or a digest.
  expect(container.image).toMatch(/(^|\/)crm-api(:\d+\.\d+\.\d+\S*|@sha256:[0-9a-f]{64})$/);

  // Rollout and spreading.
  expect(deployment.spec!.strategy?.type ?? 'RollingUpdate').toBe('RollingUpdate');
  expect(toInt(deployment.spec!.strategy?.rollingUpdate?.maxUnavailable, 'maxUnavailable')).toBe(0);
  const podLabels = deployment.spec!.template!.metadata?.labels;
  const deploySelector = matchLabels(deployment.spec!.selector);
  expect(selects(deploySelector, podLabels)).toBe(true);
  const hostSpread =
    (pod.topologySpreadConstraints ?? []).some(
      (t) =>
        t.topologyKey === 'kubernetes.io/hostname' &&
        selects(t.labelSelector?.matchLabels ?? {}, podLabels),
    ) ||
    (pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).some(
      (t) => t.topologyKey === 'kubernetes.io/hostname',
    ) ||
    (pod.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).some(
      (t) => t.podAffinityTerm.topologyKey === 'kubernetes.io/hostname',
    );
  expect({ where, hostSpread }).toEqual({ where, hostSpread: true });

  // Service -> pods.
  expect(selects(matchLabels(service.spec!.selector), podLabels)).toBe(true);
  const servicePort = service.spec!.ports![0];
  expect([port, http?.name]).toContain(servicePort.targetPort ?? servicePort.port);

  // Replicas, HPA, PDB: minAvailable < minReplicas <= maxReplicas.
  expect(hpa.spec!.scaleTargetRef).toEqual({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    name: deployment.metadata.name,
  });
  const min = hpa.spec!.minReplicas!;
  const max = hpa.spec!.maxReplicas!;
  const minAvailable = toInt(pdb.spec!.minAvailable, 'PDB minAvailable');
  expect({ where, min, max, minAvailable }).toEqual({ where, min: 3, max: 10, minAvailable: 2 });
  expect(minAvailable).toBeLessThan(min);
  expect(min).toBeLessThanOrEqual(max);
  if (deployment.spec!.replicas !== undefined) {
    expect(deployment.spec!.replicas).toBeGreaterThanOrEqual(min);
    expect(deployment.spec!.replicas).toBeLessThanOrEqual(max);
  }
  expect(hpa.spec!.metrics).toContainEqual(
    expect.objectContaining({
      type: 'Resource',
      resource: expect.objectContaining({
        name: 'cpu',
        target: expect.objectContaining({ type: 'Utilization' }),
      }),
    }),
  );
  expect(selects(matchLabels(pdb.spec!.selector), podLabels)).toBe(true);

  // Ingress -> Service; TLS; /metrics never public.
  expect(ingress.spec!.tls?.[0]?.secretName).toBeTruthy();
  const paths = (ingress.spec!.rules ?? []).flatMap((r) => r.http?.paths ?? []);
  expect(paths.length).toBeGreaterThan(0);
  expect(paths.map((p) => p.path)).toContain('/api');
  for (const p of paths) {
    expect(p.path.startsWith('/metrics')).toBe(false);
    expect(p.path === '/' && p.pathType === 'Prefix').toBe(false);
    expect(p.backend.service.name).toBe(service.metadata.name);
    const bp = p.backend.service.port;
    expect(service.spec!.ports!.some((sp) => sp.name === bp.name || sp.port === bp.number)).toBe(
      true,
    );
  }

  // Metrics: scrape annotations on the pods (port, /metrics) or a ServiceMonitor.
  const annotations = deployment.spec!.template!.metadata?.annotations ?? {};
  const monitors = manifests.filter((m) => m.kind === 'ServiceMonitor');
  if (annotations['prometheus.io/scrape'] === 'true') {
    expect(annotations['prometheus.io/port']).toBe(String(port));
    expect(annotations['prometheus.io/path']).toBe('/metrics');
  } else {
    expect(monitors.length).toBeGreaterThan(0);
  }
  for (const monitor of monitors) checkServiceMonitor(monitor, service, secret.metadata.name);
}

function checkServiceMonitor(monitor: Manifest, service: Manifest, secretName: string): void {
  expect(selects(matchLabels(monitor.spec!.selector), service.metadata.labels)).toBe(true);
  for (const endpoint of monitor.spec!.endpoints ?? []) {
    expect(endpoint.path).toBe('/metrics');
    expect(service.spec!.ports!.map((p) => p.name)).toContain(endpoint.port);
    const credentials = endpoint.authorization?.credentials;
    if (credentials) expect(credentials).toEqual({ name: secretName, key: 'METRICS_TOKEN' });
  }
}

// --- the tests --------------------------------------------------------------------------------

const VARS = readmeVariables();
const KUBECTL = which('kubectl');
const HELM = which('helm');

describe('README configuration table (the reference of the checks below)', () => {
  it('lists the variables the manifests use, with the shutdown bound', () => {
    expect(VARS.size).toBeGreaterThan(40);
    for (const name of [...SECRET_KEYS, 'PORT', 'SHUTDOWN_TIMEOUT_MS', 'DATA_DIR', 'NODE_ENV']) {
      expect({ name, documented: VARS.has(name) }).toEqual({ name, documented: true });
    }
    expect(VARS.get('SHUTDOWN_TIMEOUT_MS')).toBe('10000');
  });
});

describe('deploy/kubernetes (kustomize)', () => {
  const files = readdirSync(K8S_DIR).filter((f) => /\.ya?ml$/.test(f));
  const resourceFiles = files.filter((f) => f !== 'kustomization.yaml');
  const kustomization = parse(readFileSync(join(K8S_DIR, 'kustomization.yaml'), 'utf8')) as {
    apiVersion?: string;
    kind?: string;
    namespace?: string;
    resources: string[];
    images?: { name: string; newName?: string; newTag?: string; digest?: string }[];
  };
  const byFile = new Map(
    resourceFiles.map((f) => [f, parseStream(readFileSync(join(K8S_DIR, f), 'utf8'), f)]),
  );
  const listed = kustomization.resources.flatMap((f) => byFile.get(f) ?? []);

  it('parses every manifest', () => {
    expect(resourceFiles.length).toBeGreaterThanOrEqual(REQUIRED_KINDS.length);
    for (const [file, docs] of byFile) {
      expect({ file, documents: docs.length > 0 }).toEqual({ file, documents: true });
    }
  });

  it('kustomization.yaml lists every manifest (optional ones aside) and pins the image', () => {
    expect(kustomization.kind).toBe('Kustomization');
    expect(kustomization.apiVersion).toBe('kustomize.config.k8s.io/v1beta1');
    for (const f of kustomization.resources) expect(existsSync(join(K8S_DIR, f))).toBe(true);
    const unlisted = resourceFiles.filter(
      (f) => !kustomization.resources.includes(f) && !OPTIONAL_MANIFESTS.includes(f),
    );
    expect(unlisted).toEqual([]);
    expect(kustomization.namespace).toBeTruthy();
    const image = kustomization.images?.find((i) => i.name === 'crm-api');
    expect(image?.newTag ?? image?.digest).toBeDefined();
    const namespaces = listed.filter((m) => m.kind === 'Namespace');
    for (const ns of namespaces) expect(ns.metadata.name).toBe(kustomization.namespace);
  });

  it('objects agree with the app: variables, probes, shutdown, security, scaling', () => {
    checkObjects(
      [...byFile.values()].flat().filter((m) => m.kind !== 'Namespace'),
      VARS,
      'deploy/kubernetes',
    );
  });

  it('the Secret is a template: every value is a CHANGE_ME placeholder', () => {
    const secret = one([...byFile.values()].flat(), 'Secret');
    expect(Object.keys(secret.stringData ?? {}).sort()).toEqual([...SECRET_KEYS].sort());
    for (const [key, value] of Object.entries(secret.stringData ?? {})) {
      expect({ key, placeholder: value.includes('CHANGE_ME') }).toEqual({ key, placeholder: true });
    }
    expect(secret.data).toBeUndefined();
  });

  it('the Deployment pins the crm-api:<version> image with 3 replicas', () => {
    const deployment = one([...byFile.values()].flat(), 'Deployment');
    expect(deployment.spec!.replicas).toBe(3);
    const image = deployment.spec!.template!.spec.containers[0].image;
    const version = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
    ).version;
    expect(image).toBe(`crm-api:${version}`);
    const pinned = kustomization.images?.find((i) => i.name === 'crm-api');
    expect(pinned?.newTag).toBe(version);
  });

  (KUBECTL ? it : it.skip)('kubectl kustomize renders the same objects, namespaced', () => {
    const r = run('kubectl', ['kustomize', 'deploy/kubernetes']);
    expect({ status: r.status, err: r.err }).toEqual({ status: 0, err: expect.any(String) });
    const rendered = parseStream(r.out, 'kubectl kustomize');
    expect(rendered.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual(
      listed.map((m) => `${m.kind}/${m.metadata.name}`).sort(),
    );
    for (const m of rendered) {
      if (m.kind !== 'Namespace') expect(m.metadata.namespace).toBe(kustomization.namespace);
    }
    checkObjects(
      rendered.filter((m) => m.kind !== 'Namespace'),
      VARS,
      'kubectl kustomize',
    );
  });

  (KUBECTL ? it : it.skip)('kubectl apply --dry-run=client -k (when an API server answers)', () => {
    // Without a kubeconfig context kubectl would try localhost:8080, where anything may listen.
    const context = run('kubectl', ['config', 'current-context']);
    if (context.status !== 0) {
      console.warn(
        'deploy-kubernetes: skipped `kubectl apply --dry-run=client -k` (no kubeconfig context):',
        context.err.trim(),
      );
      return;
    }
    const r = run('kubectl', [
      'apply',
      '--dry-run=client',
      '--request-timeout=15s',
      '-k',
      'deploy/kubernetes',
    ]);
    if (
      r.status !== 0 &&
      /connection refused|no such host|couldn't get current server API|failed to download openapi|unable to recognize|i\/o timeout|Unable to connect to the server/i.test(
        r.err,
      )
    ) {
      console.warn(
        'deploy-kubernetes: skipped `kubectl apply --dry-run=client -k` (no API server reachable):',
        r.err.split('\n').find((l) => l.trim()) ?? '',
      );
      return;
    }
    expect({ status: r.status, err: r.err }).toEqual({ status: 0, err: expect.any(String) });
  });
});

describe('deploy/helm/crm-api', () => {
  interface Values {
    image: { repository: string; tag: string; digest?: string };
    replicaCount: number;
    resources: { requests: Record<string, string>; limits: Record<string, string> };
    autoscaling: {
      enabled: boolean;
      minReplicas: number;
      maxReplicas: number;
      targetCPUUtilizationPercentage: number;
    };
    pdb: { enabled: boolean; minAvailable: number };
    config: Record<string, string>;
    existingSecret: string;
    secrets: Record<string, string>;
    containerPort: number;
    terminationGracePeriodSeconds: number;
    preStopSleepSeconds: number;
    podSecurityContext: SecurityContext;
    securityContext: SecurityContext;
    ingress: { enabled: boolean; host: string; tlsSecretName: string };
    metrics: { serviceMonitor: { enabled: boolean } };
  }
  const chart = parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as {
    apiVersion: string;
    name: string;
    version: string;
    appVersion: string;
    type?: string;
  };
  const valuesText = readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8');
  const values = parse(valuesText) as Values;
  const templatesDir = join(CHART_DIR, 'templates');
  const templates = new Map(
    readdirSync(templatesDir).map((f) => [f, readFileSync(join(templatesDir, f), 'utf8')]),
  );

  it('Chart.yaml is a v2 application chart with semver versions', () => {
    expect(chart.apiVersion).toBe('v2');
    expect(chart.name).toBe('crm-api');
    expect(chart.type ?? 'application').toBe('application');
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(String(chart.appVersion)).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('values.yaml: documented variables, consistent scaling, shutdown and security', () => {
    const undocumented = [...Object.keys(values.config), ...Object.keys(values.secrets)].filter(
      (name) => !VARS.has(name),
    );
    expect(undocumented).toEqual([]);
    expect(Object.keys(values.secrets).sort()).toEqual([...SECRET_KEYS].sort());
    expect(Object.keys(values.config).filter((k) => SECRET_KEYS.includes(k))).toEqual([]);
    for (const key of ['DATABASE_URL', 'JWT_ACCESS_SECRET', 'JWT_REFRESH_SECRET']) {
      expect(values.secrets[key]).toContain('CHANGE_ME');
    }
    expect(values.existingSecret).toBe('');
    expect(values.config.NODE_ENV).toBe('production');
    expect(Number(values.config.PORT)).toBe(values.containerPort);
    expect(values.containerPort).toBe(APP_PORT_DEFAULT);
    expect(values.image.repository).toBe('crm-api');

    const { minReplicas, maxReplicas } = values.autoscaling;
    expect(values.autoscaling.enabled).toBe(true);
    expect([minReplicas, maxReplicas, values.pdb.minAvailable]).toEqual([3, 10, 2]);
    expect(values.pdb.minAvailable).toBeLessThan(minReplicas);
    expect(minReplicas).toBeLessThanOrEqual(maxReplicas);
    expect(values.replicaCount).toBeGreaterThan(values.pdb.minAvailable);
    expect(values.autoscaling.targetCPUUtilizationPercentage).toBeGreaterThan(0);

    const shutdownMs = Number(values.config.SHUTDOWN_TIMEOUT_MS ?? VARS.get('SHUTDOWN_TIMEOUT_MS'));
    expect(values.preStopSleepSeconds).toBeGreaterThan(0);
    expect(values.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
      values.preStopSleepSeconds * 1000 + shutdownMs,
    );

    expect(values.podSecurityContext.runAsNonRoot).toBe(true);
    expect(values.podSecurityContext.runAsUser).not.toBe(0);
    expect(values.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(values.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(values.securityContext.capabilities?.drop).toContain('ALL');
    expect(values.config.DATA_DIR).toMatch(/^\//);
    for (const kind of ['requests', 'limits'] as const) {
      expect(values.resources[kind].cpu).toBeDefined();
      expect(values.resources[kind].memory).toBeDefined();
    }
  });

  it('has a template per object, _helpers.tpl and NOTES.txt', () => {
    for (const f of [
      '_helpers.tpl',
      'NOTES.txt',
      'configmap.yaml',
      'secret.yaml',
      'deployment.yaml',
      'service.yaml',
      'hpa.yaml',
      'pdb.yaml',
      'ingress.yaml',
      'servicemonitor.yaml',
    ]) {
      expect({ f, exists: templates.has(f) }).toEqual({ f, exists: true });
    }
  });

  it('templates: balanced actions, defined includes, existing values, real probe paths', () => {
    const defined = new Set(
      [...templates.values()].flatMap((t) =>
        [...t.matchAll(/\{\{-?\s*define\s+"([^"]+)"/g)].map((m) => m[1]),
      ),
    );
    const valuesRoot = values as unknown as Record<string, unknown>;
    const hasPath = (path: string): boolean => {
      let node: unknown = valuesRoot;
      for (const part of path.split('.')) {
        if (node === null || typeof node !== 'object' || !(part in node)) return false;
        node = (node as Record<string, unknown>)[part];
      }
      return true;
    };
    for (const [file, text] of templates) {
      const opens = text.match(/\{\{/g)?.length ?? 0;
      const closes = text.match(/\}\}/g)?.length ?? 0;
      expect({ file, opens }).toEqual({ file, opens: closes });
      // Every action opened is closed before the next one opens.
      expect({ file, nested: /\{\{(?:(?!\}\})[\s\S])*\{\{/.test(text) }).toEqual({
        file,
        nested: false,
      });
      const blocks = (text.match(/\{\{-?\s*(if|range|with|define)\b/g) ?? []).length;
      const ends = (text.match(/\{\{-?\s*end\s*-?\}\}/g) ?? []).length;
      expect({ file, blocks }).toEqual({ file, blocks: ends });
      for (const m of text.matchAll(/\binclude\s+"([^"]+)"/g)) {
        expect({ file, include: m[1], defined: defined.has(m[1]) }).toEqual({
          file,
          include: m[1],
          defined: true,
        });
      }
      for (const m of text.matchAll(/\.Values\.([A-Za-z0-9_.]+)/g)) {
        const path = m[1].replace(/\.$/, '');
        expect({ file, value: path, exists: hasPath(path) }).toEqual({
          file,
          value: path,
          exists: true,
        });
      }
    }
    const deployment = templates.get('deployment.yaml')!;
    expect(deployment).toContain(`path: ${LIVENESS_PATH}\n`);
    expect(deployment).toContain(`path: ${READINESS_PATH}\n`);
    expect(deployment).toMatch(/readOnlyRootFilesystem|\.Values\.securityContext/);
    expect(deployment).toContain(
      'terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}',
    );
    expect(deployment).toMatch(/maxUnavailable: 0\n/);
    expect(templates.get('hpa.yaml')).toContain('apiVersion: autoscaling/v2');
  });

  const helmSkipNote = HELM
    ? ''
    : ' [skipped: no `helm` binary on the PATH; the static checks above still ran]';

  (HELM ? it : it.skip)(`helm lint passes${helmSkipNote}`, () => {
    const r = run('helm', ['lint', CHART_DIR]);
    expect({ status: r.status, out: r.out + r.err }).toEqual({
      status: 0,
      out: expect.any(String),
    });
  });

  (HELM ? it : it.skip)(
    `helm template renders objects that pass the same checks${helmSkipNote}`,
    () => {
      for (const extra of [
        [],
        [
          '--set',
          'metrics.serviceMonitor.enabled=true',
          '--set',
          'secrets.METRICS_TOKEN=CHANGE_ME_0123456789',
        ],
        ['--set', 'existingSecret=crm-secrets', '--set', 'autoscaling.enabled=false'],
      ]) {
        const r = run('helm', ['template', 'crm', CHART_DIR, '--namespace', 'crm', ...extra]);
        expect({ extra, status: r.status, err: r.err }).toEqual({
          extra,
          status: 0,
          err: expect.any(String),
        });
        const rendered = parseStream(r.out, `helm template ${extra.join(' ')}`);
        if (extra.includes('existingSecret=crm-secrets')) {
          // No Secret and no HPA rendered: check the references and the fixed replica count.
          expect(rendered.filter((m) => m.kind === 'Secret')).toEqual([]);
          expect(rendered.filter((m) => m.kind === 'HorizontalPodAutoscaler')).toEqual([]);
          const deployment = one(rendered, 'Deployment');
          expect(deployment.spec!.replicas).toBe(values.replicaCount);
          const envFrom = deployment.spec!.template!.spec.containers[0].envFrom ?? [];
          expect(envFrom.map((e) => e.secretRef?.name).filter(Boolean)).toEqual(['crm-secrets']);
          continue;
        }
        checkObjects(rendered, VARS, `helm template ${extra.join(' ')}`);
        if (extra.length > 0) expect(rendered.map((m) => m.kind)).toContain('ServiceMonitor');
      }
    },
  );
});

afterAll(() => {
  const missing = [!KUBECTL && 'kubectl', !HELM && 'helm'].filter(Boolean);
  if (missing.length > 0) {
    console.warn(
      `deploy-kubernetes: ${missing.join(' and ')} not installed: the checks that run ${missing.join(
        '/',
      )} were skipped (the static checks of the files ran).`,
    );
  }
});
