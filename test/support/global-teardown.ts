import { ADMIN_URL_ENV, TEMPLATE_ENV, withAdminClient } from './database';

export default async function globalTeardown(): Promise<void> {
  const adminUrl = process.env[ADMIN_URL_ENV];
  const template = process.env[TEMPLATE_ENV];
  if (adminUrl && template) {
    await withAdminClient(adminUrl, (client) =>
      client.query(`DROP DATABASE IF EXISTS ${template}`),
    ).catch(() => undefined);
  }
  await globalThis.__TEST_EMBEDDED_PG__?.stop();
}
