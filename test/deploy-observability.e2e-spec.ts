import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { parse } from 'yaml';

/**
 * deploy/: the Prometheus alerting rules and the Grafana dashboard may only query the series
 * that GET /metrics exposes (with their labels and label values), the rule file has the shape
 * Prometheus loads, and the alerts that operations rely on exist. Static checks of files: no
 * application, no database. `promtool check rules` runs too where promtool is installed.
 */

// Jest runs from the project root (the ESM test files have no __dirname).
const ROOT = process.cwd();
const ALERTS_FILE = join(ROOT, 'deploy/prometheus/alerts.yml');
const DASHBOARD_FILE = join(ROOT, 'deploy/grafana/crm-api-dashboard.json');

/** A label's allowed values, or null for any value. */
type LabelValues = readonly string[] | null;
/** A series' labels (besides the target labels), or null for any label (not checked). */
type Labels = Readonly<Record<string, LabelValues>> | null;

const HTTP_LABELS = { method: null, route: null, status: null } as const;

/** The application's series, as GET /metrics exposes them (deploy/README.md). */
const APP_METRICS: Readonly<Record<string, Labels>> = {
  http_request_duration_seconds_bucket: { ...HTTP_LABELS, le: null },
  http_request_duration_seconds_sum: HTTP_LABELS,
  http_request_duration_seconds_count: HTTP_LABELS,
  crm_outbox_pending: {},
  crm_outbox_oldest_pending_seconds: {},
  crm_events_published_total: {},
  crm_webhook_deliveries_total: { status: ['succeeded', 'retry', 'failed'] },
  crm_notifications_total: {
    channel: ['inApp', 'email', 'sms'],
    status: ['sent', 'retry', 'failed'],
  },
  crm_circuit_breaker_open: { channel: ['email', 'sms'] },
  crm_db_pool_size: {},
  crm_db_pool_idle: {},
  crm_db_pool_waiting: {},
  crm_login_attempts_total: { result: ['success', 'failure', 'rate_limited'] },
  crm_cache_hits_total: { kind: null },
  crm_cache_misses_total: { kind: null },
};

/** Labels that Prometheus adds to every scraped series. */
const TARGET_LABELS = ['job', 'instance'];

/** The series of prom-client's default collector (process_*, nodejs_*), read from prom-client. */
function defaultCollectorMetrics(): Record<string, Labels> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const names: Record<string, Labels> = {};
  for (const metric of registry.getMetricsAsArray()) {
    const type = String(metric.type); // "histogram" etc. at run time (an enum in the typings)
    const series =
      type === 'histogram'
        ? ['_bucket', '_sum', '_count'].map((suffix) => metric.name + suffix)
        : type === 'summary'
          ? [metric.name, `${metric.name}_sum`, `${metric.name}_count`]
          : [metric.name];
    for (const name of series) names[name] = null;
  }
  registry.clear();
  return names;
}

const ALLOWED: Readonly<Record<string, Labels>> = { ...defaultCollectorMetrics(), ...APP_METRICS };

/** PromQL functions and aggregation operators (Prometheus 3). */
const FUNCTIONS = new Set(
  `abs absent absent_over_time avg avg_over_time bottomk ceil changes clamp clamp_max clamp_min
   count count_over_time count_values day_of_month day_of_week day_of_year days_in_month delta
   deriv exp floor group histogram_avg histogram_count histogram_fraction histogram_quantile
   histogram_stddev histogram_stdvar histogram_sum holt_winters double_exponential_smoothing
   hour idelta increase irate label_join label_replace last_over_time limitk limit_ratio ln log10
   log2 mad_over_time max max_over_time min min_over_time minute month predict_linear present_over_time
   quantile quantile_over_time rate resets round scalar sgn sort sort_by_label sort_by_label_desc
   sort_desc sqrt stddev stddev_over_time stdvar stdvar_over_time sum sum_over_time time timestamp
   topk vector year acos acosh asin asinh atan atanh cos cosh deg pi rad sin sinh tan tanh`.split(
    /\s+/,
  ),
);
/** Modifiers followed by a parenthesised list of label names. */
const LABEL_LIST_KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
]);
const KEYWORDS = new Set(['and', 'or', 'unless', 'atan2', 'bool', 'offset', 'inf', 'nan']);

interface Selector {
  metric: string;
  matchers: { label: string; op: string; value: string }[];
}

/**
 * A small PromQL scanner: the series selectors (metric name and label matchers) and the problems
 * it sees (unknown functions, unbalanced brackets, unreadable matchers, selectors without a
 * metric name). Grafana variables ($job, ${datasource}, $__rate_interval) are skipped.
 */
function analyse(expr: string): { selectors: Selector[]; problems: string[] } {
  const selectors: Selector[] = [];
  const problems: string[] = [];
  const closing: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
  const stack: string[] = [];
  let i = 0;

  const skipString = (at: number): number => {
    const quote = expr[at];
    let j = at + 1;
    while (j < expr.length && expr[j] !== quote) j += expr[j] === '\\' && quote !== '`' ? 2 : 1;
    if (j >= expr.length) problems.push(`unterminated string at ${at}`);
    return j + 1;
  };
  const skipSpace = (at: number): number => {
    let j = at;
    while (j < expr.length && /\s/.test(expr[j])) j++;
    return j;
  };
  /** The label matchers of `{...}` starting at `at`, and the index after the `}`. */
  const readMatchers = (at: number): { matchers: Selector['matchers']; end: number } => {
    const matchers: Selector['matchers'] = [];
    const matcher =
      /\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)\s*(,|(?=\}))/y;
    matcher.lastIndex = at + 1;
    let j = at + 1;
    for (let m = matcher.exec(expr); m; m = matcher.exec(expr)) {
      matchers.push({ label: m[1], op: m[2], value: m[3].slice(1, -1) });
      j = matcher.lastIndex;
    }
    j = skipSpace(j);
    if (expr[j] !== '}') {
      problems.push(`unreadable label matchers at ${at}: ${expr.slice(at, at + 60)}`);
      const end = expr.indexOf('}', j);
      return { matchers, end: end < 0 ? expr.length : end + 1 };
    }
    return { matchers, end: j + 1 };
  };

  while (i < expr.length) {
    const c = expr[i];
    if (c === '#') {
      const end = expr.indexOf('\n', i);
      i = end < 0 ? expr.length : end;
    } else if (c === '"' || c === "'" || c === '`') {
      i = skipString(i);
    } else if (c === '$') {
      i = expr[i + 1] === '{' ? expr.indexOf('}', i) + 1 || expr.length : i + 1;
      while (i < expr.length && /\w/.test(expr[i])) i++;
    } else if (/[0-9.]/.test(c)) {
      while (i < expr.length && /[\w.]/.test(expr[i])) i++; // numbers and durations: 0.99, 5m, 1e9
    } else if (c === '[') {
      const end = expr.indexOf(']', i);
      if (end < 0) problems.push(`unclosed [ at ${i}`);
      i = end < 0 ? expr.length : end + 1; // range or subquery: 5m, $__rate_interval, 1h:1m
    } else if (c === '{') {
      problems.push(`selector without a metric name at ${i}: ${expr.slice(i, i + 40)}`);
      i = readMatchers(i).end;
    } else if (c === '(') {
      stack.push(c);
      i++;
    } else if (c === ')' || c === ']' || c === '}') {
      const open = stack.pop();
      if (!open || closing[open] !== c) problems.push(`unbalanced ${c} at ${i}`);
      i++;
    } else if (/[A-Za-z_:]/.test(c)) {
      const start = i;
      while (i < expr.length && /[\w:]/.test(expr[i])) i++;
      const word = expr.slice(start, i);
      const next = skipSpace(i);
      if (LABEL_LIST_KEYWORDS.has(word)) {
        if (expr[next] === '(') {
          const end = expr.indexOf(')', next);
          i = end < 0 ? expr.length : end + 1;
        }
      } else if (KEYWORDS.has(word) || FUNCTIONS.has(word)) {
        // an operator or modifier; a function or aggregation (`sum by (job) (...)` too)
      } else if (expr[next] === '(') {
        if (!FUNCTIONS.has(word)) problems.push(`unknown function ${word}()`);
      } else if (expr[next] === '{') {
        const { matchers, end } = readMatchers(next);
        selectors.push({ metric: word, matchers });
        i = end;
      } else {
        selectors.push({ metric: word, matchers: [] });
      }
    } else {
      i++;
    }
  }
  if (stack.length > 0) problems.push(`unclosed ${stack.join('')}`);
  if (expr.includes('__name__')) problems.push('selects by __name__ instead of a metric name');
  return { selectors, problems };
}

/** What is wrong with an expression: problems of the scanner and series that /metrics lacks. */
function expressionErrors(expr: string): string[] {
  const { selectors, problems } = analyse(expr);
  const errors = [...problems];
  if (selectors.length === 0) errors.push('no metric selected');
  for (const { metric, matchers } of selectors) {
    if (!(metric in ALLOWED)) {
      errors.push(`unknown metric ${metric}`);
      continue;
    }
    const labels = ALLOWED[metric];
    if (labels === null) continue;
    for (const { label, op, value } of matchers) {
      if (TARGET_LABELS.includes(label)) continue;
      if (!(label in labels)) {
        errors.push(`${metric} has no label ${label}`);
        continue;
      }
      const values = labels[label];
      // Literal values, or regular expressions that are plain alternatives (a|b); not $variables.
      if (values && /^\w+(\|\w+)*$/.test(value)) {
        for (const v of value.split('|')) {
          if (!values.includes(v)) errors.push(`${metric}{${label}${op}"${value}"}: no value ${v}`);
        }
      }
    }
  }
  return errors;
}

interface Rule {
  alert?: unknown;
  record?: unknown;
  expr?: unknown;
  for?: unknown;
  labels?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
}
interface RuleGroup {
  name?: unknown;
  rules?: Rule[];
}

const RULE_KEYS = ['alert', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations'];
const GROUP_KEYS = ['name', 'interval', 'limit', 'query_offset', 'labels', 'rules'];
const DURATION = /^((\d+)(ms|s|m|h|d|w|y))+$/;

/** The alerts operations rely on, and a series each must read. */
const REQUIRED_ALERTS: Record<string, string> = {
  CrmApiHighErrorRate: 'http_request_duration_seconds_count',
  CrmApiHighLatencyP99: 'http_request_duration_seconds_bucket',
  CrmOutboxLag: 'crm_outbox_oldest_pending_seconds',
  CrmOutboxBacklogGrowing: 'crm_outbox_pending',
  CrmWebhookDeliveriesFailed: 'crm_webhook_deliveries_total',
  CrmWebhookRetryRateHigh: 'crm_webhook_deliveries_total',
  CrmCircuitBreakerOpen: 'crm_circuit_breaker_open',
  CrmDbPoolWaiting: 'crm_db_pool_waiting',
  CrmEventLoopLagHigh: 'nodejs_eventloop_lag_p99_seconds',
  CrmLoginFailuresSpike: 'crm_login_attempts_total',
};

function loadRules(): RuleGroup[] {
  const document = parse(readFileSync(ALERTS_FILE, 'utf8')) as { groups?: RuleGroup[] } | null;
  return document?.groups ?? [];
}

function alertRules(): Rule[] {
  return loadRules().flatMap((group) => group.rules ?? []);
}

interface Target {
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid?: string;
  title?: string;
  schemaVersion?: number;
  panels?: Panel[];
  templating?: { list?: { name: string; type: string; query?: unknown }[] };
  __inputs?: { name: string; type: string; pluginId?: string }[];
}

function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
}

/** Every panel, those inside collapsed rows included. */
function allPanels(dashboard: Dashboard): Panel[] {
  return (dashboard.panels ?? []).flatMap((panel) => [panel, ...(panel.panels ?? [])]);
}

/** The program that checks Prometheus files, when it is installed (PROMTOOL may name it). */
function findPromtool(): { command: string; version: string } | null {
  const command = process.env.PROMTOOL || 'promtool';
  const probe = spawnSync(command, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.error || probe.status !== 0) return null;
  return { command, version: `${probe.stdout}${probe.stderr}`.split('\n')[0].trim() };
}

describe('deploy/: Prometheus alerts and Grafana dashboard', () => {
  describe('the PromQL check itself', () => {
    it('knows prom-client default collector series', () => {
      expect(ALLOWED).toHaveProperty(['process_cpu_seconds_total']);
      expect(ALLOWED).toHaveProperty(['process_resident_memory_bytes']);
      expect(ALLOWED).toHaveProperty(['nodejs_eventloop_lag_p99_seconds']);
    });

    it('accepts the series of /metrics with their labels, functions and Grafana variables', () => {
      expect(
        expressionErrors(
          'histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket{route=~"/api/.+", job=~"$job"}[$__rate_interval]))) > 1',
        ),
      ).toEqual([]);
      expect(
        expressionErrors(
          'max by (job) (crm_outbox_pending) > 0 and on (job) sum by (job) (rate(crm_events_published_total[10m] offset 5m)) == 0',
        ),
      ).toEqual([]);
      expect(
        expressionErrors(
          'sum(rate(crm_notifications_total{channel="inApp", status=~"sent|failed"}[5m]))',
        ),
      ).toEqual([]);
    });

    it('rejects unknown series, labels, label values and functions, and broken syntax', () => {
      expect(expressionErrors('rate(http_requests_total[5m])')).toEqual([
        'unknown metric http_requests_total',
      ]);
      // A histogram has no series under its own name: _bucket, _sum and _count.
      expect(expressionErrors('http_request_duration_seconds')).toEqual([
        'unknown metric http_request_duration_seconds',
      ]);
      expect(expressionErrors('crm_outbox_pending{status="x"}')).toEqual([
        'crm_outbox_pending has no label status',
      ]);
      expect(expressionErrors('rate(crm_webhook_deliveries_total{status="failure"}[5m])')).toEqual([
        'crm_webhook_deliveries_total{status="failure"}: no value failure',
      ]);
      expect(expressionErrors('crm_circuit_breaker_open{channel=~"email|inApp"}')).toEqual([
        'crm_circuit_breaker_open{channel=~"email|inApp"}: no value inApp',
      ]);
      expect(expressionErrors('rte(crm_events_published_total[5m])')).toEqual([
        'unknown function rte()',
      ]);
      expect(expressionErrors('sum(rate(crm_events_published_total[5m])')).toEqual(['unclosed (']);
      expect(expressionErrors('{__name__="crm_outbox_pending"}')).toEqual(
        expect.arrayContaining([expect.stringContaining('without a metric name')]),
      );
    });
  });

  describe('prometheus/alerts.yml', () => {
    it('is a rule file: groups of alerting rules with expr, for, severity and summary', () => {
      const groups = loadRules();
      expect(groups.length).toBeGreaterThan(0);
      const groupNames = new Set<unknown>();
      const alertNames = new Set<unknown>();
      for (const group of groups) {
        expect(Object.keys(group).filter((key) => !GROUP_KEYS.includes(key))).toEqual([]);
        expect(typeof group.name).toBe('string');
        expect(groupNames.has(group.name)).toBe(false);
        groupNames.add(group.name);
        expect(Array.isArray(group.rules) && group.rules.length > 0).toBe(true);
        for (const rule of group.rules ?? []) {
          const where = `${String(group.name)}/${String(rule.alert)}`;
          expect([where, Object.keys(rule).filter((key) => !RULE_KEYS.includes(key))]).toEqual([
            where,
            [],
          ]);
          expect([where, typeof rule.alert, typeof rule.expr]).toEqual([where, 'string', 'string']);
          expect(String(rule.alert)).toMatch(/^[A-Z][A-Za-z0-9]*$/);
          expect(alertNames.has(rule.alert)).toBe(false);
          alertNames.add(rule.alert);
          expect(String(rule.expr).trim()).not.toBe('');
          expect([where, String(rule.for)]).toEqual([where, expect.stringMatching(DURATION)]);
          expect([where, rule.labels?.severity]).toEqual([
            where,
            expect.stringMatching(/^(critical|warning|info)$/),
          ]);
          expect([where, typeof rule.annotations?.summary]).toEqual([where, 'string']);
          expect([where, typeof rule.annotations?.description]).toEqual([where, 'string']);
        }
      }
    });

    it('has the alerts operations rely on, each reading its series', () => {
      const rules = alertRules();
      for (const [alert, metric] of Object.entries(REQUIRED_ALERTS)) {
        const rule = rules.find((r) => r.alert === alert);
        expect([alert, rule ? 'present' : 'missing']).toEqual([alert, 'present']);
        const metrics = analyse(String(rule?.expr)).selectors.map((s) => s.metric);
        expect([alert, metrics]).toEqual([alert, expect.arrayContaining([metric])]);
      }
      const errorRate = rules.find((r) => r.alert === 'CrmApiHighErrorRate');
      expect(String(errorRate?.expr)).toContain('status=~"5.."');
      const failed = rules.find((r) => r.alert === 'CrmWebhookDeliveriesFailed');
      expect(String(failed?.expr)).toContain('status="failed"');
    });

    it('queries only the series of /metrics, with their labels and label values', () => {
      const errors = alertRules().flatMap((rule) =>
        expressionErrors(String(rule.expr)).map((error) => `${String(rule.alert)}: ${error}`),
      );
      expect(errors).toEqual([]);
    });

    it('annotations only use labels that the expression keeps', () => {
      const errors: string[] = [];
      for (const rule of alertRules()) {
        const expr = String(rule.expr);
        for (const [name, text] of Object.entries(rule.annotations ?? {})) {
          const template = String(text);
          if (template.split('{{').length !== template.split('}}').length) {
            errors.push(`${String(rule.alert)}.${name}: unbalanced {{ }}`);
          }
          for (const [, label] of template.matchAll(/\$labels\.(\w+)/g)) {
            // An aggregation keeps only the labels it names (by (job, channel)).
            if (!new RegExp(`\\b${label}\\b`).test(expr)) {
              errors.push(
                `${String(rule.alert)}.${name}: $labels.${label} is not in the expression`,
              );
            }
          }
        }
      }
      expect(errors).toEqual([]);
    });

    const promtool = findPromtool();
    (promtool ? it : it.skip)(
      promtool
        ? `promtool check rules accepts it (${promtool.version})`
        : 'promtool check rules accepts it (promtool is not installed on this machine: set PROMTOOL or put it on the PATH)',
      () => {
        const run = spawnSync(promtool?.command ?? 'promtool', ['check', 'rules', ALERTS_FILE], {
          encoding: 'utf8',
          timeout: 30_000,
        });
        expect({ status: run.status, output: `${run.stdout}${run.stderr}` }).toEqual({
          status: 0,
          output: expect.stringContaining('SUCCESS'),
        });
      },
    );
  });

  describe('grafana/crm-api-dashboard.json', () => {
    it('is a dashboard on a templated Prometheus data source', () => {
      const dashboard = loadDashboard();
      expect(dashboard.uid).toBe('crm-api');
      expect(typeof dashboard.title).toBe('string');
      expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
      const variables = (dashboard.templating?.list ?? [])
        .filter((v) => v.type === 'datasource' && v.query === 'prometheus')
        .map((v) => `\${${v.name}}`);
      const inputs = (dashboard.__inputs ?? [])
        .filter((input) => input.type === 'datasource' && input.pluginId === 'prometheus')
        .map((input) => `\${${input.name}}`);
      const sources = [...variables, ...inputs];
      expect(sources.length).toBeGreaterThan(0);

      const panels = allPanels(dashboard);
      const ids = panels.map((panel) => panel.id);
      expect(new Set(ids).size).toBe(ids.length);
      const queryPanels = panels.filter((panel) => panel.type !== 'row');
      expect(queryPanels.length).toBeGreaterThan(0);
      for (const panel of queryPanels) {
        const where = String(panel.title);
        expect([where, (panel.targets ?? []).length > 0]).toEqual([where, true]);
        expect([where, sources.includes(String(panel.datasource?.uid))]).toEqual([where, true]);
        const { x = -1, w = 0 } = panel.gridPos ?? {};
        expect([where, x >= 0 && w > 0 && x + w <= 24]).toEqual([where, true]);
        for (const target of panel.targets ?? []) {
          expect([where, typeof target.expr]).toEqual([where, 'string']);
          const uid = String(target.datasource?.uid ?? panel.datasource?.uid);
          expect([where, sources.includes(uid)]).toEqual([where, true]);
        }
      }
    });

    it('queries only the series of /metrics, with their labels and label values', () => {
      const dashboard = loadDashboard();
      const errors = allPanels(dashboard).flatMap((panel) =>
        (panel.targets ?? []).flatMap((target) =>
          expressionErrors(String(target.expr)).map((error) => `${String(panel.title)}: ${error}`),
        ),
      );
      // Variables: label_values(<selector>, label) reads a series too.
      for (const variable of dashboard.templating?.list ?? []) {
        if (variable.type !== 'query') continue;
        const query = variable.query;
        const text =
          typeof query === 'string' ? query : String((query as { query?: string }).query ?? '');
        const selector = /^label_values\((.+),\s*\w+\)$/.exec(text.trim());
        if (!selector) errors.push(`variable ${variable.name}: not label_values(series, label)`);
        else errors.push(...expressionErrors(selector[1]).map((e) => `$${variable.name}: ${e}`));
      }
      expect(errors).toEqual([]);
    });

    it('charts every series of the application and the process basics', () => {
      const charted = new Set(
        allPanels(loadDashboard()).flatMap((panel) =>
          (panel.targets ?? []).flatMap((t) =>
            analyse(String(t.expr)).selectors.map((s) => s.metric),
          ),
        ),
      );
      const expected = [
        ...Object.keys(APP_METRICS).filter((name) => name !== 'http_request_duration_seconds_sum'),
        'process_cpu_seconds_total',
        'process_resident_memory_bytes',
        'nodejs_eventloop_lag_p99_seconds',
      ];
      expect(expected.filter((name) => !charted.has(name))).toEqual([]);
    });
  });
});
