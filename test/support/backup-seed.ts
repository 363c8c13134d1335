import 'reflect-metadata';
import { Client } from 'pg';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { createLogger } from '../../src/common/logging/logger';
import { dataSourceOptions } from '../../src/database/data-source-options';
import { ENTITIES } from '../../src/entities';
import { as, createTeam } from './api';
import { testConfig, type TestApp } from './test-app';

/** Runs the app's migrations into the (empty) database at `url`. */
export async function migrate(url: string): Promise<void> {
  const dataSource = new DataSource(
    dataSourceOptions({ url, poolMin: 0, poolMax: 1, migrationsRun: false, entities: ENTITIES }),
  );
  await dataSource.initialize();
  try {
    await dataSource.runMigrations();
  } finally {
    await dataSource.destroy();
  }
}

/**
 * Fills a migrated database through the real app (its API writes users, organizations,
 * members, tokens, CRM records, events, audit entries, webhooks...) and then SQL for what the
 * API leaves empty without outside services, so that every table has rows.
 */
export async function seed(url: string): Promise<void> {
  const config = testConfig(url, { WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOW_PRIVATE: 'true' });
  const app = await createApp(config, url, createLogger(config));
  await app.getHttpAdapter().getInstance().ready();
  const db = app.get(DataSource);
  const t: TestApp = {
    app,
    config,
    db,
    http: () => request(app.getHttpServer()),
    close: () => app.close(),
  };
  try {
    const team = await createTeam(t);
    const h = as(team.owner, team.organizationId);
    const post = async (path: string, body: object): Promise<{ id: string }> => {
      const res = await t.http().post(`/api/v1/${path}`).set(h).send(body);
      if (res.status !== 201) {
        throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.body)}`);
      }
      return res.body as { id: string };
    };
    const company = await post('companies', { name: 'Backup Co', domain: 'backup.example' });
    for (let i = 0; i < 5; i++) {
      const contact = await post('contacts', {
        name: `Contact ${i} — ünïcode ✓`,
        email: `c${i}@backup.example`,
        companyId: company.id,
      });
      const deal = await post('deals', {
        contactId: contact.id,
        title: `Deal ${i}`,
        amount: (1000 + i * 0.25).toFixed(2),
      });
      await post(`deals/${deal.id}/activities`, {
        type: 'comment',
        payload: { text: `note ${i}` },
      });
      await post('tasks', { dealId: deal.id, title: `Task ${i}`, dueDate: '2999-01-01' });
    }
    const lead = await post('leads', { name: 'Lead to convert' });
    await post(`leads/${lead.id}/convert`, {});
    await post('leads', { name: 'Open lead' });
    await post('webhooks', {
      url: 'http://127.0.0.1:9/hook',
      events: ['contact.*'],
      description: 'backup test endpoint',
    });
    await post('contacts', { name: 'After the webhook' });
    // Identity and safe retries (API.md sections 16 and 17).
    await post('roles', {
      key: 'support',
      name: 'Support',
      permissions: [{ resource: 'contacts', actions: ['read'], scope: 'all' }],
    });
    await post('api-keys', { name: 'Backup key', role: 'support' });
    const retried = await t
      .http()
      .post('/api/v1/contacts')
      .set({ ...h, 'idempotency-key': 'backup-retry-1' })
      .send({ name: 'Sent once' });
    expect(retried.status).toBe(201);
    const forgot = await t
      .http()
      .post('/api/v1/auth/password/forgot')
      .send({ email: team.member.email });
    expect(forgot.status).toBe(202);
    // Let the relay, the in-app consumers and the webhook dispatcher act on the events.
    await new Promise((done) => setTimeout(done, 1500));
  } finally {
    await app.close();
  }
  // What the API fills only with outside services or user settings: a dead letter of a
  // consumer, a template override and notification preferences.
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`INSERT INTO consumer_messages
        (consumer, event_id, event_seq, organization_id, type, envelope, attempts, last_error, dead_at)
      SELECT 'audit', id, seq, organization_id, type, envelope, 3, 'poisoned — ✗', now()
        FROM events ORDER BY seq LIMIT 2`);
    await client.query(`INSERT INTO notification_templates (organization_id, kind, channel, subject, body)
      SELECT id, 'task.assigned', 'email', 'Über {{title}}', E'Hello,\n{{title}} is yours.'
        FROM organizations`);
    await client.query(`INSERT INTO notification_preferences (user_id, email, in_app, sms)
      SELECT id, '{"task.assigned": false}', '{}', '{"deal.won": true}' FROM users`);
    // Single sign-on needs a provider: a pending sign-in and a linked identity, as it leaves them.
    await client.query(`INSERT INTO sso_logins (state_hash, nonce, code_verifier, redirect_to, expires_at)
      VALUES (repeat('a', 64), 'nonce-1', 'verifier-1', 'https://app.example/after', now() + interval '10 minutes')`);
    await client.query(`INSERT INTO user_identities (user_id, issuer, subject, email, last_login_at)
      SELECT id, 'https://login.example', 'sub-' || id, email, now() FROM users ORDER BY created_at LIMIT 1`);
  } finally {
    await client.end();
  }
}
