import { createTestApp, TestApp } from './support/test-app';
import { expectError } from './support/api';

describe('Health (API.md section 10)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('GET /health answers 200 {status: ok} without authentication', async () => {
    const res = await t.http().get('/api/v1/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('GET /health/ready answers 200 while the database answers', async () => {
    const res = await t.http().get('/api/v1/health/ready');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      status: 'ok',
      info: { database: expect.objectContaining({ status: 'up' }) },
    });
  });

  it('GET /health/ready answers 503 NOT_READY when the database does not answer', async () => {
    const other = await createTestApp();
    await other.db.destroy(); // the pool is gone: pings fail like a database outage
    const res = await other.http().get('/api/v1/health/ready');
    expectError(res, 503, 'NOT_READY');
    expect((await other.http().get('/api/v1/health')).status).toBe(200);
    await other.close();
  });
});
