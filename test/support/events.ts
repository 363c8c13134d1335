import type { TestApp } from './test-app';
/** A domain event as GET /events answers it (API.md section 12: CloudEvents 1.0). */
export interface Envelope {
  specversion: string;
  id: string;
  type: string;
  source: string;
  subject: string;
  time: string;
  datacontenttype: string;
  organizationid: string;
  actorid: string | null;
  requestid: string | null;
  data: Record<string, unknown>;
}

/** A page of GET /events (keyset). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * The event log of one organization as `headers` (a member's tenant headers) reads it on the
 * app `app()` gives (both read when called, so they may be set in a `beforeAll`):
 * `latest` newest first, `of` one subject in commit order, `expectNoEvent` that a write
 * records nothing.
 */
export function eventLog(app: () => TestApp, headers: () => Record<string, string>) {
  const latest = async (limit = 100): Promise<Envelope[]> => {
    const res = await app().http().get(`/api/v1/events?limit=${limit}`).set(headers());
    expect(res.status).toBe(200);
    return (res.body as Page<Envelope>).items;
  };
  const of = async (subject: string): Promise<Envelope[]> => {
    const res = await app()
      .http()
      .get('/api/v1/events')
      .query({ subject, order: 'asc', limit: 100 })
      .set(headers());
    expect(res.status).toBe(200);
    return (res.body as Page<Envelope>).items;
  };
  const expectNoEvent = async (write: () => Promise<void>): Promise<void> => {
    const [before] = await latest(1);
    await write();
    const [after] = await latest(1);
    expect(after?.id).toBe(before?.id);
  };
  return { latest, of, expectNoEvent };
}
