// Runs the pending migrations (the Job crm-api-migrate), then exits: 0 done, 1 failed.
//
// Runs inside the app's image (WORKDIR /app): dist/ormconfig.js is the compiled DataSource of the
// TypeORM CLI, with the app's options and migration list (migrations/index.ts), and no statement
// timeout. The session-level advisory lock is the one src/database/migration-runner.ts takes, so
// a pod started with DB_MIGRATIONS_RUN=true and this Job migrate one after the other.
// Logs: one JSON line per event on stdout, like the app's pino logs.
'use strict';
const { join } = require('node:path');

const MIGRATION_LOCK_KEY = 7274563001; // src/database/migration-runner.ts

function log(level, msg, fields = {}) {
  const line = { level, time: new Date().toISOString(), service: 'crm-api', context: 'migrate' };
  process.stdout.write(`${JSON.stringify({ ...line, ...fields, msg })}\n`);
}

async function main() {
  const dataSource = require(join(process.cwd(), 'dist/ormconfig.js')).default;
  await dataSource.initialize();
  const lock = dataSource.createQueryRunner();
  try {
    await lock.connect();
    log(30, 'waiting for the migration lock');
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    log(30, applied.length ? 'applied migrations' : 'no pending migration', {
      migrations: applied.map((m) => m.name),
    });
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await lock.release();
    await dataSource.destroy();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    log(50, 'migrations failed', { err: { message: err.message, stack: err.stack } });
    process.exit(1);
  },
);
