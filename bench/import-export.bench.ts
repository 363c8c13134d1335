/**
 * CSV import/export benchmark (API.md section 11, docs/performance.md "Import and export").
 *
 *   npm run bench:import
 *
 * Boots the real application (createApp, as main.ts) on an embedded PostgreSQL in a temporary
 * directory (or on DATABASE_URL: a database it may fill; the two organizations it creates are
 * deleted at the end), then over HTTP on 127.0.0.1:
 *   1. registers a user and imports a generated 100,000-row contacts CSV (POST /contacts/import,
 *      1,000 distinct company names, created on the way), then a second version of the file that
 *      changes every row's name and phone, with onDuplicate=update;
 *   2. seeds 1,000,000 contacts into a second organization with one set-based INSERT ... SELECT
 *      generate_series;
 *   3. exports the 100,000 and the 1,000,000 contacts (GET /contacts/export), reading the stream
 *      and throwing it away, while sampling the process's RSS every 50 ms.
 * Server and client run in this one process, so the RSS covers both. Prints the figures (and the
 * machine) as Markdown and JSON. Not part of `npm test`.
 *
 * Options (environment): BENCH_IMPORT_ROWS (100000), BENCH_EXPORT_ROWS (1000000).
 */
import 'reflect-metadata';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { createApp } from '../src/app.factory';
import { createLogger } from '../src/common/logging/logger';
import { loadConfig } from '../src/config/app-config';
import { EmbeddedDatabase } from '../src/database/embedded-postgres';

const IMPORT_ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 100_000);
const EXPORT_ROWS = Number(process.env.BENCH_EXPORT_ROWS ?? 1_000_000);
const PASSWORD = 'bench-password-42';
const MB = 1024 * 1024;

const gc = (globalThis as { gc?: () => void }).gc;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Samples this process's RSS every 50 ms while `work` runs. */
async function sampled<T>(work: () => Promise<T>): Promise<{
  result: T;
  seconds: number;
  rssStartMb: number;
  rssPeakMb: number;
  heapStartMb: number;
  heapPeakMb: number;
}> {
  gc?.();
  const rssStart = process.memoryUsage.rss();
  const heapStart = process.memoryUsage().heapUsed;
  let peak = rssStart;
  let heapPeak = heapStart;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
    heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
  }, 50);
  const started = process.hrtime.bigint();
  try {
    const result = await work();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    peak = Math.max(peak, process.memoryUsage.rss());
    return {
      result,
      seconds,
      rssStartMb: rssStart / MB,
      rssPeakMb: peak / MB,
      heapStartMb: heapStart / MB,
      heapPeakMb: heapPeak / MB,
    };
  } finally {
    clearInterval(timer);
  }
}

async function main(): Promise<void> {
  let embedded: EmbeddedDatabase | undefined;
  let tmp: string | undefined;
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    tmp = mkdtempSync(join(tmpdir(), 'crm-bench-import-'));
    chmodSync(tmp, 0o755); // as root, postgres runs as the `postgres` user and must reach it
    embedded = new EmbeddedDatabase({
      dir: join(tmp, 'data'),
      port: await freePort(),
      persistent: false,
      log: () => undefined,
    });
    databaseUrl = await embedded.start();
  }
  const config = loadConfig({
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    DB_MIGRATIONS_RUN: 'true',
    JWT_ACCESS_SECRET: 'bench-access-secret-0123456789-abcdefghijklmnop',
    JWT_REFRESH_SECRET: 'bench-refresh-secret-0123456789-abcdefghijklmno',
    BCRYPT_COST: '4',
    SWAGGER_ENABLED: 'false',
    DATA_DIR: tmp ?? join(tmpdir(), 'crm-bench-import'),
  });
  const app = await createApp(config, databaseUrl, createLogger(config));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `${await app.getUrl()}/api/v1`.replace('[::1]', '127.0.0.1');
  const db = app.get(DataSource);
  const organizations: string[] = [];
  try {
    const register = async (label: string) => {
      const res = await fetch(`${base}/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          email: `${label}-${Date.now()}@bench.example`,
          password: PASSWORD,
          name: label,
          organizationName: `Bench ${label}`,
        }),
      });
      if (res.status !== 201) throw new Error(`register: ${res.status} ${await res.text()}`);
      const body = (await res.json()) as {
        user: { id: string };
        organization: { id: string };
        accessToken: string;
      };
      organizations.push(body.organization.id);
      return {
        userId: body.user.id,
        organizationId: body.organization.id,
        headers: {
          authorization: `Bearer ${body.accessToken}`,
          'x-organization-id': body.organization.id,
        },
      };
    };

    // 1. Import.
    const importer = await register('importer');
    /** The contacts file; `version` changes every row's name and phone (for the update run). */
    const contactsCsv = (version: number): Buffer => {
      const lines = ['name,email,phone,companyName'];
      for (let i = 1; i <= IMPORT_ROWS; i++) {
        lines.push(
          `Contact ${i} v${version},contact${i}@import.example,+${version} 555 ${String(i).padStart(7, '0')},Company ${i % 1000}`,
        );
      }
      return Buffer.from(lines.join('\n') + '\n');
    };
    const csv = contactsCsv(1);
    const upload = async (file: Buffer, onDuplicate: string) =>
      sampled(async () => {
        const form = new FormData();
        form.append('file', new Blob([new Uint8Array(file)], { type: 'text/csv' }), 'contacts.csv');
        const res = await fetch(`${base}/contacts/import?onDuplicate=${onDuplicate}`, {
          method: 'POST',
          headers: importer.headers,
          body: form,
        });
        const report = (await res.json()) as Record<string, unknown>;
        if (res.status !== 200) throw new Error(`import: ${res.status} ${JSON.stringify(report)}`);
        return report;
      });
    // Every row creates a contact (and the first 1,000 rows a company each)...
    const created = await upload(csv, 'skip');
    // ...then every row updates its contact's name and phone.
    const updated = await upload(contactsCsv(2), 'update');

    // 2. Seed the export organization (set-based, no HTTP).
    const exporter = await register('exporter');
    const seedStarted = Date.now();
    await db.query(
      `INSERT INTO contacts (organization_id, owner_id, name, email, phone, created_at, updated_at)
       SELECT $1, $2, 'Seeded Contact ' || i, 'seeded' || i || '@export.example',
              '+1 555 ' || lpad(i::text, 7, '0'), ts, ts
         FROM generate_series(1, $3::int) AS i,
              LATERAL (SELECT now() - i * interval '1 second' AS ts) AS t`,
      [exporter.organizationId, exporter.userId, EXPORT_ROWS],
    );
    await db.query('VACUUM ANALYZE contacts');
    // Settle the load's writes, so that the exports do not race a checkpoint (superuser only).
    await db.query('CHECKPOINT').catch(() => undefined);
    const seedSeconds = (Date.now() - seedStarted) / 1000;

    // 3. Export (the client reads and discards the stream).
    const download = async (headers: Record<string, string>) =>
      sampled(async () => {
        const res = await fetch(`${base}/contacts/export`, { headers });
        if (res.status !== 200 || !res.body) throw new Error(`export: ${res.status}`);
        let bytes = 0;
        let newlines = 0;
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          bytes += chunk.length;
          for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) newlines++;
        }
        return { rows: newlines - 1, bytes };
      });
    const small = await download(importer.headers);
    const large = await download(exporter.headers);
    const largeAgain = await download(exporter.headers);

    const round = (n: number, digits = 1): number => Number(n.toFixed(digits));
    const figures = {
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        memoryGb: round(totalmem() / 1024 ** 3),
        node: process.version,
        postgres: (await db.query<{ server_version: string }[]>('SHOW server_version'))[0]
          .server_version,
        database: embedded ? 'embedded PostgreSQL (temporary directory)' : 'DATABASE_URL',
      },
      import: {
        rows: IMPORT_ROWS,
        fileMb: round(csv.length / MB, 2),
        create: {
          report: { ...created.result, failed: (created.result.failed as unknown[]).length },
          seconds: round(created.seconds, 2),
          rowsPerSecond: Math.round(IMPORT_ROWS / created.seconds),
          rssStartMb: round(created.rssStartMb),
          rssPeakMb: round(created.rssPeakMb),
          heapPeakMb: round(created.heapPeakMb),
        },
        update: {
          report: { ...updated.result, failed: (updated.result.failed as unknown[]).length },
          seconds: round(updated.seconds, 2),
          rowsPerSecond: Math.round(IMPORT_ROWS / updated.seconds),
          rssStartMb: round(updated.rssStartMb),
          rssPeakMb: round(updated.rssPeakMb),
          heapPeakMb: round(updated.heapPeakMb),
        },
      },
      seed: { rows: EXPORT_ROWS, seconds: round(seedSeconds) },
      export: [small, large, largeAgain].map((e) => ({
        rows: e.result.rows,
        mb: round(e.result.bytes / MB),
        seconds: round(e.seconds, 2),
        rowsPerSecond: Math.round(e.result.rows / e.seconds),
        rssStartMb: round(e.rssStartMb),
        rssPeakMb: round(e.rssPeakMb),
        rssGrowthMb: round(e.rssPeakMb - e.rssStartMb),
        heapStartMb: round(e.heapStartMb),
        heapPeakMb: round(e.heapPeakMb),
      })),
    };
    console.log(JSON.stringify(figures, null, 2));
    console.log(
      [
        '',
        '| phase | rows | size | time | rows/s | RSS start | RSS peak | heap peak |',
        '|---|---:|---:|---:|---:|---:|---:|---:|',
        ...(['create', 'update'] as const).map((mode) => {
          const f = figures.import[mode];
          return `| import (${mode}) | ${IMPORT_ROWS} | ${figures.import.fileMb} MB | ${f.seconds} s | ${f.rowsPerSecond} | ${f.rssStartMb} MB | ${f.rssPeakMb} MB | ${f.heapPeakMb} MB |`;
        }),
        ...figures.export.map(
          (e) =>
            `| export | ${e.rows} | ${e.mb} MB | ${e.seconds} s | ${e.rowsPerSecond} | ${e.rssStartMb} MB | ${e.rssPeakMb} MB | ${e.heapPeakMb} MB |`,
        ),
      ].join('\n'),
    );
    if (large.result.rows !== EXPORT_ROWS || small.result.rows !== IMPORT_ROWS) {
      throw new Error('an export did not return every row');
    }
  } finally {
    if (!embedded && organizations.length) {
      await db.query('DELETE FROM organizations WHERE id = ANY($1::uuid[])', [organizations]);
    }
    await app.close();
    await embedded?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
