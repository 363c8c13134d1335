/**
 * `npm run seed:demo [-- --url <server>] [--password <password>]`: the demo organization of
 * src/cli/demo-data.ts, to explore the API with (docs/guide.md).
 *
 * Everything is created through the HTTP API, as users would create it, so validation, events,
 * the audit log and notifications happen as for real work: on a server started here in-process
 * (on 127.0.0.1 and a free port, over the database of DATABASE_URL, else the embedded one of a
 * running `npm start`, else that embedded one started here), or on the running server `--url`
 * names. The database itself is used for two things the API rightly refuses: moving the new
 * records' dates into the past (the data spreads over the last months, some tasks are
 * overdue), and waiting until the events were handled (notifications).
 *
 * Idempotent: records are found by their natural keys (the demo emails, domains, titles and
 * names); a second run creates only what is missing, and says when nothing was.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import type { AppConfig } from '../config/app-config';
import { CliError, findDatabase, loadCliConfig, parse, runCli, UsageError } from './cli-context';
import {
  DEMO_COMPANIES,
  DEMO_CONTACTS,
  DEMO_DEALS,
  DEMO_LEADS,
  DEMO_ORGANIZATION,
  DEMO_PASSWORD,
  DEMO_ROLE,
  DEMO_USERS,
  DEMO_WEBHOOKS,
  RENEWALS_PIPELINE,
  type DemoDeal,
  type DemoLead,
  type UserKey,
} from './demo-data';

const USAGE = `usage: npm run seed:demo [-- [--url <http://host:port>] [--password <password>]]
  Creates the demo organization "${DEMO_ORGANIZATION}" with users in every role, companies,
  contacts, leads, deals in two pipelines, tasks, activities, webhooks and notifications.
  Run it again: it creates only what is missing.
  --url       send the requests to this running server (e.g. http://localhost:3000), on the same
              database, instead of starting the app in-process
  --password  the demo users' password (default ${DEMO_PASSWORD})`;

/** How long to wait for the events of the run to be handled (notifications). */
const SETTLE_MS = 60_000;
const DAY_MS = 86_400_000;

interface ErrorBody {
  code?: string;
  message?: string;
}

class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

interface Page<T> {
  items: T[];
  total: number;
}

/** A small HTTP client of the API: JSON in and out, the session's headers on every call. */
class Api {
  token: string | null = null;
  organizationId: string | null = null;

  constructor(private readonly base: string) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { 'user-agent': 'crm-seed-demo' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (this.organizationId) headers['x-organization-id'] = this.organizationId;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.base}/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const error = (parsed ?? {}) as ErrorBody;
      throw new ApiError(
        res.status,
        error.code,
        `${method} ${path}: ${res.status} ${error.code ?? ''} ${error.message ?? text}`.trim(),
      );
    }
    return parsed as T;
  }

  /** Every item of a list endpoint (all pages). */
  async all<T>(path: string): Promise<T[]> {
    const items: T[] = [];
    const join = path.includes('?') ? '&' : '?';
    for (let page = 1; ; page++) {
      const answer = await this.call<Page<T>>('GET', `${path}${join}page=${page}&pageSize=100`);
      items.push(...answer.items);
      if (items.length >= answer.total || !answer.items.length) return items;
    }
  }

  async count(path: string): Promise<number> {
    const join = path.includes('?') ? '&' : '?';
    return (await this.call<Page<unknown>>('GET', `${path}${join}pageSize=1`)).total;
  }
}

interface Pipeline {
  id: string;
  name: string;
  isDefault: boolean;
  stages: { key: string }[];
}

interface Deal {
  id: string;
  title: string;
  status: string;
  stage: string;
}

interface Lead {
  id: string;
  email: string | null;
  convertedContactId: string | null;
  convertedDealId: string | null;
}

/** A record created by this run, and how far into the past its dates move. */
interface Aged {
  table: 'companies' | 'contacts' | 'leads' | 'deals' | 'tasks';
  id: string;
  /** Created this many days ago, last changed `touchedDaysAgo` days ago. */
  daysAgo: number;
  touchedDaysAgo: number;
  /** tasks: the due date, days from today (past due dates cannot be given through the API). */
  dueInDays?: number;
}

const daysOf = (days: number): string =>
  new Date(Date.now() + days * DAY_MS).toISOString().slice(0, 10);

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

class Seeder {
  readonly userIds = new Map<UserKey, string>();
  readonly aged: Aged[] = [];
  created = 0;
  organizationId = '';

  constructor(
    private readonly api: Api,
    private readonly password: string,
    private readonly log: (line: string) => void,
  ) {}

  private step(what: string, found: number, created: number, note = ''): void {
    this.created += created;
    this.log(
      `${what.padEnd(14)} ${String(found).padStart(3)} found, ${String(created).padStart(3)} created${note}`,
    );
  }

  private owner(key: UserKey): string {
    const id = this.userIds.get(key);
    if (!id) throw new Error(`demo user ${key} is missing`);
    return id;
  }

  /** The owner's session and the demo organization, created on the first run. */
  async organization(): Promise<void> {
    const owner = DEMO_USERS.find((u) => u.role === 'owner')!;
    let created = 0;
    try {
      const login = await this.api.call<{ user: { id: string }; accessToken: string }>(
        'POST',
        '/auth/login',
        { email: owner.email, password: this.password },
      );
      this.api.token = login.accessToken;
      this.userIds.set('owner', login.user.id);
    } catch (error) {
      if (!(error instanceof ApiError) || error.code !== 'INVALID_CREDENTIALS') throw error;
      const registered = await this.register(owner.email, owner.name, DEMO_ORGANIZATION);
      if (!registered) {
        throw new CliError(
          `${owner.email} exists with another password: run again with --password <the password of the first run>`,
        );
      }
      this.api.token = registered.accessToken;
      this.userIds.set('owner', registered.user.id);
      created++;
    }
    const organizations = await this.api.call<{ id: string; name: string; role: string }[]>(
      'GET',
      '/organizations/me',
    );
    let organization = organizations.find(
      (o) => o.name === DEMO_ORGANIZATION && o.role === 'owner',
    );
    if (!organization) {
      organization = await this.api.call('POST', '/organizations', {
        name: DEMO_ORGANIZATION,
        defaultCurrency: 'USD',
      });
      created++;
    }
    this.organizationId = organization!.id;
    this.api.organizationId = this.organizationId;
    this.log(
      `${created ? 'created' : 'found'} the demo organization "${DEMO_ORGANIZATION}" (${this.organizationId})`,
    );
    this.created += created;
  }

  /** POST /auth/register; null when the email is taken already. */
  private async register(
    email: string,
    name: string,
    organizationName: string,
  ): Promise<{ user: { id: string }; accessToken: string } | null> {
    try {
      return await this.api.call('POST', '/auth/register', {
        email,
        password: this.password,
        name,
        organizationName,
      });
    } catch (error) {
      if (error instanceof ApiError && error.code === 'EMAIL_TAKEN') return null;
      throw error;
    }
  }

  /** The custom role, then every demo user as a member with their role. */
  async team(): Promise<void> {
    const roles = await this.api.all<{ key: string }>('/roles');
    const role = roles.some((r) => r.key === DEMO_ROLE.key) ? 0 : 1;
    if (role) await this.api.call('POST', '/roles', DEMO_ROLE);
    this.step('custom roles', 1 - role, role);

    const members = await this.api.all<{ userId: string; email: string }>(
      '/organizations/current/members',
    );
    let found = 0;
    let created = 0;
    for (const user of DEMO_USERS) {
      const member = members.find((m) => m.email === user.email);
      if (member) {
        this.userIds.set(user.key, member.userId);
        found++;
        continue;
      }
      // A user has to be registered before joining; registering gives them an organization
      // of their own as well (API.md section 2).
      await this.register(user.email, user.name, `${user.name} (personal)`);
      const added = await this.api.call<{ userId: string }>(
        'POST',
        '/organizations/current/members',
        { email: user.email, role: user.role },
      );
      this.userIds.set(user.key, added.userId);
      created++;
    }
    this.step('users', found, created);
  }

  async pipelines(): Promise<Map<'default' | 'renewals', Pipeline>> {
    const pipelines = await this.api.all<Pipeline>('/pipelines');
    const defaultPipeline = pipelines.find((p) => p.isDefault);
    if (!defaultPipeline) throw new CliError('the organization has no default pipeline');
    let renewals = pipelines.find((p) => p.name === RENEWALS_PIPELINE.name);
    const created = renewals ? 0 : 1;
    renewals ??= await this.api.call<Pipeline>('POST', '/pipelines', RENEWALS_PIPELINE);
    this.step('pipelines', 2 - created, created);
    return new Map([
      ['default', defaultPipeline],
      ['renewals', renewals],
    ]);
  }

  async companies(): Promise<Map<string, string>> {
    const existing = await this.api.all<{ id: string; domain: string | null }>('/companies');
    const ids = new Map(existing.map((c) => [c.domain ?? '', c.id]));
    let created = 0;
    for (const company of DEMO_COMPANIES) {
      if (ids.has(company.domain)) continue;
      const { id } = await this.api.call<{ id: string }>('POST', '/companies', {
        name: company.name,
        domain: company.domain,
        industry: company.industry,
        phone: company.phone,
        address: { city: company.city, country: company.country },
        socialProfiles: [{ network: 'website', url: `https://${company.domain}/` }],
        ownerId: this.owner(company.owner),
      });
      ids.set(company.domain, id);
      this.age('companies', id, company.daysAgo);
      created++;
    }
    this.step('companies', DEMO_COMPANIES.length - created, created);
    return ids;
  }

  async contacts(companies: Map<string, string>): Promise<Map<string, string>> {
    const existing = await this.api.all<{ id: string; email: string | null }>('/contacts');
    const ids = new Map(existing.map((c) => [c.email ?? '', c.id]));
    let created = 0;
    for (const contact of DEMO_CONTACTS) {
      if (ids.has(contact.email)) continue;
      const { id } = await this.api.call<{ id: string }>('POST', '/contacts', {
        name: contact.name,
        email: contact.email,
        phone: contact.phone,
        ...(contact.company && { companyId: companies.get(contact.company) }),
        ownerId: this.owner(contact.owner),
      });
      ids.set(contact.email, id);
      this.age('contacts', id, contact.daysAgo);
      created++;
    }
    this.step('contacts', DEMO_CONTACTS.length - created, created);
    return ids;
  }

  /** Leads in every status: created `new`, then moved by the actions a user would take. */
  async leads(): Promise<void> {
    const existing = await this.api.all<Lead>('/leads');
    const emails = new Set(existing.map((l) => l.email));
    let created = 0;
    for (const lead of DEMO_LEADS) {
      if (emails.has(lead.email)) continue;
      await this.lead(lead);
      created++;
    }
    this.step('leads', DEMO_LEADS.length - created, created);
  }

  private async lead(lead: DemoLead): Promise<void> {
    const { id } = await this.api.call<Lead>('POST', '/leads', {
      name: lead.name,
      email: lead.email,
      phone: lead.phone,
      companyName: lead.companyName,
      source: lead.source,
      ownerId: this.owner(lead.owner),
    });
    const touched = Math.floor(lead.daysAgo / 2);
    this.age('leads', id, lead.daysAgo, touched);
    switch (lead.status) {
      case 'contacted':
        await this.api.call('PATCH', `/leads/${id}`, { status: 'contacted' });
        break;
      case 'qualified':
        await this.api.call('POST', `/leads/${id}/qualify`);
        break;
      case 'disqualified':
        await this.api.call('POST', `/leads/${id}/disqualify`, { reason: lead.reason });
        break;
      case 'converted': {
        const converted = await this.api.call<{
          contact: { id: string };
          company: { id: string } | null;
          deal: { id: string };
        }>('POST', `/leads/${id}/convert`, {
          dealTitle: lead.dealTitle,
          amount: lead.amount,
          currency: 'USD',
        });
        this.age('contacts', converted.contact.id, touched);
        if (converted.company) this.age('companies', converted.company.id, touched);
        this.age('deals', converted.deal.id, touched, Math.floor(touched / 2));
        break;
      }
      case 'new':
        break;
    }
  }

  /**
   * Deals in every stage and status of both pipelines: created `new` at the first stage, then
   * taken forward as a sales team would (in progress, stage by stage, won or lost), with
   * comments and tasks. Each step writes its activities and events like any user's.
   */
  async deals(
    pipelines: Map<'default' | 'renewals', Pipeline>,
    contacts: Map<string, string>,
  ): Promise<void> {
    const existing = await this.api.all<Deal>('/deals');
    const titles = new Set(existing.map((d) => d.title));
    let created = 0;
    for (const deal of DEMO_DEALS) {
      if (titles.has(deal.title)) continue;
      await this.deal(deal, pipelines.get(deal.pipeline)!, contacts);
      created++;
    }
    this.step('deals', DEMO_DEALS.length - created, created);
  }

  private async deal(
    deal: DemoDeal,
    pipeline: Pipeline,
    contacts: Map<string, string>,
  ): Promise<void> {
    const contactId = contacts.get(deal.contact);
    if (!contactId) throw new Error(`demo contact ${deal.contact} is missing`);
    const { id } = await this.api.call<Deal>('POST', '/deals', {
      contactId,
      pipelineId: pipeline.id,
      title: deal.title,
      amount: deal.amount,
      currency: deal.currency,
      ownerId: this.owner(deal.owner),
    });
    const stages = pipeline.stages.map((s) => s.key);
    const reached = stages.indexOf(deal.stage);
    // Work starts on a deal once it goes past its first stage (a deal lost at the first stage
    // goes new -> lost).
    if (
      deal.status === 'in_progress' ||
      deal.status === 'won' ||
      (deal.status === 'lost' && reached > 0)
    ) {
      await this.api.call('PATCH', `/deals/${id}`, { status: 'in_progress' });
    }
    for (const stage of stages.slice(1, reached + 1)) {
      await this.api.call('POST', `/deals/${id}/move-stage`, { stage });
    }
    for (const text of deal.comments) {
      await this.api.call('POST', `/deals/${id}/activities`, {
        type: 'comment',
        payload: { text },
      });
    }
    const touched = Math.floor(deal.daysAgo / 3);
    for (const task of deal.tasks) {
      // Due dates in the past cannot be given (422 DUE_DATE_IN_PAST): created due today, moved
      // into the past with the other dates.
      const created = await this.api.call<{ id: string }>('POST', '/tasks', {
        dealId: id,
        title: task.title,
        dueDate: daysOf(Math.max(task.dueInDays, 0)),
      });
      if (task.done) await this.api.call('PATCH', `/tasks/${created.id}`, { isDone: true });
      this.aged.push({
        table: 'tasks',
        id: created.id,
        daysAgo: deal.daysAgo,
        touchedDaysAgo: task.done ? Math.max(-task.dueInDays, 0) : deal.daysAgo,
        dueInDays: task.dueInDays,
      });
    }
    if (deal.status === 'won') await this.api.call('POST', `/deals/${id}/win`);
    if (deal.status === 'lost') {
      await this.api.call('POST', `/deals/${id}/lose`, { reason: deal.lostReason });
    }
    this.age('deals', id, deal.daysAgo, touched);
  }

  async webhooks(): Promise<void> {
    const existing = await this.api.all<{ url: string }>('/webhooks');
    const urls = new Set(existing.map((w) => w.url));
    let created = 0;
    for (const webhook of DEMO_WEBHOOKS) {
      if (urls.has(webhook.url)) continue;
      try {
        await this.api.call('POST', '/webhooks', { ...webhook, enabled: false });
        created++;
      } catch (error) {
        // The URL rules resolve the host when a webhook is created: offline, example.com
        // does not resolve and the demo goes on without webhooks.
        if (!(error instanceof ApiError) || error.code !== 'WEBHOOK_URL_NOT_ALLOWED') throw error;
        const reason = error.message.replace(/^.*?WEBHOOK_URL_NOT_ALLOWED /, '');
        this.step('webhooks', urls.size, created, ` (not created: ${reason}; run again online)`);
        return;
      }
    }
    this.step('webhooks', DEMO_WEBHOOKS.length - created, created, ' (disabled)');
  }

  private age(table: Aged['table'], id: string, daysAgo: number, touchedDaysAgo = daysAgo): void {
    this.aged.push({ table, id, daysAgo, touchedDaysAgo });
  }
}

/**
 * Moves the dates of the records this run created into the past: created and last changed as
 * the demo data says, a deal's activities spread over its life in their order, tasks due when
 * the demo data says (some overdue). Dates only: what the records say stays as the API wrote it.
 */
async function backdate(db: Client, organizationId: string, aged: Aged[]): Promise<void> {
  await db.query('BEGIN');
  try {
    for (const record of aged) {
      await db.query(
        `UPDATE ${record.table}
            SET created_at = now() - make_interval(days => $3::int),
                updated_at = now() - make_interval(days => $4::int)
                ${record.table === 'leads' ? ', converted_at = CASE WHEN converted_at IS NULL THEN NULL ELSE now() - make_interval(days => $4::int) END' : ''}
                ${record.dueInDays !== undefined ? ', due_date = current_date + $5::int' : ''}
          WHERE organization_id = $1 AND id = $2`,
        [
          organizationId,
          record.id,
          record.daysAgo,
          record.touchedDaysAgo,
          ...(record.dueInDays !== undefined ? [record.dueInDays] : []),
        ],
      );
      if (record.table !== 'deals') continue;
      await db.query(
        `WITH ranked AS (
           SELECT id, row_number() OVER (ORDER BY created_at, id) - 1 AS i, count(*) OVER () AS n
             FROM activities WHERE organization_id = $1 AND deal_id = $2)
         UPDATE activities a
            SET created_at = now() - make_interval(days => $3::int)
                + make_interval(days => $3::int - $4::int) * (CASE WHEN r.n > 1 THEN r.i::float8 / (r.n - 1) ELSE 0 END)
           FROM ranked r
          WHERE a.id = r.id`,
        [organizationId, record.id, record.daysAgo, record.touchedDaysAgo],
      );
    }
    await db.query('COMMIT');
  } catch (error) {
    await db.query('ROLLBACK');
    throw error;
  }
}

/** Waits until the organization's events were published and handled by the in-app consumers. */
async function settle(
  db: Client,
  organizationId: string,
  log: (line: string) => void,
): Promise<void> {
  const deadline = Date.now() + SETTLE_MS;
  for (;;) {
    const {
      rows: [row],
    } = await db.query<{ left: string }>(
      `SELECT (SELECT count(*) FROM events WHERE organization_id = $1 AND published_at IS NULL)
            + (SELECT count(*) FROM consumer_messages WHERE organization_id = $1 AND dead_at IS NULL) AS left`,
      [organizationId],
    );
    if (Number(row.left) === 0) return;
    if (Date.now() > deadline) {
      log(
        `${row.left} events are still waiting for the server's consumers: notifications may arrive later`,
      );
      return;
    }
    await sleep(200);
  }
}

/** The app in this process, on 127.0.0.1 and a free port. */
async function startApp(
  config: AppConfig,
  databaseUrl: string,
): Promise<{ url: string; app: NestFastifyApplication }> {
  // Loaded only here (a require, as this CommonJS script is run): --help, wrong arguments and
  // --url need none of the app, whose loading takes seconds.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { createApp } = require('../app.factory') as typeof import('../app.factory');
  const { createLogger } =
    require('../common/logging/logger') as typeof import('../common/logging/logger');
  /* eslint-enable @typescript-eslint/no-require-imports */
  // The app's own log goes to stderr, warnings only: stdout is the seed's progress.
  const logger = createLogger(
    { ...config, logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel },
    process.stderr,
  );
  const app = await createApp(config, databaseUrl, logger);
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { url: await app.getUrl(), app };
}

async function seed(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    url: { type: 'string' },
    password: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (positionals.length) throw new UsageError(`unexpected argument: ${positionals[0]}`);
  if (values.url !== undefined && !/^https?:\/\/[^/]+\/?$/.test(values.url)) {
    throw new UsageError('--url must be a server address, e.g. http://localhost:3000');
  }
  const password = values.password ?? DEMO_PASSWORD;
  if (
    password.length < 8 ||
    password.length > 72 ||
    !/[a-z]/i.test(password) ||
    !/\d/.test(password)
  ) {
    throw new UsageError(
      '--password must be 8..72 characters with at least one letter and one digit',
    );
  }

  const started = Date.now();
  const config = loadCliConfig();
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  const database = await findDatabase(config, log, { initialise: !values.url });
  let app: NestFastifyApplication | undefined;
  const db = new Client({ connectionString: database.url, application_name: 'crm-api seed:demo' });
  try {
    let base = values.url?.replace(/\/$/, '');
    if (!base) {
      log('starting the app in this process');
      const running = await startApp(config, database.url);
      app = running.app;
      base = running.url;
    }
    log(`seeding through ${base}/api/v1`);
    await db.connect();

    const api = new Api(base);
    const seeder = new Seeder(api, password, log);
    await seeder.organization();
    await seeder.team();
    const pipelines = await seeder.pipelines();
    const companies = await seeder.companies();
    const contacts = await seeder.contacts(companies);
    await seeder.leads();
    await seeder.deals(pipelines, contacts);
    await seeder.webhooks();
    if (seeder.aged.length) {
      await backdate(db, seeder.organizationId, seeder.aged);
      log(
        `${'dates'.padEnd(14)} spread over the last months (${plural(seeder.aged.length, 'record')})`,
      );
    }
    await settle(db, seeder.organizationId, log);
    const [overdue, notifications] = await Promise.all([
      api.count('/tasks?overdue=true'),
      api.count('/notifications'),
    ]);
    log(
      `${'now'.padEnd(14)} ${overdue} tasks overdue, ${notifications} notifications for the owner`,
    );
    log(
      seeder.created
        ? `done in ${Math.round((Date.now() - started) / 1000)} s: ${plural(seeder.created, 'record')} created`
        : 'nothing to create: the demo organization is complete',
    );
    log('');
    log(`organization  ${DEMO_ORGANIZATION}  X-Organization-Id: ${seeder.organizationId}`);
    const width = Math.max(...DEMO_USERS.map((u) => u.email.length));
    log(`${'email'.padEnd(width)}  ${'role'.padEnd(8)}  password`);
    for (const user of DEMO_USERS) {
      log(`${user.email.padEnd(width)}  ${user.role.padEnd(8)}  ${password}`);
    }
    log('');
    log(
      `sign in:  curl -s ${values.url ? base : `http://localhost:${config.port}`}/api/v1/auth/login -H 'content-type: application/json' -d '{"email":"${DEMO_USERS[0].email}","password":"${password}"}'`,
    );
  } finally {
    await db.end().catch(() => undefined);
    await app?.close();
    await database.close();
  }
}

runCli(USAGE, seed);
