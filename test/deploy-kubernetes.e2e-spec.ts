import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import Fastify, { LogController } from 'fastify';
import { parse, parseAllDocuments } from 'yaml';
import { createLogger } from '../src/common/logging/logger';
import { requestIdFor } from '../src/common/http/request-id';

/**
 * deploy/k8s (a kustomize base, two overlays and an optional component) and deploy/logging:
 * every overlay is rendered with `kubectl kustomize` and every object it renders is validated
 * against the Kubernetes schemas (kubernetes-models: an object of a kind it has no model for
 * fails), then checked against what the application really does: README.md's configuration
 * table, the health endpoints and port, the graceful shutdown bound, the migration Job and the
 * init container that waits for it, the network policies' selectors, the Ingress's TLS host.
 * No cluster needed. Without kubectl the rendering tests are skipped with a notice, or fail
 * when REQUIRE_KUBECTL=true (CI should set it). KUBECTL=<path> names another binary.
 */

// Jest runs from the project root (the ESM test files have no __dirname).
const ROOT = process.cwd();
const K8S_DIR = 'deploy/k8s';
const OVERLAYS = ['development', 'production'] as const;
type Overlay = (typeof OVERLAYS)[number];
const LOGGING_DIR = 'deploy/logging/fluent-bit';

const LIVENESS_PATH = '/api/v1/health';
const READINESS_PATH = '/api/v1/health/ready';
const APP_PORT = 3000;
const SECRET_KEYS = [
  'DATABASE_URL',
  'JWT_ACCESS_SECRET',
  'JWT_REFRESH_SECRET',
  'REDIS_URL',
  'AMQP_URL',
  'METRICS_TOKEN',
  'SMTP_URL',
];
const PACKAGE_VERSION = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

/** What each overlay must differ in. */
const EXPECTED: Record<
  Overlay,
  {
    namespace: string;
    replicas: number;
    hpa: [number, number];
    pdb: { minAvailable?: number; maxUnavailable?: number };
    image: string;
    host: string;
    tlsSecret: string;
    logLevel: string;
    /** Whether the overlay renders the Secret (development) or expects it to exist (production). */
    rendersSecret: boolean;
  }
> = {
  development: {
    namespace: 'crm-dev',
    replicas: 1,
    hpa: [1, 2],
    pdb: { maxUnavailable: 1 },
    image: 'crm-api:dev',
    host: 'crm.localtest.me',
    tlsSecret: 'crm-api-dev-tls',
    logLevel: 'debug',
    rendersSecret: true,
  },
  production: {
    namespace: 'crm',
    replicas: 3,
    hpa: [3, 10],
    pdb: { minAvailable: 2 },
    image: `registry.example.com/crm/crm-api:${PACKAGE_VERSION}`,
    host: 'crm.example.com',
    tlsSecret: 'crm-api-tls',
    logLevel: 'info',
    rendersSecret: false,
  },
};

// --- minimal shapes of the objects read --------------------------------------------------------

type Labels = Record<string, string>;
interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: unknown[];
}
interface Probe {
  httpGet?: { path: string; port: string | number };
  periodSeconds?: number;
  failureThreshold?: number;
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; valueFrom?: Record<string, { name: string; key: string }> }[];
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
  initContainers?: Container[];
  restartPolicy?: string;
  terminationGracePeriodSeconds?: number;
  automountServiceAccountToken?: boolean;
  securityContext?: SecurityContext;
  volumes?: { name: string; emptyDir?: object; configMap?: { name: string } }[];
  topologySpreadConstraints?: { topologyKey: string; labelSelector?: LabelSelector }[];
}
interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}
interface NetworkPolicyRule {
  from?: NetworkPolicyPeer[];
  to?: NetworkPolicyPeer[];
  ports?: { port?: number | string; protocol?: string }[];
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Labels; annotations?: Labels };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    replicas?: number;
    selector?: Labels | LabelSelector;
    strategy?: { type?: string; rollingUpdate?: { maxUnavailable?: number | string } };
    template?: { metadata?: { labels?: Labels; annotations?: Labels }; spec: PodSpec };
    backoffLimit?: number;
    activeDeadlineSeconds?: number;
    ports?: { name?: string; port: number; targetPort?: string | number }[];
    scaleTargetRef?: { apiVersion: string; kind: string; name: string };
    minReplicas?: number;
    maxReplicas?: number;
    metrics?: { type: string; resource?: { name: string; target: { type: string } } }[];
    minAvailable?: number | string;
    maxUnavailable?: number | string;
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
    podSelector?: LabelSelector;
    policyTypes?: string[];
    ingress?: NetworkPolicyRule[];
    egress?: NetworkPolicyRule[];
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

/** The variables of README.md's "Configuration" table (first column) and their defaults. */
function readmeVariables(): Map<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## Configuration');
  if (start === -1) throw new Error('README.md has no "## Configuration" section');
  const end = readme.indexOf('\n## ', start + 1);
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

/** `kubectl kustomize <dir>`: the rendered objects; throws with kubectl's message on failure. */
function kustomize(dir: string): Manifest[] {
  const r = spawnSync(KUBECTL_BIN, ['kustomize', dir], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) {
    throw new Error(`kubectl kustomize ${dir} failed: ${r.stderr ?? ''}${r.error?.message ?? ''}`);
  }
  return parseStream(r.stdout, `kubectl kustomize ${dir}`);
}

/**
 * Validates one object against the Kubernetes OpenAPI schema of its apiVersion and kind, with
 * the model class kubernetes-models has for it (kubernetes-models/<group>/<version>/<Kind>).
 * A kind it has no model for (a typo, a CRD) is an error, never a pass.
 */
async function validateObject(object: Manifest): Promise<void> {
  const { apiVersion, kind } = object;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !/^[A-Z]\w*$/.test(kind)) {
    throw new Error(`not a Kubernetes object: apiVersion ${apiVersion}, kind ${kind}`);
  }
  const modulePath = `kubernetes-models/${apiVersion}/${kind}`;
  let model: unknown;
  try {
    model = ((await import(modulePath)) as Record<string, unknown>)[kind];
  } catch {
    model = undefined;
  }
  if (typeof model !== 'function') {
    throw new Error(`no schema for ${apiVersion}/${kind}: unknown kind (${modulePath})`);
  }
  const Model = model as new (data: object) => {
    validate(): void;
    apiVersion: string;
    kind: string;
  };
  // kustomize folds long base64 values of a Secret's `data` over several lines; the API server
  // decodes them as Go's base64 decoder does, skipping line breaks. The schema's `byte` format
  // does not, so the breaks are removed before validating (any other character still fails).
  const data =
    kind === 'Secret' && object.data
      ? {
          data: Object.fromEntries(
            Object.entries(object.data).map(([k, v]) => [
              k,
              typeof v === 'string' ? v.replace(/[\r\n]/g, '') : v,
            ]),
          ),
        }
      : {};
  const instance = new Model({ ...object, ...data });
  if (instance.apiVersion !== apiVersion || instance.kind !== kind) {
    throw new Error(`${modulePath} is a model of ${instance.apiVersion}/${instance.kind}`);
  }
  try {
    instance.validate();
  } catch (e) {
    throw new Error(`${kind}/${object.metadata?.name}: ${(e as Error).message}`);
  }
}

async function validateAll(objects: Manifest[], where: string): Promise<void> {
  const invalid: string[] = [];
  for (const object of objects) {
    await validateObject(object).catch((e: Error) => invalid.push(e.message));
  }
  expect({ where, invalid }).toEqual({ where, invalid: [] });
}

function all(objects: Manifest[], kind: string): Manifest[] {
  return objects.filter((m) => m.kind === kind);
}

function one(objects: Manifest[], kind: string, name?: string): Manifest {
  const found = objects.filter((m) => m.kind === kind && (!name || m.metadata.name === name));
  expect({ kind, name, count: found.length }).toEqual({ kind, name, count: 1 });
  return found[0];
}

function matchLabels(selector: Labels | LabelSelector | undefined): Labels {
  if (!selector) return {};
  if ('matchLabels' in selector && typeof selector.matchLabels === 'object') {
    return selector.matchLabels;
  }
  return selector as Labels;
}

/** Whether a selector (matchLabels only; `{}` selects everything) selects the labels. */
function selects(
  selector: Labels | LabelSelector | undefined,
  labels: Labels | undefined,
): boolean {
  expect((selector as LabelSelector | undefined)?.matchExpressions).toBeUndefined();
  return Object.entries(matchLabels(selector)).every(([k, v]) => labels?.[k] === v);
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

/** Restricted-profile container: non-root, read-only root, nothing escalated, no capabilities. */
function checkRestricted(pod: PodSpec, c: Container, where: string): void {
  const csc = c.securityContext ?? {};
  const psc = pod.securityContext ?? {};
  expect({ where, container: c.name, runAsNonRoot: csc.runAsNonRoot ?? psc.runAsNonRoot }).toEqual({
    where,
    container: c.name,
    runAsNonRoot: true,
  });
  expect(csc.runAsUser ?? psc.runAsUser).not.toBe(0);
  expect({ where, container: c.name, readOnly: csc.readOnlyRootFilesystem }).toEqual({
    where,
    container: c.name,
    readOnly: true,
  });
  expect(csc.allowPrivilegeEscalation).toBe(false);
  expect(csc.privileged ?? false).toBe(false);
  expect(csc.capabilities?.drop).toContain('ALL');
  expect(csc.capabilities?.add ?? []).toEqual([]);
  expect((csc.seccompProfile ?? psc.seccompProfile)?.type).toBe('RuntimeDefault');
  for (const kind of ['requests', 'limits'] as const) {
    expect({ where, container: c.name, kind, cpu: c.resources?.[kind]?.cpu }).toEqual({
      where,
      container: c.name,
      kind,
      cpu: expect.any(String),
    });
    expect(c.resources?.[kind]?.memory).toEqual(expect.any(String));
  }
}

/** The data of a generated ConfigMap or Secret (Secret `data` is base64). */
function dataOf(m: Manifest): Record<string, string> {
  const decoded = Object.fromEntries(
    Object.entries(m.data ?? {}).map(([k, v]) => [
      k,
      m.kind === 'Secret' ? Buffer.from(v, 'base64').toString('utf8') : v,
    ]),
  );
  return { ...decoded, ...(m.stringData ?? {}) };
}

/** The NetworkPolicies selecting a pod's labels. */
function policiesFor(objects: Manifest[], labels: Labels | undefined): Manifest[] {
  return all(objects, 'NetworkPolicy').filter((p) => selects(p.spec!.podSelector, labels));
}

function egressPorts(policies: Manifest[]): number[] {
  return policies.flatMap((p) =>
    (p.spec!.egress ?? []).flatMap((r) => (r.ports ?? []).map((port) => Number(port.port))),
  );
}

// --- the checks of one rendered overlay ------------------------------------------------------

function checkOverlay(overlay: Overlay, objects: Manifest[], vars: Map<string, string>): void {
  const expected = EXPECTED[overlay];
  const where = `overlays/${overlay}`;

  // Every namespaced object in the overlay's namespace; the Namespace itself restricted.
  const namespace = one(objects, 'Namespace');
  expect(namespace.metadata.name).toBe(expected.namespace);
  expect(namespace.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  for (const m of objects) {
    if (m.kind !== 'Namespace')
      expect(`${m.kind}/${m.metadata.name}: ${m.metadata.namespace}`).toBe(
        `${m.kind}/${m.metadata.name}: ${expected.namespace}`,
      );
    expect(m.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  }

  const deployment = one(objects, 'Deployment', 'crm-api');
  const job = one(objects, 'Job', 'crm-api-migrate');
  const service = one(objects, 'Service', 'crm-api');
  const hpa = one(objects, 'HorizontalPodAutoscaler');
  const pdb = one(objects, 'PodDisruptionBudget');
  const ingress = one(objects, 'Ingress');
  const pod = deployment.spec!.template!.spec;
  const podLabels = deployment.spec!.template!.metadata?.labels;
  expect(pod.containers).toHaveLength(1);
  const container = pod.containers[0];

  // Configuration: the ConfigMap the pods read; every variable documented, none secret.
  const configRef = (container.envFrom ?? []).find((r) => r.configMapRef)?.configMapRef?.name;
  const secretRef = (container.envFrom ?? []).find((r) => r.secretRef)?.secretRef?.name;
  expect({ where, configRef, secretRef }).toEqual({
    where,
    configRef: expect.stringMatching(/^crm-api-config/),
    secretRef: expect.stringMatching(/^crm-api-secrets/),
  });
  const config = dataOf(one(objects, 'ConfigMap', configRef));
  const secrets = all(objects, 'Secret').filter((s) => s.metadata.name === secretRef);
  expect(secrets).toHaveLength(expected.rendersSecret ? 1 : 0);
  const secretKeys = secrets.length ? Object.keys(dataOf(secrets[0])) : [];
  const envNames = [
    ...Object.keys(config),
    ...secretKeys,
    ...(container.env ?? []).map((e) => e.name),
  ];
  const undocumented = envNames.filter((name) => !vars.has(name));
  expect({ where, undocumented }).toEqual({ where, undocumented: [] });
  const secretInConfig = Object.keys(config).filter((k) => SECRET_KEYS.includes(k));
  expect({ where, secretInConfig }).toEqual({ where, secretInConfig: [] });
  // NODE_ENV=development would load pino-pretty, a dev dependency missing from the image.
  expect(config.NODE_ENV).toBe('production');
  expect(config.LOG_LEVEL).toBe(expected.logLevel);
  expect(config.DB_MIGRATIONS_RUN).toBe('false');
  if (expected.rendersSecret) {
    for (const key of ['DATABASE_URL', 'JWT_ACCESS_SECRET', 'JWT_REFRESH_SECRET']) {
      expect({ where, key, inSecret: secretKeys.includes(key) }).toEqual({
        where,
        key,
        inSecret: true,
      });
    }
    const s = dataOf(secrets[0]);
    // What production mode demands of the JWT secrets (src/config/app-config.ts).
    expect(s.JWT_ACCESS_SECRET.length).toBeGreaterThanOrEqual(32);
    expect(s.JWT_REFRESH_SECRET).not.toBe(s.JWT_ACCESS_SECRET);
    expect(s.DATABASE_URL).toMatch(/^postgres(ql)?:\/\/.+/);
  }

  // Port and probes on the health endpoints.
  expect(Number(config.PORT)).toBe(APP_PORT); // the image's EXPOSE and HEALTHCHECK
  const http = (container.ports ?? []).find((p) => p.containerPort === APP_PORT);
  expect(http?.name).toBe('http');
  const probes = {
    startup: container.startupProbe?.httpGet,
    liveness: container.livenessProbe?.httpGet,
    readiness: container.readinessProbe?.httpGet,
  };
  expect({ where, probes }).toEqual({
    where,
    probes: {
      startup: { path: LIVENESS_PATH, port: 'http' },
      liveness: { path: LIVENESS_PATH, port: 'http' },
      readiness: { path: READINESS_PATH, port: 'http' },
    },
  });
  const startup = container.startupProbe!;
  expect((startup.periodSeconds ?? 10) * (startup.failureThreshold ?? 3)).toBeGreaterThanOrEqual(
    60,
  );

  // Shutdown: preStop sleep, then SIGTERM and the app's drain, all within the grace period.
  const shutdownMs = Number(config.SHUTDOWN_TIMEOUT_MS ?? vars.get('SHUTDOWN_TIMEOUT_MS'));
  expect(Number.isFinite(shutdownMs)).toBe(true);
  const sleep = preStopSeconds(container);
  expect(sleep).toBeGreaterThan(0);
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  expect(grace * 1000).toBeGreaterThan(sleep * 1000 + shutdownMs);

  // Security: every container of the Deployment and the Job restricted; DATA_DIR on an emptyDir.
  for (const [owner, spec] of [
    ['Deployment', pod],
    ['Job', job.spec!.template!.spec],
  ] as const) {
    expect(spec.automountServiceAccountToken).toBe(false);
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      checkRestricted(spec, c, `${where} ${owner}`);
    }
  }
  const mount = (container.volumeMounts ?? []).find((v) => v.mountPath === config.DATA_DIR);
  expect({ where, dataDirMounted: mount !== undefined }).toEqual({ where, dataDirMounted: true });
  expect((pod.volumes ?? []).find((v) => v.name === mount?.name)?.emptyDir).toBeDefined();

  // Image: the overlay's, the same for the app, its init container and the migration Job.
  const jobContainer = job.spec!.template!.spec.containers[0];
  const images = [
    container.image,
    ...(pod.initContainers ?? []).map((c) => c.image),
    jobContainer.image,
  ];
  expect({ where, images }).toEqual({ where, images: images.map(() => expected.image) });

  // Replicas, HPA, PDB.
  expect(deployment.spec!.replicas).toBe(expected.replicas);
  expect(toInt(deployment.spec!.strategy?.rollingUpdate?.maxUnavailable, 'maxUnavailable')).toBe(0);
  expect(selects(deployment.spec!.selector, podLabels)).toBe(true);
  expect(hpa.spec!.scaleTargetRef).toEqual({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    name: deployment.metadata.name,
  });
  const [min, max] = [hpa.spec!.minReplicas!, hpa.spec!.maxReplicas!];
  expect({ where, hpa: [min, max] }).toEqual({ where, hpa: expected.hpa });
  expect(min).toBeLessThanOrEqual(max);
  expect(deployment.spec!.replicas).toBeGreaterThanOrEqual(min);
  expect(deployment.spec!.replicas).toBeLessThanOrEqual(max);
  expect(hpa.spec!.metrics).toContainEqual(
    expect.objectContaining({
      type: 'Resource',
      resource: expect.objectContaining({ name: 'cpu' }),
    }),
  );
  expect(selects(pdb.spec!.selector, podLabels)).toBe(true);
  expect({
    where,
    pdb: { minAvailable: pdb.spec!.minAvailable, maxUnavailable: pdb.spec!.maxUnavailable },
  }).toEqual({
    where,
    pdb: { minAvailable: expected.pdb.minAvailable, maxUnavailable: expected.pdb.maxUnavailable },
  });
  // A PDB that a drain can satisfy: fewer pods required than the HPA keeps at least.
  if (pdb.spec!.minAvailable !== undefined) {
    expect(toInt(pdb.spec!.minAvailable, 'minAvailable')).toBeLessThan(min);
  } else {
    expect(toInt(pdb.spec!.maxUnavailable, 'maxUnavailable')).toBeGreaterThanOrEqual(1);
  }
  // Spread across nodes.
  expect(
    (pod.topologySpreadConstraints ?? []).some(
      (t) => t.topologyKey === 'kubernetes.io/hostname' && selects(t.labelSelector, podLabels),
    ),
  ).toBe(true);

  // Service -> pods.
  expect(selects(service.spec!.selector, podLabels)).toBe(true);
  expect(service.spec!.ports!.map((p) => p.targetPort)).toContain('http');

  // Ingress: TLS for exactly the routed host, which is PUBLIC_URL's; /metrics never routed.
  const hosts = (ingress.spec!.rules ?? []).map((r) => r.host);
  expect(hosts).toEqual([expected.host]);
  expect(ingress.spec!.tls).toEqual([{ hosts: [expected.host], secretName: expected.tlsSecret }]);
  expect(config.PUBLIC_URL).toBe(`https://${expected.host}`);
  const paths = (ingress.spec!.rules ?? []).flatMap((r) => r.http?.paths ?? []);
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
  if (config.SWAGGER_ENABLED === 'false') {
    expect(paths.filter((p) => p.path.startsWith('/docs'))).toEqual([]);
  }

  // Metrics: scrape annotations on the pods (port, /metrics).
  const annotations = deployment.spec!.template!.metadata?.annotations ?? {};
  expect(annotations['prometheus.io/port']).toBe(String(APP_PORT));
  expect(annotations['prometheus.io/path']).toBe('/metrics');

  checkMigrations(objects, deployment, job, where);
  checkNetworkPolicies(objects, deployment, job, where);
}

/** The migration Job runs before the pods serve: same config, a wait in the pods, no race. */
function checkMigrations(objects: Manifest[], deployment: Manifest, job: Manifest, where: string) {
  const pod = deployment.spec!.template!.spec;
  const jobPod = job.spec!.template!.spec;
  expect(jobPod.restartPolicy).toBe('Never');
  expect(job.spec!.backoffLimit).toBeGreaterThanOrEqual(1);
  expect(job.spec!.activeDeadlineSeconds).toBeGreaterThan(0);
  expect(jobPod.containers).toHaveLength(1);
  const migrate = jobPod.containers[0];
  const [wait] = pod.initContainers ?? [];
  expect({ where, initContainers: (pod.initContainers ?? []).map((c) => c.name) }).toEqual({
    where,
    initContainers: ['wait-for-migrations'],
  });
  // The same configuration as the app (dist/ormconfig.js validates all of it).
  expect(migrate.envFrom).toEqual(pod.containers[0].envFrom);
  expect(wait.envFrom).toEqual(pod.containers[0].envFrom);

  // Commands: node running a script of the scripts ConfigMap, mounted where the command looks.
  const scriptOf = (c: Container, podSpec: PodSpec): string => {
    const [node, script] = c.command ?? [];
    expect(node).toBe('node');
    const mount = (c.volumeMounts ?? []).find((v) => script?.startsWith(`${v.mountPath}/`));
    expect({ where, container: c.name, script, mounted: mount !== undefined }).toEqual({
      where,
      container: c.name,
      script,
      mounted: true,
    });
    const volume = (podSpec.volumes ?? []).find((v) => v.name === mount!.name);
    const scripts = dataOf(one(objects, 'ConfigMap', volume?.configMap?.name));
    const file = relative(mount!.mountPath, script);
    expect(Object.keys(scripts)).toContain(file);
    return scripts[file];
  };
  const migrateScript = scriptOf(migrate, jobPod);
  const waitScript = scriptOf(wait, pod);
  expect(migrate.command).toEqual(['node', '/opt/crm-migrations/migrate.cjs']);
  expect(wait.command?.slice(0, 2)).toEqual([
    'node',
    '/opt/crm-migrations/wait-for-migrations.cjs',
  ]);
  // The wait ends (and is retried by the kubelet) before the rollout's deadline.
  const waitSeconds = Number(wait.command?.[2]);
  expect(waitSeconds).toBeGreaterThan(0);
  expect(waitSeconds).toBeLessThan(
    toInt(
      (deployment.spec as { progressDeadlineSeconds?: number }).progressDeadlineSeconds ?? 600,
      'progressDeadlineSeconds',
    ),
  );

  // The pre-rollout step of deploy/README.md (`-l 'app.kubernetes.io/component notin (api)'`)
  // applies the Job with everything it reads, and not the Deployment.
  const pre = objects.filter((m) => m.metadata.labels?.['app.kubernetes.io/component'] !== 'api');
  const has = (kind: string, name?: string): boolean =>
    pre.some((m) => m.kind === kind && (!name || m.metadata.name === name));
  const needs = [
    ...(migrate.envFrom ?? []).map((r) =>
      r.configMapRef ? ['ConfigMap', r.configMapRef.name] : ['Secret', r.secretRef!.name],
    ),
    ...(jobPod.volumes ?? []).flatMap((v) =>
      v.configMap ? [['ConfigMap', v.configMap.name]] : [],
    ),
  ].filter(([kind, name]) => objects.some((m) => m.kind === kind && m.metadata.name === name));
  expect({ where, missing: needs.filter(([kind, name]) => !has(kind, name)) }).toEqual({
    where,
    missing: [],
  });
  expect([has('Namespace'), has('Job', job.metadata.name), has('Deployment')]).toEqual([
    true,
    true,
    false,
  ]);

  // The scripts load the app's compiled DataSource and take the app's migration lock.
  for (const script of [migrateScript, waitScript]) {
    expect(script).toContain("'dist/ormconfig.js'");
  }
  const runner = readFileSync(join(ROOT, 'src/database/migration-runner.ts'), 'utf8');
  const lockKey = /MIGRATION_LOCK_KEY = ([\d_]+);/.exec(runner)?.[1].replace(/_/g, '');
  expect(lockKey).toMatch(/^\d+$/);
  expect(migrateScript).toContain(`MIGRATION_LOCK_KEY = ${lockKey};`);
  expect(migrateScript).toContain('pg_advisory_lock($1)');
  expect(migrateScript).toContain('runMigrations(');
  expect(waitScript).not.toContain('runMigrations(');
}

/** Default deny, then the API's and the Job's allowances, selecting the real pod labels. */
function checkNetworkPolicies(
  objects: Manifest[],
  deployment: Manifest,
  job: Manifest,
  where: string,
): void {
  const policies = all(objects, 'NetworkPolicy');
  const denyAll = policies.filter(
    (p) =>
      Object.keys(matchLabels(p.spec!.podSelector)).length === 0 &&
      !p.spec!.ingress?.length &&
      !p.spec!.egress?.length,
  );
  expect({ where, denyAll: denyAll.map((p) => p.spec!.policyTypes) }).toEqual({
    where,
    denyAll: [['Ingress', 'Egress']],
  });
  // Every pod of the overlay is selected by a policy of its own besides the default deny.
  for (const owner of [
    ...all(objects, 'Deployment'),
    ...all(objects, 'StatefulSet'),
    ...all(objects, 'Job'),
  ]) {
    const own = policiesFor(objects, owner.spec!.template!.metadata?.labels).filter(
      (p) => !denyAll.includes(p),
    );
    expect({ where, pod: owner.metadata.name, policies: own.length > 0 }).toEqual({
      where,
      pod: owner.metadata.name,
      policies: true,
    });
  }

  const api = policiesFor(objects, deployment.spec!.template!.metadata?.labels).filter(
    (p) => !denyAll.includes(p),
  );
  // Ingress: only the Ingress controller's and Prometheus's namespaces, on the app's port.
  const rules = api.flatMap((p) => p.spec!.ingress ?? []);
  const sources = rules.flatMap((r) =>
    (r.from ?? []).map((f) => matchLabels(f.namespaceSelector)['kubernetes.io/metadata.name']),
  );
  expect(sources.sort()).toEqual(['ingress-nginx', 'monitoring']);
  for (const rule of rules) {
    expect(rule.ports?.map((p) => p.port)).toEqual(['http']);
    for (const peer of rule.from ?? []) expect(peer.podSelector).toBeDefined();
  }
  // Egress: DNS, PostgreSQL, Redis, RabbitMQ, SMTP and HTTPS; HTTPS never to private ranges.
  const ports = egressPorts(api);
  for (const port of [53, 5432, 6379, 5672, 5671, 587, 443]) {
    expect({ where, port, allowed: ports.includes(port) }).toEqual({ where, port, allowed: true });
  }
  const https = api
    .flatMap((p) => p.spec!.egress ?? [])
    .find((r) => (r.ports ?? []).some((p) => p.port === 443));
  const block = https?.to?.[0]?.ipBlock;
  expect(block?.cidr).toBe('0.0.0.0/0');
  for (const cidr of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16']) {
    expect(block?.except).toContain(cidr);
  }

  // The Job: PostgreSQL and DNS out, nothing in.
  const migrate = policiesFor(objects, job.spec!.template!.metadata?.labels).filter(
    (p) => !denyAll.includes(p),
  );
  expect(migrate.flatMap((p) => p.spec!.ingress ?? [])).toEqual([]);
  expect(egressPorts(migrate).sort((a, b) => a - b)).toEqual([53, 53, 5432]);
  // The API's policy does not also select the Job's pods (and so widen them).
  expect(api.some((p) => migrate.includes(p))).toBe(false);
}

// --- the tests --------------------------------------------------------------------------------

const VARS = readmeVariables();
/** `KUBECTL` may name the binary (e.g. a path); default `kubectl` on the PATH. */
const KUBECTL_BIN = process.env.KUBECTL || 'kubectl';
const KUBECTL = which(KUBECTL_BIN);
const REQUIRE_KUBECTL = process.env.REQUIRE_KUBECTL === 'true';
const withKubectl = KUBECTL ? it : it.skip;
const skipNote = KUBECTL ? '' : ' [skipped: no kubectl on the PATH]';

describe('kubectl', () => {
  (REQUIRE_KUBECTL ? it : it.skip)('is installed (REQUIRE_KUBECTL=true)', () => {
    expect({ kubectl: KUBECTL }).toEqual({ kubectl: true });
  });
});

describe('schema validation (kubernetes-models)', () => {
  const deployment = (port: unknown): Manifest =>
    ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'x' },
      spec: {
        selector: { matchLabels: { a: 'b' } },
        template: {
          metadata: { labels: { a: 'b' } },
          spec: { containers: [{ name: 'c', image: 'i', ports: [{ containerPort: port }] }] },
        },
      },
    }) as Manifest;

  it('accepts a valid object', async () => {
    await expect(validateObject(deployment(3000))).resolves.toBeUndefined();
    await expect(
      validateObject({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 's' },
        spec: { ports: [{ port: 80 }] },
      }),
    ).resolves.toBeUndefined();
  });

  it('refuses a broken object: containerPort as a string', async () => {
    await expect(validateObject(deployment('3000'))).rejects.toThrow(
      /containers\/0\/ports\/0\/containerPort must be integer/,
    );
  });

  it('refuses an object without a required field', async () => {
    const broken = deployment(3000);
    delete broken.spec!.selector;
    await expect(validateObject(broken)).rejects.toThrow(/selector/);
  });

  it('refuses a kind it has no schema for, and a kind under the wrong apiVersion', async () => {
    await expect(
      validateObject({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }),
    ).rejects.toThrow(/unknown kind/);
    await expect(
      validateObject({ apiVersion: 'v1', kind: 'Deploymnet', metadata: { name: 'd' } }),
    ).rejects.toThrow(/unknown kind/);
    await expect(
      validateObject({ ...deployment(3000), apiVersion: 'apps/v1beta9' }),
    ).rejects.toThrow(/unknown kind/);
  });
});

describe('README configuration table (the reference of the checks below)', () => {
  it('lists the variables the manifests use, with the shutdown bound', () => {
    expect(VARS.size).toBeGreaterThan(40);
    for (const name of [...SECRET_KEYS, 'PORT', 'SHUTDOWN_TIMEOUT_MS', 'DATA_DIR', 'NODE_ENV']) {
      expect({ name, documented: VARS.has(name) }).toEqual({ name, documented: true });
    }
    expect(VARS.get('SHUTDOWN_TIMEOUT_MS')).toBe('10000');
  });
});

describe('deploy/k8s: layout', () => {
  it('a base, the two overlays and the optional ServiceMonitor component; no Helm chart', () => {
    for (const dir of [
      'base',
      ...OVERLAYS.map((o) => `overlays/${o}`),
      'components/servicemonitor',
    ]) {
      expect({
        dir,
        kustomization: existsSync(join(ROOT, K8S_DIR, dir, 'kustomization.yaml')),
      }).toEqual({
        dir,
        kustomization: true,
      });
    }
    expect(existsSync(join(ROOT, 'deploy/helm'))).toBe(false);
    expect(existsSync(join(ROOT, 'deploy/kubernetes'))).toBe(false);
    const readme = readFileSync(join(ROOT, 'deploy/README.md'), 'utf8');
    expect(readme).toMatch(/Why Kustomize/);
  });

  it('the migration scripts are valid JavaScript', () => {
    for (const script of ['migrate.cjs', 'wait-for-migrations.cjs']) {
      const r = spawnSync(
        process.execPath,
        ['--check', join(ROOT, K8S_DIR, 'base/scripts', script)],
        {
          encoding: 'utf8',
        },
      );
      expect({ script, status: r.status, err: r.stderr }).toEqual({ script, status: 0, err: '' });
    }
  });

  it('the image holds what the Job runs: dist/ormconfig.js (compiled) and typeorm at run time', () => {
    const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as {
      include: string[];
    };
    expect(build.include).toContain('ormconfig.ts');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(pkg.dependencies.typeorm).toBeDefined();
    const dockerfile = readFileSync(join(ROOT, 'docker/app/Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^WORKDIR \/app$/m);
    expect(dockerfile).toMatch(/COPY --from=compile .*\/app\/dist \.\/dist/);
    expect(dockerfile).toMatch(/^USER node$/m);
  });

  it('production: the Secret is not applied; its example lists every secret key as a placeholder', () => {
    const overlay = join(ROOT, K8S_DIR, 'overlays/production');
    const kustomization = parse(readFileSync(join(overlay, 'kustomization.yaml'), 'utf8')) as {
      resources: string[];
      secretGenerator?: unknown;
    };
    expect(kustomization.resources).not.toContain('secret.example.yaml');
    expect(kustomization.secretGenerator).toBeUndefined();
    const [example] = parseStream(
      readFileSync(join(overlay, 'secret.example.yaml'), 'utf8'),
      'secret.example.yaml',
    );
    expect(example.kind).toBe('Secret');
    expect(example.metadata.name).toBe('crm-api-secrets');
    expect(Object.keys(example.stringData ?? {}).sort()).toEqual([...SECRET_KEYS].sort());
    for (const [key, value] of Object.entries(example.stringData ?? {})) {
      expect({ key, placeholder: value.includes('CHANGE_ME') }).toEqual({ key, placeholder: true });
    }
  });
});

describe.each(OVERLAYS)('deploy/k8s/overlays/%s', (overlay) => {
  let rendered: Manifest[] = [];
  beforeAll(() => {
    if (KUBECTL) rendered = kustomize(`${K8S_DIR}/overlays/${overlay}`);
  });

  withKubectl(
    `renders, and every object is valid against the Kubernetes schemas${skipNote}`,
    async () => {
      expect(rendered.length).toBeGreaterThan(10);
      await validateAll(rendered, overlay);
    },
  );

  withKubectl(
    `agrees with the app: config, probes, shutdown, security, scaling, migrations, network${skipNote}`,
    () => {
      checkOverlay(overlay, rendered, VARS);
    },
  );
});

describe('deploy/k8s/components/servicemonitor', () => {
  withKubectl(
    `added to the production overlay, selects the Service and sends METRICS_TOKEN${skipNote}`,
    async () => {
      // The production overlay with its commented-out `components:` enabled, as deploy/README.md
      // says, in a throwaway sibling directory (kustomize takes relative paths only).
      const production = join(ROOT, K8S_DIR, 'overlays/production');
      const dir = mkdtempSync(join(ROOT, K8S_DIR, 'overlays/.test-servicemonitor-'));
      try {
        const original = readFileSync(join(production, 'kustomization.yaml'), 'utf8');
        const enabled = original.replace(
          '# components:\n#   - ../../components/servicemonitor',
          'components:\n  - ../../components/servicemonitor',
        );
        expect(enabled).not.toBe(original);
        writeFileSync(join(dir, 'kustomization.yaml'), enabled);
        writeFileSync(
          join(dir, 'namespace.yaml'),
          readFileSync(join(production, 'namespace.yaml'), 'utf8'),
        );
        const objects = kustomize(relative(ROOT, dir));
        const monitor = one(objects, 'ServiceMonitor');
        // The Prometheus Operator's models are not installed here: the CRD object is checked by
        // hand below, everything else by the schemas (an unknown kind still fails validateAll).
        expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
        await validateAll(
          objects.filter((m) => m !== monitor),
          'production + servicemonitor',
        );
        await expect(validateObject(monitor)).rejects.toThrow(/unknown kind/);
        const service = one(objects, 'Service', 'crm-api');
        expect(monitor.metadata.namespace).toBe(EXPECTED.production.namespace);
        expect(selects(monitor.spec!.selector, service.metadata.labels)).toBe(true);
        expect(monitor.spec!.endpoints).toHaveLength(1);
        for (const endpoint of monitor.spec!.endpoints ?? []) {
          expect(endpoint.path).toBe('/metrics');
          expect(service.spec!.ports!.map((p) => p.name)).toContain(endpoint.port);
          expect(endpoint.authorization?.credentials).toEqual({
            name: 'crm-api-secrets',
            key: 'METRICS_TOKEN',
          });
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('deploy/logging/fluent-bit (log shipping)', () => {
  interface FluentBitConfig {
    parsers: { name: string; format: string; time_key: string; time_format: string }[];
    pipeline: {
      inputs: { name: string; path: string; 'multiline.parser'?: string }[];
      filters: { name: string; key_name?: string; parser?: string; code?: string }[];
      outputs: { name: string; labels?: string; line_format?: string }[];
    };
  }
  const config = parse(
    readFileSync(join(ROOT, LOGGING_DIR, 'fluent-bit.yaml'), 'utf8'),
  ) as FluentBitConfig;

  /** Real log lines of the app: its pino logger under Fastify with its request-id settings. */
  async function appLogLines(): Promise<Record<string, unknown>[]> {
    const lines: string[] = [];
    const logger = createLogger(
      { logLevel: 'info', nodeEnv: 'production' },
      { write: (line: string) => void lines.push(line) },
    );
    const app = Fastify({
      loggerInstance: logger,
      genReqId: requestIdFor,
      requestIdHeader: false,
      logController: new LogController({ requestIdLogLabel: 'requestId' }),
    });
    app.get('/api/v1/health', (request) => {
      request.log.warn({ code: 'EXAMPLE' }, 'a warning');
      return { status: 'ok' };
    });
    await app.inject({ url: '/api/v1/health', headers: { 'x-request-id': 'req-123' } });
    await app.close();
    return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  it('tails the API pods in CRI/docker format and parses the JSON line with its time', async () => {
    const [input] = config.pipeline.inputs;
    expect(input.name).toBe('tail');
    for (const namespace of OVERLAYS.map((o) => EXPECTED[o].namespace)) {
      expect(input.path).toContain(`/var/log/containers/crm-api-*_${namespace}_*.log`);
    }
    expect(input['multiline.parser']).toMatch(/cri/);
    const parserFilter = config.pipeline.filters.find((f) => f.name === 'parser')!;
    expect(parserFilter.key_name).toBe('log');
    const parser = config.parsers.find((p) => p.name === parserFilter.parser)!;
    expect(parser.format).toBe('json');

    const lines = await appLogLines();
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines) {
      // The time field and its format (strftime, %L milliseconds) match the app's lines.
      const time = line[parser.time_key];
      const pattern = parser.time_format
        .replace(/[.]/g, '\\.')
        .replace('%Y', '\\d{4}')
        .replace(/%[mdHMS]/g, '\\d{2}')
        .replace('%L', '\\d{3}');
      expect(String(time)).toMatch(new RegExp(`^${pattern}$`));
      expect(typeof line.level).toBe('number');
      expect(typeof line.msg).toBe('string');
      expect(line.service).toBe('crm-api');
    }
    // Request lines carry the request id under the name the README's queries use.
    const requestLines = lines.filter((l) => l.requestId !== undefined);
    expect(requestLines.length).toBeGreaterThanOrEqual(3);
    expect(requestLines.every((l) => l.requestId === 'req-123')).toBe(true);
    expect(readFileSync(join(ROOT, LOGGING_DIR, 'fluent-bit.yaml'), 'utf8')).toContain(
      'requestId="..."',
    );
  });

  it('maps every pino level to a name, and sends only low-cardinality labels to Loki', async () => {
    const lua = config.pipeline.filters.find((f) => f.name === 'lua')!;
    const levels = new Set((await appLogLines()).map((l) => l.level));
    expect([...levels].sort()).toEqual([30, 40]);
    for (const [level, name] of [
      [10, 'trace'],
      [20, 'debug'],
      [30, 'info'],
      [40, 'warn'],
      [50, 'error'],
      [60, 'fatal'],
    ] as const) {
      expect(lua.code).toContain(`[${level}] = "${name}"`);
    }
    const [loki] = config.pipeline.outputs;
    expect(loki.name).toBe('loki');
    expect(loki.line_format).toBe('json');
    const labels = Object.fromEntries(
      (loki.labels ?? '').split(',').map((pair) => pair.trim().split('=') as [string, string]),
    );
    expect(Object.keys(labels).sort()).toEqual(['app', 'container', 'level', 'namespace']);
    expect(labels.level).toBe('$level_name');
    expect(lua.code).toContain('record["level_name"]');
    expect(loki.labels).not.toMatch(/requestId|traceId|spanId/);
  });

  withKubectl(
    `its kustomization renders valid objects with the config mounted${skipNote}`,
    async () => {
      const objects = kustomize(LOGGING_DIR);
      await validateAll(objects, 'deploy/logging/fluent-bit');
      const daemonSet = one(objects, 'DaemonSet');
      const configMap = one(objects, 'ConfigMap');
      expect(Object.keys(dataOf(configMap))).toEqual(['fluent-bit.yaml']);
      const pod = daemonSet.spec!.template!.spec;
      const volume = (pod.volumes ?? []).find((v) => v.configMap?.name === configMap.metadata.name);
      const mount = pod.containers[0].volumeMounts?.find((m) => m.name === volume?.name);
      expect(pod.containers[0].args).toEqual([`--config=${mount?.mountPath}/fluent-bit.yaml`]);
      const serviceAccount = (pod as { serviceAccountName?: string }).serviceAccountName;
      expect(one(objects, 'ServiceAccount').metadata.name).toBe(serviceAccount);
    },
  );
});

afterAll(() => {
  if (!KUBECTL) {
    console.warn(
      `deploy-kubernetes: ${KUBECTL_BIN} is not installed: the overlays were NOT rendered nor validated ` +
        '(set REQUIRE_KUBECTL=true to make this a failure).',
    );
  }
});
