// Init container of the API pods: waits until the database has every migration this image
// knows (dist/ormconfig.js's list), checking every 5 s; exits 1 after the number of seconds given
// as the first argument (the kubelet then restarts it with back-off). Reads only: the Job
// crm-api-migrate migrates. A database without the migrations table counts as "all pending".
'use strict';
const { join } = require('node:path');

const timeoutMs = Number(process.argv[2] ?? 600) * 1000;
const deadline = Date.now() + timeoutMs;

function log(level, msg, fields = {}) {
  const line = { level, time: new Date().toISOString(), service: 'crm-api' };
  process.stdout.write(
    `${JSON.stringify({ ...line, context: 'wait-for-migrations', ...fields, msg })}\n`,
  );
}

async function pending(dataSource) {
  const table = dataSource.options.migrationsTableName ?? 'migrations';
  const known = dataSource.migrations.map((m) => m.name ?? m.constructor.name);
  const rows = await dataSource.query(`SELECT name FROM "${table}"`).catch(() => []);
  const applied = new Set(rows.map((r) => r.name));
  return known.filter((name) => !applied.has(name));
}

async function main() {
  const dataSource = require(join(process.cwd(), 'dist/ormconfig.js')).default;
  let last = '';
  for (;;) {
    try {
      if (!dataSource.isInitialized) await dataSource.initialize();
      const missing = await pending(dataSource);
      if (missing.length === 0) {
        log(30, 'database schema is up to date');
        await dataSource.destroy();
        return;
      }
      const now = `pending: ${missing.join(', ')}`;
      if (now !== last) log(30, 'waiting for the migration Job', { pending: missing });
      last = now;
    } catch (err) {
      log(40, 'database not reachable yet', { err: { message: err.message } });
    }
    if (Date.now() > deadline) throw new Error(`migrations still pending after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5000));
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    log(50, 'gave up waiting for migrations', { err: { message: err.message } });
    process.exit(1);
  },
);
