import { randomUUID } from 'node:crypto';
import type { Response } from 'supertest';
import type { TestApp } from './test-app';

export const PASSWORD = 'correct-horse-42';

export interface Session {
  userId: string;
  email: string;
  accessToken: string;
  refreshToken: string;
  organizationId: string;
}

export function uniqueEmail(prefix = 'user'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}@example.com`;
}

/** Registers a user (with their own organization) and returns their session. */
export async function register(
  t: TestApp,
  prefix = 'user',
  organizationName = 'Org',
  name = prefix,
): Promise<Session> {
  const email = uniqueEmail(prefix);
  const res = await t
    .http()
    .post('/api/v1/auth/register')
    .send({ email, password: PASSWORD, name, organizationName });
  expect(res.status).toBe(201);
  const body = res.body as {
    user: { id: string };
    organization: { id: string };
    accessToken: string;
    refreshToken: string;
  };
  return {
    userId: body.user.id,
    email,
    accessToken: body.accessToken,
    refreshToken: body.refreshToken,
    organizationId: body.organization.id,
  };
}

/** Headers for a tenant-scoped call as `session` in `organizationId`. */
export function as(
  session: Pick<Session, 'accessToken'>,
  organizationId?: string,
): Record<string, string> {
  const headers: Record<string, string> = { authorization: `Bearer ${session.accessToken}` };
  if (organizationId) headers['x-organization-id'] = organizationId;
  return headers;
}

export type RoleName = 'owner' | 'admin' | 'manager' | 'member';

export interface Team {
  organizationId: string;
  owner: Session;
  admin: Session;
  manager: Session;
  member: Session;
  /** The owner of a second, unrelated organization. */
  outsider: Session;
}

/** One organization with one user per role, plus an outsider with an organization of their own. */
export async function createTeam(t: TestApp): Promise<Team> {
  const owner = await register(t, 'owner', 'Team Org');
  const [admin, manager, member, outsider] = await Promise.all([
    register(t, 'admin'),
    register(t, 'manager'),
    register(t, 'member'),
    register(t, 'outsider', 'Other Org'),
  ]);
  for (const [session, role] of [
    [admin, 'admin'],
    [manager, 'manager'],
    [member, 'member'],
  ] as const) {
    const res = await t
      .http()
      .post('/api/v1/organizations/current/members')
      .set(as(owner, owner.organizationId))
      .send({ email: session.email, role });
    expect(res.status).toBe(201);
  }
  return { organizationId: owner.organizationId, owner, admin, manager, member, outsider };
}

/** Asserts API.md's error body with the given status and code. */
export function expectError(res: Response, status: number, code: string): void {
  expect({ status: res.status, code: (res.body as { code?: string }).code }).toEqual({
    status,
    code,
  });
  expect(res.body).toEqual(
    expect.objectContaining({
      statusCode: status,
      code,
      message: expect.any(String),
      requestId: expect.any(String),
    }),
  );
  expect(res.headers['x-request-id']).toBe((res.body as { requestId: string }).requestId);
}
