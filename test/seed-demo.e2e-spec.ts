import { execFile } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEMO_COMPANIES,
  DEMO_CONTACTS,
  DEMO_DEALS,
  DEMO_LEADS,
  DEMO_ORGANIZATION,
  DEMO_PASSWORD,
  DEMO_USERS,
  DEMO_WEBHOOKS,
  RENEWALS_PIPELINE,
} from '../src/cli/demo-data';
import { appProcessEnvironment } from './support/app-process';
import { createTestApp, type TestApp } from './support/test-app';

/**
 * `npm run seed:demo` (src/cli/seed-demo.ts) run as the user runs it, twice, against the database
 * of a test app: the first run creates the demo organization of src/cli/demo-data.ts through the
 * API (every role, every lead status, every stage of both pipelines, overdue tasks, activities,
 * notifications, dates in the past), the second finds it complete and creates nothing; the
 * printed credentials sign in. What the runs created is read back through the API.
 */

const API = '/api/v1';
const ROOT = process.cwd();
const RUN_TIMEOUT_MS = 240_000;

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function seedDemo(t: TestApp, args: string[] = []): Promise<RunResult> {
  // An empty working directory: no .env of the developer is read.
  const cwd = mkdtempSync(join(tmpdir(), 'crm-seed-demo-'));
  const env = { ...appProcessEnvironment(cwd, 0), DATABASE_URL: t.config.databaseUrl! };
  const tsNode = createRequire(join(ROOT, 'package.json')).resolve(
    'ts-node/register/transpile-only',
  );
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--require', tsNode, join(ROOT, 'src/cli/seed-demo.ts'), ...args],
      { cwd, env, timeout: RUN_TIMEOUT_MS },
      (error, stdout, stderr) => {
        rmSync(cwd, { recursive: true, force: true });
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** The users' table at the end of the output: email, role, password. */
function credentials(stdout: string): { email: string; role: string; password: string }[] {
  return [...stdout.matchAll(/^(\S+@\S+)\s+(\S+)\s+(\S+)$/gm)].map(([, email, role, password]) => ({
    email,
    role,
    password,
  }));
}

interface Session {
  email: string;
  accessToken: string;
}

type Headers = Record<string, string>;

async function all<T>(t: TestApp, path: string, headers: Headers): Promise<T[]> {
  const items: T[] = [];
  for (let page = 1; ; page++) {
    const res = await t.http().get(`${API}${path}`).query({ page, pageSize: 100 }).set(headers);
    expect(res.status).toBe(200);
    const body = res.body as { items: T[]; total: number };
    items.push(...body.items);
    if (items.length >= body.total) return items;
  }
}

interface Deal {
  id: string;
  title: string;
  pipelineId: string;
  status: string;
  stage: string;
  createdAt: string;
}

/** What the organization holds, as its owner reads it through the API (ids sorted). */
async function snapshot(t: TestApp, organizationId: string, sessions: Session[]) {
  const as = (s: Session): Headers => ({
    authorization: `Bearer ${s.accessToken}`,
    'x-organization-id': organizationId,
  });
  const owner = as(sessions[0]);
  const ids = (rows: { id: string }[]): string[] => rows.map((r) => r.id).sort();
  const members = await all<{ email: string; role: string }>(
    t,
    '/organizations/current/members',
    owner,
  );
  const pipelines = await all<{ id: string; name: string; stages: { key: string }[] }>(
    t,
    '/pipelines',
    owner,
  );
  const deals = await all<Deal>(t, '/deals', owner);
  const leads = await all<{ id: string; status: string }>(t, '/leads', owner);
  const tasks = await all<{ id: string; isDone: boolean }>(t, '/tasks', owner);
  const overdue = await all<{ id: string }>(t, '/tasks?overdue=true', owner);
  const comments: Record<string, number> = {};
  let activities = 0;
  for (const deal of deals) {
    const items = await all<{ type: string }>(t, `/deals/${deal.id}/activities`, owner);
    activities += items.length;
    comments[deal.title] = items.filter((a) => a.type === 'comment').length;
  }
  const notifications: Record<string, string[]> = {};
  for (const session of sessions) {
    const items = await all<{ kind: string }>(t, '/notifications', as(session));
    notifications[session.email] = items.map((n) => n.kind).sort();
  }
  return {
    members: Object.fromEntries(members.map((m) => [m.email, m.role])),
    pipelines: pipelines.map((p) => ({
      id: p.id,
      name: p.name,
      stages: p.stages.map((s) => s.key),
    })),
    companies: ids(await all(t, '/companies', owner)),
    contacts: ids(await all(t, '/contacts', owner)),
    leads: leads.map((l) => `${l.id} ${l.status}`).sort(),
    deals: deals
      .map((d) => ({
        id: d.id,
        title: d.title,
        pipelineId: d.pipelineId,
        status: d.status,
        stage: d.stage,
        createdAt: d.createdAt,
      }))
      .sort((a, b) => a.id.localeCompare(b.id)),
    tasks: tasks.map((task) => `${task.id} ${task.isDone}`).sort(),
    overdue: ids(overdue),
    activities,
    comments,
    webhooks: await all<{ url: string; enabled: boolean }>(t, '/webhooks', owner),
    notifications,
  };
}

const count = <T>(items: readonly T[], predicate: (item: T) => boolean): number =>
  items.filter(predicate).length;

describe('npm run seed:demo', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it(
    'creates the demo organization through the API, finds it complete the second time, and its printed credentials sign in',
    async () => {
      const first = await seedDemo(t);
      expect({ code: first.code, stderr: first.stderr }).toEqual({
        code: 0,
        stderr: expect.any(String),
      });
      expect(first.stdout).toContain(`created the demo organization "${DEMO_ORGANIZATION}"`);
      const organizationId = /X-Organization-Id: ([0-9a-f-]{36})/.exec(first.stdout)?.[1];
      expect(organizationId).toBeDefined();

      // The printed credentials: every demo user, with the demo password, signs in and is a
      // member of the demo organization with the printed role.
      const printed = credentials(first.stdout);
      expect(printed).toEqual(
        DEMO_USERS.map((u) => ({ email: u.email, role: u.role, password: DEMO_PASSWORD })),
      );
      const sessions: Session[] = [];
      for (const { email, role, password } of printed) {
        const res = await t.http().post(`${API}/auth/login`).send({ email, password });
        expect(res.status).toBe(200);
        const body = res.body as {
          accessToken: string;
          organizations: { id: string; role: string }[];
        };
        expect(body.organizations).toContainEqual(
          expect.objectContaining({ id: organizationId, role }),
        );
        sessions.push({ email, accessToken: body.accessToken });
      }

      const seeded = await snapshot(t, organizationId!, sessions);
      const converted = DEMO_LEADS.filter((l) => l.status === 'converted');

      // Users in every built-in role and the custom one.
      expect(seeded.members).toEqual(Object.fromEntries(DEMO_USERS.map((u) => [u.email, u.role])));
      expect(new Set(Object.values(seeded.members))).toEqual(
        new Set(['owner', 'admin', 'manager', 'member', 'analyst']),
      );
      // Companies and contacts, plus those the converted lead brought.
      expect(seeded.companies).toHaveLength(DEMO_COMPANIES.length + converted.length);
      expect(seeded.contacts).toHaveLength(DEMO_CONTACTS.length + converted.length);

      // Leads in every status, as many as the demo data says.
      const leadStatuses = seeded.leads.map((l) => l.split(' ')[1]);
      for (const status of ['new', 'contacted', 'qualified', 'disqualified', 'converted']) {
        expect([status, count(leadStatuses, (s) => s === status)]).toEqual([
          status,
          count(DEMO_LEADS, (l) => l.status === status),
        ]);
        expect(leadStatuses).toContain(status);
      }

      // Two pipelines, deals at every stage of each, every status in each.
      expect(seeded.pipelines).toHaveLength(2);
      expect(seeded.pipelines.map((p) => p.name)).toContain(RENEWALS_PIPELINE.name);
      for (const pipeline of seeded.pipelines) {
        const deals = seeded.deals.filter((d) => d.pipelineId === pipeline.id);
        expect([pipeline.name, [...new Set(deals.map((d) => d.stage))].sort()]).toEqual([
          pipeline.name,
          [...pipeline.stages].sort(),
        ]);
        expect([pipeline.name, [...new Set(deals.map((d) => d.status))].sort()]).toEqual([
          pipeline.name,
          ['in_progress', 'lost', 'new', 'won'],
        ]);
      }
      expect(seeded.deals).toHaveLength(DEMO_DEALS.length + converted.length);
      for (const deal of DEMO_DEALS) {
        const found = seeded.deals.find((d) => d.title === deal.title);
        const closed = deal.status === 'won' || deal.status === 'lost';
        expect(found && { title: found.title, status: found.status, stage: found.stage }).toEqual({
          title: deal.title,
          status: deal.status,
          stage: closed ? 'closed' : deal.stage,
        });
        // Each comment once, next to the activities the deal's changes wrote.
        expect([deal.title, seeded.comments[deal.title]]).toEqual([
          deal.title,
          deal.comments.length,
        ]);
      }
      expect(seeded.activities).toBeGreaterThan(DEMO_DEALS.length * 2);

      // Dates spread over the last months: the oldest deal is as old as the demo data says.
      const oldest = Math.max(...DEMO_DEALS.map((d) => d.daysAgo));
      const createdAt = seeded.deals.map((d) => Date.parse(d.createdAt));
      expect(Date.now() - Math.min(...createdAt)).toBeGreaterThan((oldest - 1) * 86_400_000);

      // Tasks: some overdue, some done.
      const tasks = DEMO_DEALS.flatMap((d) => d.tasks);
      expect(seeded.tasks).toHaveLength(tasks.length);
      expect(seeded.overdue).toHaveLength(count(tasks, (task) => task.dueInDays < 0 && !task.done));
      expect(seeded.overdue.length).toBeGreaterThan(0);
      expect(count(seeded.tasks, (task) => task.endsWith(' true'))).toBe(
        count(tasks, (task) => !!task.done),
      );

      // Notifications arose from the events: the owner hears of won deals, the member of the
      // tasks and leads the owner created for them.
      expect(seeded.notifications['owner@northwind.example']).toContain('deal.won');
      expect(seeded.notifications['member@northwind.example']).toEqual(
        expect.arrayContaining(['member.added', 'lead.created', 'task.created', 'deal.lost']),
      );

      // Webhooks, disabled: created where their host resolves (creation resolves it; offline
      // machines cannot), else reported as not created.
      const online = await lookup('example.com').then(
        () => true,
        () => false,
      );
      if (online) {
        expect(seeded.webhooks.map((w) => [w.url, w.enabled]).sort()).toEqual(
          DEMO_WEBHOOKS.map((w) => [w.url, false]).sort(),
        );
      } else {
        expect(seeded.webhooks).toEqual([]);
        expect(first.stdout).toMatch(/webhooks .*not created: .*example\.com does not resolve/);
      }

      // The second run finds everything and creates nothing.
      const second = await seedDemo(t);
      expect(second.code).toBe(0);
      expect(second.stdout).toContain(
        `found the demo organization "${DEMO_ORGANIZATION}" (${organizationId})`,
      );
      expect(second.stdout).toContain('nothing to create: the demo organization is complete');
      expect(second.stdout).not.toMatch(/[1-9]\d* created/);
      expect(credentials(second.stdout)).toEqual(printed);
      expect(await snapshot(t, organizationId!, sessions)).toEqual(seeded);
    },
    2 * RUN_TIMEOUT_MS + 60_000,
  );

  it(
    'answers --help with the usage, and wrong arguments with status 2 and the usage',
    async () => {
      const help = await seedDemo(t, ['--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('usage: npm run seed:demo');
      for (const args of [['--bogus'], ['--url', 'localhost:3000'], ['--password', 'short']]) {
        const wrong = await seedDemo(t, args);
        expect([args, wrong.code]).toEqual([args, 2]);
        expect(wrong.stderr).toContain('usage: npm run seed:demo');
      }
    },
    RUN_TIMEOUT_MS,
  );
});
