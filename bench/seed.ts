/**
 * Benchmark data generator (issue "Performance at scale").
 *
 *   npm run bench:seed -- --contacts 1000000 --deals 1000000 --tasks 300000
 *
 * Drops and re-creates the bench database (default postgres://postgres@127.0.0.1:5432/crm_bench,
 * or BENCH_DATABASE_URL / --database-url; its name must contain "bench"), runs the app's
 * migrations, then fills one large organization ("Bench Corp", 8 users with every role) and a
 * few small ones with set-based SQL (INSERT ... SELECT FROM generate_series): no row-by-row
 * round trip, no HTTP. Secondary indexes are dropped before the load and re-created after it
 * (from their own definitions, so whatever the migrations create is what gets measured), then
 * VACUUM (ANALYZE). Every user's password is BENCH_PASSWORD (bcrypt, cost BCRYPT_COST or 12).
 *
 * Options: --contacts N --deals N --tasks N --activities N (default: one deal_created per deal)
 *          --small-orgs N (default 3) --database-url URL
 */
import 'reflect-metadata';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as bcrypt from 'bcrypt';
import type { Client } from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../src/database/data-source-options';
import { ENTITIES } from '../src/entities';
import {
  adminUrlOf,
  Args,
  BENCH_PASSWORD,
  openBenchDatabase,
  BIG_ORG_NAME,
  BIG_ORG_USERS,
  seconds,
  thousands,
  withClient,
} from './lib/common';

// prettier-ignore
const FIRST_NAMES = [
  'James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda', 'David',
  'Elizabeth', 'William', 'Barbara', 'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas', 'Sarah',
  'Charles', 'Karen', 'Daniel', 'Lisa', 'Matthew', 'Nancy', 'Anthony', 'Betty', 'Mark', 'Sandra',
  'Donald', 'Margaret', 'Steven', 'Ashley', 'Andrew', 'Kimberly', 'Paul', 'Emily', 'Joshua',
  'Donna', 'Kenneth', 'Michelle', 'Kevin', 'Carol', 'Brian', 'Amanda', 'George', 'Melissa',
  'Timothy', 'Deborah', 'Ronald', 'Stephanie', 'Jason', 'Rebecca', 'Edward', 'Sharon', 'Jeffrey',
  'Laura', 'Ryan', 'Cynthia', 'Jacob', 'Amy', 'Gary', 'Kathleen', 'Nicholas', 'Angela', 'Eric',
  'Shirley', 'Jonathan', 'Brenda', 'Stephen', 'Emma', 'Larry', 'Anna', 'Justin', 'Pamela', 'Scott',
  'Nicole', 'Brandon', 'Samantha', 'Benjamin', 'Katherine', 'Samuel', 'Christine', 'Gregory',
  'Helen', 'Alexander', 'Debra', 'Patrick', 'Rachel', 'Frank', 'Carolyn', 'Raymond', 'Janet',
  'Jack', 'Maria', 'Dennis', 'Olivia', 'Jerry', 'Heather', 'Tyler', 'Diane', 'Aaron', 'Julie',
  'Jose', 'Joyce', 'Adam', 'Victoria', 'Nathan', 'Ruth', 'Henry', 'Virginia', 'Zachary', 'Lauren',
  'Douglas', 'Kelly', 'Peter', 'Christina', 'Kyle', 'Joan', 'Noah', 'Evelyn', 'Ethan', 'Judith',
  'Jeremy', 'Andrea', 'Walter', 'Hannah', 'Christian', 'Megan', 'Keith', 'Cheryl', 'Roger',
  'Jacqueline', 'Terry', 'Martha', 'Austin', 'Madison', 'Sean', 'Teresa', 'Gerald', 'Gloria',
  'Carl', 'Sara', 'Harold', 'Janice', 'Dylan', 'Ann', 'Arthur', 'Kathryn', 'Lawrence', 'Abigail',
  'Jordan', 'Sophia', 'Jesse', 'Frances', 'Bryan', 'Jean', 'Billy', 'Alice', 'Bruce', 'Judy',
  'Gabriel', 'Isabella', 'Joe', 'Julia', 'Logan', 'Grace', 'Alan', 'Amber', 'Juan', 'Denise',
  'Albert', 'Danielle', 'Willie', 'Marilyn', 'Elijah', 'Beverly', 'Wayne', 'Charlotte', 'Randy',
  'Natalie', 'Vincent', 'Theresa', 'Mason', 'Diana', 'Roy', 'Brittany', 'Ralph', 'Doris',
  'Bobby', 'Kayla', 'Russell', 'Alexis', 'Bradley', 'Lori', 'Philip', 'Marie', 'Eugene', 'Ingrid',
];
// prettier-ignore
const LAST_NAMES = [
  'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez',
  'Martinez', 'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore',
  'Jackson', 'Martin', 'Lee', 'Perez', 'Thompson', 'White', 'Harris', 'Sanchez', 'Clark',
  'Ramirez', 'Lewis', 'Robinson', 'Walker', 'Young', 'Allen', 'King', 'Wright', 'Scott', 'Torres',
  'Nguyen', 'Hill', 'Flores', 'Green', 'Adams', 'Nelson', 'Baker', 'Hall', 'Rivera', 'Campbell',
  'Mitchell', 'Carter', 'Roberts', 'Gomez', 'Phillips', 'Evans', 'Turner', 'Diaz', 'Parker',
  'Cruz', 'Edwards', 'Collins', 'Reyes', 'Stewart', 'Morris', 'Morales', 'Murphy', 'Cook',
  'Rogers', 'Gutierrez', 'Ortiz', 'Morgan', 'Cooper', 'Peterson', 'Bailey', 'Reed', 'Kelly',
  'Howard', 'Ramos', 'Kim', 'Cox', 'Ward', 'Richardson', 'Watson', 'Brooks', 'Chavez', 'Wood',
  'James', 'Bennett', 'Gray', 'Mendoza', 'Ruiz', 'Hughes', 'Price', 'Alvarez', 'Castillo',
  'Sanders', 'Patel', 'Myers', 'Long', 'Ross', 'Foster', 'Jimenez', 'Powell', 'Jenkins', 'Perry',
  'Russell', 'Sullivan', 'Bell', 'Coleman', 'Butler', 'Henderson', 'Barnes', 'Gonzales', 'Fisher',
  'Vasquez', 'Simmons', 'Romero', 'Jordan', 'Patterson', 'Alexander', 'Hamilton', 'Graham',
  'Reynolds', 'Griffin', 'Wallace', 'Moreno', 'West', 'Cole', 'Hayes', 'Bryant', 'Herrera',
  'Gibson', 'Ellis', 'Tran', 'Medina', 'Aguilar', 'Stevens', 'Murray', 'Ford', 'Castro',
  'Marshall', 'Owens', 'Harrison', 'Fernandez', 'McDonald', 'Woods', 'Washington', 'Kennedy',
  'Wells', 'Vargas', 'Henry', 'Chen', 'Freeman', 'Webb', 'Tucker', 'Guzman', 'Burns', 'Crawford',
  'Olson', 'Simpson', 'Porter', 'Hunter', 'Gordon', 'Mendez', 'Silva', 'Shaw', 'Snyder', 'Mason',
  'Dixon', 'Munoz', 'Hunt', 'Hicks', 'Holmes', 'Palmer', 'Wagner', 'Black', 'Robertson', 'Boyd',
  'Rose', 'Stone', 'Salazar', 'Fox', 'Warren', 'Mills', 'Meyer', 'Rice', 'Schmidt', 'Garza',
  'Daniels', 'Ferguson', 'Nichols', 'Stephens', 'Soto', 'Weaver', 'Ryan', 'Gardner', 'Payne',
  'Grant', 'Dunn', 'Kelley', 'Spencer', 'Hawkins', 'Arnold', 'Pierce', 'Hansen', 'Peters',
  'Santos', 'Hart', 'Bradley', 'Knight', 'Elliott', 'Cunningham', 'Duncan', 'Armstrong',
  'Hudson', 'Carroll', 'Lane', 'Riley', 'Andrews', 'Ray', 'Berry', 'Perkins', 'Hoffman',
  'Johnston', 'Matthews', 'Pena', 'Richards', 'Contreras', 'Willis', 'Carpenter', 'Lawrence',
  'Sandoval', 'Guerrero', 'George', 'Chapman', 'Rios', 'Estrada', 'Ortega', 'Watkins', 'Greene',
  'Nunez', 'Wheeler', 'Valdez', 'Harper', 'Burke', 'Larson', 'Santiago', 'Maldonado', 'Morrison',
  'Franklin', 'Carlson', 'Austin', 'Dominguez', 'Carr', 'Lawson', 'Jacobs', 'OBrien', 'Lynch',
  'Singh', 'Vega', 'Bishop', 'Montgomery', 'Oliver', 'Jensen', 'Harvey', 'Williamson', 'Gilbert',
  'Dean', 'Sims', 'Espinoza', 'Howell', 'Li', 'Wong', 'Reid', 'Hanson', 'Le', 'McCoy', 'Garrett',
  'Burton', 'Fuller', 'Wang', 'Weber', 'Welch', 'Rojas', 'Lucas', 'Marquez', 'Fields', 'Park',
  'Yang', 'Little', 'Banks', 'Padilla', 'Day', 'Walsh', 'Bowman', 'Schultz', 'Luna', 'Fowler',
  'Mejia', 'Davidson', 'Acosta', 'Brewer', 'May', 'Holland', 'Juarez', 'Newman', 'Pearson',
  'Curtis', 'Cortez', 'Douglas', 'Schneider', 'Joseph', 'Barrett', 'Navarro', 'Figueroa',
  'Keller', 'Avila', 'Wade', 'Molina', 'Stanley', 'Hopkins', 'Campos', 'Barnett', 'Bates',
  'Chambers', 'Caldwell', 'Beck', 'Lambert', 'Miranda', 'Byrd', 'Craig', 'Ayala', 'Lowe', 'Frazier',
  'Powers', 'Neal', 'Leonard', 'Gregory', 'Carrillo', 'Sutton', 'Fleming', 'Rhodes', 'Shelton',
  'Schwartz', 'Norris', 'Jennings', 'Watts', 'Duran', 'Walters', 'Cohen', 'McDaniel', 'Moran',
];
// prettier-ignore
const DOMAINS = [
  'example.com', 'example.org', 'example.net', 'mail.test', 'corp.test', 'acme.test',
  'globex.test', 'initech.test', 'umbrella.test', 'hooli.test', 'stark.test', 'wayne.test',
];
// prettier-ignore
const PRODUCTS = [
  'Annual licence', 'Support renewal', 'Onboarding package', 'Enterprise plan', 'Team plan',
  'Consulting', 'Hardware refresh', 'Training', 'Data migration', 'Premium support', 'Add-on seats',
  'Integration project', 'Pilot', 'Expansion', 'Managed service',
];
const COMPANY_SUFFIXES = [
  'Ltd',
  'GmbH',
  'Inc',
  'LLC',
  'SA',
  'BV',
  'AB',
  'plc',
  'Group',
  'Partners',
];
// prettier-ignore
const LOST_REASONS = [
  'Chose a competitor', 'No budget', 'Project cancelled', 'No decision', 'Price too high',
  'Missing feature', 'Timing',
];
// prettier-ignore
const TASK_TITLES = [
  'Call back', 'Send proposal', 'Send revised quote', 'Schedule demo', 'Follow up by email',
  'Prepare contract', 'Check references', 'Book meeting', 'Send security questionnaire',
  'Review terms with legal', 'Collect requirements', 'Intro to technical team',
];
const DEFAULT_STAGES = [
  { key: 'qualification', name: 'Qualification', position: 0, probability: 10 },
  { key: 'proposal', name: 'Proposal', position: 1, probability: 30 },
  { key: 'negotiation', name: 'Negotiation', position: 2, probability: 60 },
  { key: 'closed', name: 'Closed', position: 3, probability: 100 },
];

/** Tables whose secondary indexes are dropped during the load and rebuilt after it. */
const BULK_TABLES = ['contacts', 'deals', 'tasks', 'activities'];

interface Counts {
  contacts: number;
  deals: number;
  tasks: number;
  activities: number;
}

interface Org {
  /** 0 = the big one; used in the deterministic ids. */
  index: number;
  id: string;
  pipelineId: string;
  userIds: string[];
  counts: Counts;
}

const log = (message: string): void => console.log(`[bench:seed] ${message}`);

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await fn();
  log(`${label}: ${seconds(performance.now() - start)}`);
  return result;
}

async function main(): Promise<void> {
  const args = new Args();
  args.assertOnly(['contacts', 'deals', 'tasks', 'activities', 'small-orgs', 'database-url']);
  const contacts = args.count('contacts', 20_000);
  const deals = args.count('deals', contacts);
  const big: Counts = {
    contacts,
    deals,
    tasks: args.count('tasks', Math.round(deals * 0.3)),
    activities: args.count('activities', deals),
  };
  if (big.deals > 0 && big.contacts === 0) throw new Error('deals need contacts');
  if (big.tasks > 0 && big.deals === 0) throw new Error('tasks need deals');
  if (big.activities > 0 && big.deals === 0) throw new Error('activities need deals');
  const smallOrgs = args.count('small-orgs', 3);
  const database = await openBenchDatabase(args);
  try {
    await seed(database.url, big, smallOrgs);
  } finally {
    await database.close();
  }
}

async function seed(url: string, big: Counts, smallOrgs: number): Promise<void> {
  const { adminUrl, database } = adminUrlOf(url);
  if (!/bench/i.test(database) || !/^[a-z0-9_]+$/i.test(database)) {
    throw new Error(`refusing to drop database "${database}": its name must contain "bench"`);
  }
  const started = performance.now();
  log(
    `target ${url.replace(/\/\/[^@/]*@/, '//***@')}: ${JSON.stringify(big)}, ${smallOrgs} small orgs`,
  );

  await timed('database re-created', () =>
    withClient(adminUrl, async (admin) => {
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${database}`);
    }),
  );
  await timed('migrations', async () => {
    const dataSource = new DataSource(
      dataSourceOptions({ url, poolMin: 0, poolMax: 1, migrationsRun: false, entities: ENTITIES }),
    );
    await dataSource.initialize();
    try {
      await dataSource.runMigrations({ transaction: 'each' });
    } finally {
      await dataSource.destroy();
    }
  });

  const cost = Number(process.env.BCRYPT_COST ?? 12);
  const passwordHash = await timed(`bcrypt hash (cost ${cost})`, () =>
    bcrypt.hash(BENCH_PASSWORD, cost),
  );

  await withClient(url, async (db) => {
    await db.query(`SET synchronous_commit = off`);
    await db.query(`SET maintenance_work_mem = '1GB'`);
    await db.query(`SET work_mem = '256MB'`);
    await db.query(`SELECT setseed(0.2026)`);
    // Foreign keys are not checked row by row during the load (the generator only produces
    // valid references); needs a superuser, otherwise the load is just slower.
    await db
      .query(`SET session_replication_role = replica`)
      .catch(() => log('not a superuser: foreign keys are checked during the load (slower)'));
    await db.query(`
      CREATE FUNCTION pg_temp.bench_uuid(k text) RETURNS uuid LANGUAGE sql IMMUTABLE AS
      $$ SELECT overlay(overlay(md5(k) placing '4' from 13) placing '8' from 17)::uuid $$`);

    const orgs = await timed('users, organizations, memberships, pipelines', async () => {
      const created: Org[] = [];
      created.push(await createOrg(db, 0, BIG_ORG_NAME, BIG_ORG_USERS, passwordHash, big));
      for (let i = 1; i <= smallOrgs; i++) {
        const users = ['owner', 'admin', 'member'].map((role) => ({
          email: `${role}@small-${i}.test`,
          name: `Small ${i} ${role}`,
          role,
        }));
        // Small tenants: 0.1%..0.3% of the big one, at least a few hundred rows.
        const scale = (n: number): number =>
          n === 0 ? 0 : Math.max(200, Math.round(n * 0.001 * i));
        const counts: Counts = {
          contacts: scale(big.contacts),
          deals: scale(big.deals),
          tasks: scale(big.tasks),
          activities: scale(big.activities),
        };
        created.push(await createOrg(db, i, `Small Org ${i}`, users, passwordHash, counts));
      }
      return created;
    });

    const indexes = await timed('secondary indexes dropped', () => dropIndexes(db));

    for (const org of orgs) {
      const tag = org.index === 0 ? 'big org' : `small org ${org.index}`;
      await timed(`${tag}: ${thousands(org.counts.contacts)} contacts`, () =>
        insertContacts(db, org),
      );
      await timed(`${tag}: ${thousands(org.counts.deals)} deals`, () => insertDeals(db, org));
      await timed(`${tag}: ${thousands(org.counts.tasks)} tasks`, () => insertTasks(db, org));
      await timed(`${tag}: ${thousands(org.counts.activities)} activities`, () =>
        insertActivities(db, org),
      );
    }

    await timed(`${indexes.length} indexes re-created`, () => createIndexes(url, indexes));
    await timed('VACUUM (ANALYZE)', async () => {
      await db.query(`RESET session_replication_role`);
      await db.query(`VACUUM (ANALYZE) ${BULK_TABLES.join(', ')}`);
      await db.query(`ANALYZE`);
    });
    // Write the load's dirty pages out now: otherwise the first scenarios of the benchmark run
    // during the checkpoint that flushes them.
    await timed('CHECKPOINT', () =>
      db.query(`CHECKPOINT`).catch(() => log('CHECKPOINT not allowed for this user: skipped')),
    );

    const { rows } = await db.query<{ table: string; rows: string }>(
      `SELECT 'contacts' AS table, count(*)::text AS rows FROM contacts UNION ALL
       SELECT 'deals', count(*)::text FROM deals UNION ALL
       SELECT 'tasks', count(*)::text FROM tasks UNION ALL
       SELECT 'activities', count(*)::text FROM activities UNION ALL
       SELECT 'users', count(*)::text FROM users UNION ALL
       SELECT 'organizations', count(*)::text FROM organizations`,
    );
    log(`rows: ${rows.map((r) => `${r.table}=${thousands(Number(r.rows))}`).join(', ')}`);
    const size = await db.query<{ size: string }>(
      `SELECT pg_size_pretty(pg_database_size(current_database())) AS size`,
    );
    log(`database size: ${size.rows[0].size}`);
  });
  const totalSeconds = Number(((performance.now() - started) / 1000).toFixed(1));
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  writeFileSync(
    join(__dirname, 'results', 'seed.json'),
    JSON.stringify(
      {
        command: `npm run bench:seed -- ${process.argv.slice(2).join(' ')}`.trim(),
        seconds: totalSeconds,
        counts: big,
        smallOrgs,
        finishedAt: new Date().toISOString(),
      },
      null,
      2,
    ),
  );
  log(
    `done in ${seconds(performance.now() - started)}; log in as ${BIG_ORG_USERS[0].email} / ${BENCH_PASSWORD}`,
  );
}

async function createOrg(
  db: Client,
  index: number,
  name: string,
  users: readonly { email: string; name: string; role: string }[],
  passwordHash: string,
  counts: Counts,
): Promise<Org> {
  const org = await db.query<{ id: string }>(
    `INSERT INTO organizations (name, default_currency, created_at, updated_at)
     VALUES ($1, 'USD', now() - interval '2 years', now() - interval '2 years') RETURNING id`,
    [name],
  );
  const organizationId = org.rows[0].id;
  const userIds: string[] = [];
  for (const user of users) {
    const row = await db.query<{ id: string }>(
      `INSERT INTO users (email, name, password_hash, created_at, updated_at)
       VALUES ($1, $2, $3, now() - interval '2 years', now() - interval '2 years') RETURNING id`,
      [user.email, user.name, passwordHash],
    );
    userIds.push(row.rows[0].id);
    await db.query(
      `INSERT INTO organization_members (organization_id, user_id, role, created_at, updated_at)
       VALUES ($1, $2, $3, now() - interval '2 years', now() - interval '2 years')`,
      [organizationId, row.rows[0].id, user.role],
    );
  }
  const pipeline = await db.query<{ id: string }>(
    `INSERT INTO pipelines (organization_id, name, is_default, stages)
     VALUES ($1, 'Default pipeline', true, $2::jsonb) RETURNING id`,
    [organizationId, JSON.stringify(DEFAULT_STAGES)],
  );
  // What the app itself reads as "the default pipeline":
  const check = await db.query<{ id: string }>(
    `SELECT id FROM pipelines WHERE organization_id = $1 AND is_default`,
    [organizationId],
  );
  if (check.rows[0]?.id !== pipeline.rows[0].id) throw new Error('default pipeline not found');
  return { index, id: organizationId, pipelineId: check.rows[0].id, userIds, counts };
}

interface IndexDefinition {
  name: string;
  table: string;
  definition: string;
  gin: boolean;
  /** Statistics targets set on its columns (ALTER INDEX ... SET STATISTICS), not in the definition. */
  statistics: { column: number; target: number }[] | null;
}

/** Drops the secondary indexes (not those behind a constraint: primary keys stay). */
async function dropIndexes(db: Client): Promise<IndexDefinition[]> {
  const { rows } = await db.query<IndexDefinition>(
    `SELECT ci.relname AS name, t.relname AS "table", pg_get_indexdef(i.indexrelid) AS definition,
            am.amname = 'gin' AS gin,
            (SELECT json_agg(json_build_object('column', a.attnum, 'target', a.attstattarget))
               FROM pg_attribute a
              WHERE a.attrelid = i.indexrelid AND a.attstattarget > 0) AS statistics
       FROM pg_index i
       JOIN pg_class ci ON ci.oid = i.indexrelid
       JOIN pg_class t ON t.oid = i.indrelid
       JOIN pg_am am ON am.oid = ci.relam
       JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE n.nspname = 'public' AND t.relname = ANY($1)
        AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
      ORDER BY (am.amname = 'gin') DESC, pg_relation_size(i.indrelid) DESC, ci.relname`,
    [BULK_TABLES],
  );
  for (const index of rows) await db.query(`DROP INDEX "${index.name}"`);
  return rows;
}

/** Rebuilds on two connections (a GIN build is single-threaded; btree builds go parallel). */
async function createIndexes(url: string, indexes: IndexDefinition[]): Promise<void> {
  const queue = [...indexes];
  const worker = (): Promise<void> =>
    withClient(url, async (db) => {
      await db.query(`SET maintenance_work_mem = '512MB'`);
      await db.query(`SET max_parallel_maintenance_workers = 1`);
      for (let next = queue.shift(); next; next = queue.shift()) {
        const start = performance.now();
        await db.query(next.definition);
        for (const { column, target } of next.statistics ?? [])
          await db.query(
            `ALTER INDEX "${next.name}" ALTER COLUMN ${column} SET STATISTICS ${target}`,
          );
        log(`  ${next.name}: ${seconds(performance.now() - start)}`);
      }
    });
  await Promise.all([worker(), worker()]);
}

/**
 * Contacts: names from two lists, unique lower-case emails (about 5% without email), phones
 * (about 20% without), owners spread over the organization's users, created over two years.
 */
async function insertContacts(db: Client, org: Org): Promise<void> {
  if (!org.counts.contacts) return;
  await db.query(
    `INSERT INTO contacts (id, organization_id, owner_id, name, email, phone, created_at, updated_at)
     SELECT pg_temp.bench_uuid('c:' || $1::int || ':' || g.i), $2, ($3::uuid[])[g.owner],
            ($4::text[])[g.fi] || ' ' || ($5::text[])[g.li],
            CASE WHEN g.r_email < 0.05 THEN NULL
                 ELSE lower(($4::text[])[g.fi] || '.' || ($5::text[])[g.li]) || '.' || g.i || '@' || ($6::text[])[g.di] END,
            CASE WHEN g.r_phone < 0.2 THEN NULL
                 ELSE '+' || (1 + g.r_phone * 48)::int || ' ' || lpad((g.r_num * 1e9)::bigint::text, 9, '0') END,
            g.created_at,
            least(now(), g.created_at + g.r_upd * interval '60 days')
       FROM (SELECT i,
                    1 + floor(random() * cardinality($3::uuid[]))::int AS owner,
                    1 + floor(random() * cardinality($4::text[]))::int AS fi,
                    1 + floor(random() * cardinality($5::text[]))::int AS li,
                    1 + floor(random() * cardinality($6::text[]))::int AS di,
                    random() AS r_email, random() AS r_phone, random() AS r_num, random() AS r_upd,
                    now() - random() * interval '730 days' AS created_at
               FROM generate_series(1, $7::int) AS i) AS g`,
    [org.index, org.id, org.userIds, FIRST_NAMES, LAST_NAMES, DOMAINS, org.counts.contacts],
  );
}

/**
 * Deals of the default pipeline: status new 25% / in_progress 35% / won 20% / lost 20%; stage
 * closed iff won or lost, otherwise qualification/proposal(/negotiation); amounts log-uniform
 * 1..250,000 (10% of new deals at 0); USD 60% / EUR 25% / GBP 15%; created over two years.
 */
async function insertDeals(db: Client, org: Org): Promise<void> {
  if (!org.counts.deals) return;
  await db.query(
    `INSERT INTO deals (id, organization_id, contact_id, owner_id, title, amount, currency, status,
                        pipeline_id, stage, lost_reason, created_at, updated_at)
     SELECT pg_temp.bench_uuid('d:' || $1::int || ':' || g.i), $2,
            pg_temp.bench_uuid('c:' || $1::int || ':' || g.contact), ($3::uuid[])[g.owner],
            ($4::text[])[g.pi] || ' for ' || ($5::text[])[g.li] || ' ' || ($6::text[])[g.si],
            CASE WHEN g.status = 'new' AND g.r_zero < 0.1 THEN 0
                 ELSE round(exp(ln(100) + g.r_amount * ln(2500))::numeric, 2) END,
            CASE WHEN g.r_cur < 0.6 THEN 'USD' WHEN g.r_cur < 0.85 THEN 'EUR' ELSE 'GBP' END,
            g.status::deal_status, $7,
            CASE WHEN g.status IN ('won', 'lost') THEN 'closed'
                 WHEN g.status = 'new' THEN CASE WHEN g.r_stage < 0.7 THEN 'qualification' ELSE 'proposal' END
                 ELSE CASE WHEN g.r_stage < 0.3 THEN 'qualification'
                           WHEN g.r_stage < 0.7 THEN 'proposal' ELSE 'negotiation' END END,
            CASE WHEN g.status = 'lost' THEN ($8::text[])[1 + floor(g.r_zero * cardinality($8::text[]))::int] END,
            g.created_at,
            least(now(), g.created_at + g.r_upd * interval '90 days')
       FROM (SELECT i,
                    1 + floor(random() * $9::int)::int AS contact,
                    1 + floor(random() * cardinality($3::uuid[]))::int AS owner,
                    1 + floor(random() * cardinality($4::text[]))::int AS pi,
                    1 + floor(random() * cardinality($5::text[]))::int AS li,
                    1 + floor(random() * cardinality($6::text[]))::int AS si,
                    CASE WHEN x.r_status < 0.25 THEN 'new' WHEN x.r_status < 0.60 THEN 'in_progress'
                         WHEN x.r_status < 0.80 THEN 'won' ELSE 'lost' END AS status,
                    x.r_stage, x.r_zero, x.r_amount, x.r_cur, x.r_upd, x.created_at
               FROM (SELECT i, random() AS r_status, random() AS r_stage, random() AS r_zero,
                            random() AS r_amount, random() AS r_cur, random() AS r_upd,
                            now() - random() * interval '730 days' AS created_at
                       FROM generate_series(1, $10::int) AS i) AS x) AS g`,
    [
      org.index,
      org.id,
      org.userIds,
      PRODUCTS,
      LAST_NAMES,
      COMPANY_SUFFIXES,
      org.pipelineId,
      LOST_REASONS,
      org.counts.contacts,
      org.counts.deals,
    ],
  );
}

/**
 * Tasks on random deals: due dates from 90 days ago to 90 days ahead; past ones are done 60% of
 * the time, future ones 10% (so about 20% of all tasks are overdue); 30% have a description.
 */
async function insertTasks(db: Client, org: Org): Promise<void> {
  if (!org.counts.tasks) return;
  await db.query(
    `INSERT INTO tasks (organization_id, deal_id, title, description, due_date, is_done, created_at, updated_at)
     SELECT $1, pg_temp.bench_uuid('d:' || $2::int || ':' || g.deal), ($3::text[])[g.ti],
            CASE WHEN g.r_desc < 0.3 THEN 'Generated task ' || g.i || ': see the deal notes.' END,
            g.due, CASE WHEN g.due < current_date THEN g.r_done < 0.6 ELSE g.r_done < 0.1 END,
            g.created_at, g.created_at
       FROM (SELECT i,
                    1 + floor(random() * $4::int)::int AS deal,
                    1 + floor(random() * cardinality($3::text[]))::int AS ti,
                    current_date + (floor(random() * 181)::int - 90) AS due,
                    random() AS r_desc, random() AS r_done,
                    now() - random() * interval '730 days' AS created_at
               FROM generate_series(1, $5::int) AS i) AS g`,
    [org.id, org.index, TASK_TITLES, org.counts.deals, org.counts.tasks],
  );
}

/**
 * Activities: the `deal_created` system entry the app writes for every deal (up to one per
 * deal), then comments by random users on random deals for any remainder.
 */
async function insertActivities(db: Client, org: Org): Promise<void> {
  if (!org.counts.activities) return;
  const created = Math.min(org.counts.activities, org.counts.deals);
  // At the deal's creation time, as the app records it.
  await db.query(
    `INSERT INTO activities (organization_id, deal_id, author_id, type, payload, created_at)
     SELECT d.organization_id, d.id, NULL, 'system', '{"event": "deal_created"}'::jsonb, d.created_at
       FROM deals d WHERE d.organization_id = $1 LIMIT $2`,
    [org.id, created],
  );
  const comments = org.counts.activities - created;
  if (comments > 0) {
    await db.query(
      `INSERT INTO activities (organization_id, deal_id, author_id, type, payload, created_at)
       SELECT $1, pg_temp.bench_uuid('d:' || $2::int || ':' || (1 + floor(random() * $3::int)::int)),
              ($4::uuid[])[1 + floor(random() * cardinality($4::uuid[]))::int], 'comment',
              jsonb_build_object('text', 'Comment ' || i), now() - random() * interval '730 days'
         FROM generate_series(1, $5::int) AS i`,
      [org.id, org.index, org.counts.deals, org.userIds, comments],
    );
  }
}

main().catch((e: unknown) => {
  console.error('[bench:seed] failed:', e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
