import { Client } from 'pg';

/** Set by the global setup for the test files (environment variables reach the workers). */
export const ADMIN_URL_ENV = 'TEST_ADMIN_DATABASE_URL';
export const TEMPLATE_ENV = 'TEST_TEMPLATE_DATABASE';
/** Set when a real Redis answered during the global setup. */
export const REDIS_ENV = 'TEST_REDIS_AVAILABLE_URL';
/** Set when a real RabbitMQ answered during the global setup. */
export const RABBITMQ_ENV = 'TEST_RABBITMQ_AVAILABLE_URL';

export function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function withAdminClient<T>(
  adminUrl: string,
  fn: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
