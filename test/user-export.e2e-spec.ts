import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { as, createTeam, expectError, register, type Session, type Team } from './support/api';
import { createTestApp, type TestApp } from './support/test-app';

/*
 * GET /users/me/export (API.md section 11): the caller's personal data as a JSON attachment -
 * profile, memberships, and per organization the contacts, companies, leads, deals they own and
 * the tasks of those deals. Nobody else's records, and no organization they do not belong to.
 */

const API = '/api/v1';
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

interface ExportBody {
  exportedAt: string;
  user: Record<string, unknown>;
  memberships: { organizationId: string; name: string; role: string; joinedAt: string }[];
  organizations: {
    organizationId: string;
    contacts: Record<string, unknown>[];
    companies: Record<string, unknown>[];
    leads: Record<string, unknown>[];
    deals: Record<string, unknown>[];
    tasks: Record<string, unknown>[];
  }[];
}

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});

afterAll(async () => {
  await t.close();
});

async function post(
  session: Session,
  organizationId: string,
  path: string,
  body: Record<string, unknown>,
): Promise<Record<string, unknown> & { id: string }> {
  const res = await t.http().post(`${API}/${path}`).set(as(session, organizationId)).send(body);
  expect({ path, status: res.status }).toEqual({ path, status: 201 });
  return res.body as Record<string, unknown> & { id: string };
}

async function get(
  session: Session,
  organizationId: string,
  path: string,
): Promise<Record<string, unknown>> {
  const res = await t.http().get(`${API}/${path}`).set(as(session, organizationId));
  expect({ path, status: res.status }).toEqual({ path, status: 200 });
  return res.body as Record<string, unknown>;
}

async function insertLead(
  session: Session,
  organizationId: string,
  name: string,
): Promise<Record<string, unknown>> {
  const [row] = await t.db.query<{ id: string; createdAt: Date; updatedAt: Date }[]>(
    `INSERT INTO leads (organization_id, owner_id, name, email, company_name, source)
     VALUES ($1, $2, $3, $4, 'Lead Co', 'web')
     RETURNING id, created_at AS "createdAt", updated_at AS "updatedAt"`,
    [organizationId, session.userId, name, `${name.toLowerCase()}@lead.example`],
  );
  return {
    id: row.id,
    organizationId,
    ownerId: session.userId,
    name,
    email: `${name.toLowerCase()}@lead.example`,
    phone: null,
    companyName: 'Lead Co',
    source: 'web',
    status: 'new',
    disqualifyReason: null,
    convertedAt: null,
    convertedContactId: null,
    convertedDealId: null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** Records of every kind owned by `session` in `org`; returns them as the API shows them. */
async function seed(
  session: Session,
  org: string,
  label: string,
): Promise<{
  contacts: Record<string, unknown>[];
  companies: Record<string, unknown>[];
  leads: Record<string, unknown>[];
  deals: Record<string, unknown>[];
  tasks: Record<string, unknown>[];
}> {
  const company = await post(session, org, 'companies', {
    name: `${label} Co`,
    address: { city: 'Springfield', country: 'US' },
    socialProfiles: [{ network: 'github', url: `https://github.com/${label.toLowerCase()}` }],
  });
  const contact = await post(session, org, 'contacts', {
    name: `${label} Contact`,
    email: `${label.toLowerCase()}@contact.example`,
    companyId: company.id,
  });
  const deal = await post(session, org, 'deals', {
    contactId: contact.id,
    title: `${label} Deal`,
    amount: '1234.5',
  });
  const task = await post(session, org, 'tasks', {
    dealId: deal.id,
    title: `${label} Task`,
    dueDate: '2999-01-01',
  });
  const lead = await insertLead(session, org, label);
  return {
    contacts: [await get(session, org, `contacts/${contact.id}`)],
    companies: [await get(session, org, `companies/${company.id}`)],
    leads: [lead],
    deals: [await get(session, org, `deals/${deal.id}`)],
    tasks: [await get(session, org, `tasks/${task.id}`)],
  };
}

function exportOf(session: Session): Promise<import('supertest').Response> {
  return t
    .http()
    .get(`${API}/users/me/export`)
    .set('authorization', `Bearer ${session.accessToken}`)
    .then((res) => res);
}

describe('GET /users/me/export', () => {
  let team: Team;

  beforeAll(async () => {
    team = await createTeam(t);
  });

  it('answers a JSON attachment with the profile, the memberships and, per organization, what the caller owns', async () => {
    const { member, owner, outsider, organizationId: teamOrg } = team;
    const memberOrg = member.organizationId; // the organization registering created
    const mineInTeam = await seed(member, teamOrg, 'Member');
    const mineAtHome = await seed(member, memberOrg, 'Home');
    const ownersInTeam = await seed(owner, teamOrg, 'Owner');
    await seed(outsider, outsider.organizationId, 'Outsider');
    // A task someone else added to the member's deal is a task of a deal the member owns.
    const extraTask = await post(owner, teamOrg, 'tasks', {
      dealId: mineInTeam.deals[0].id,
      title: 'Added by the owner',
      dueDate: '2999-02-01',
    });
    // A contact the owner gave to the member is the member's.
    const given = await post(owner, teamOrg, 'contacts', {
      name: 'Given',
      ownerId: member.userId,
    });

    const res = await exportOf(member);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['content-disposition']).toBe(
      `attachment; filename="crm-export-${member.userId}.json"`,
    );
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.body as ExportBody;
    expect(Object.keys(body)).toEqual(['exportedAt', 'user', 'memberships', 'organizations']);
    expect(body.exportedAt).toMatch(ISO_TIMESTAMP);
    const me = await t
      .http()
      .get(`${API}/users/me`)
      .set('authorization', `Bearer ${member.accessToken}`);
    expect(body.user).toEqual(me.body);

    expect(body.memberships).toEqual([
      {
        organizationId: memberOrg,
        name: 'Org',
        role: 'owner',
        joinedAt: expect.stringMatching(ISO_TIMESTAMP),
      },
      {
        organizationId: teamOrg,
        name: 'Team Org',
        role: 'member',
        joinedAt: expect.stringMatching(ISO_TIMESTAMP),
      },
    ]);
    expect(body.organizations).toEqual([
      { organizationId: memberOrg, ...mineAtHome },
      {
        organizationId: teamOrg,
        ...mineInTeam,
        contacts: [...mineInTeam.contacts, await get(owner, teamOrg, `contacts/${given.id}`)],
        tasks: [...mineInTeam.tasks, await get(owner, teamOrg, `tasks/${extraTask.id}`)],
      },
    ]);
    expect(body.organizations[1].deals[0]).toEqual(expect.objectContaining({ amount: '1234.50' }));

    // Nothing of the owner's, nor of the outsider's organization.
    const text = JSON.stringify(body);
    for (const kind of ['contacts', 'companies', 'deals', 'tasks', 'leads'] as const) {
      expect(text).not.toContain(ownersInTeam[kind][0].id as string);
    }
    expect(text).not.toContain(outsider.organizationId);
    expect(text).not.toContain('Outsider');

    // The owner's export holds the owner's records of the team, not the member's.
    const ownerExport = (await exportOf(owner)).body as ExportBody;
    expect(ownerExport.organizations).toEqual([{ organizationId: teamOrg, ...ownersInTeam }]);
  });

  it('gives empty lists to a user who owns nothing, and ignores an organization header', async () => {
    const fresh = await register(t, 'fresh', 'Fresh Org');
    const res = await t.http().get(`${API}/users/me/export`).set(as(fresh, team.organizationId));
    expect(res.status).toBe(200);
    expect((res.body as ExportBody).organizations).toEqual([
      {
        organizationId: fresh.organizationId,
        contacts: [],
        companies: [],
        leads: [],
        deals: [],
        tasks: [],
      },
    ]);
    expect((res.body as ExportBody).memberships).toEqual([
      expect.objectContaining({
        organizationId: fresh.organizationId,
        name: 'Fresh Org',
        role: 'owner',
      }),
    ]);
  });

  it('no longer lists an organization the user has left', async () => {
    const leaver = await register(t, 'leaver');
    const added = await t
      .http()
      .post(`${API}/organizations/current/members`)
      .set(as(team.owner, team.organizationId))
      .send({ email: leaver.email, role: 'member' });
    expect(added.status).toBe(201);
    await post(leaver, team.organizationId, 'contacts', { name: 'Left Behind' });
    expect(
      ((await exportOf(leaver)).body as ExportBody).organizations.map((o) => o.organizationId),
    ).toEqual([leaver.organizationId, team.organizationId]);
    const removed = await t
      .http()
      .delete(`${API}/organizations/current/members/${leaver.userId}`)
      .set(as(team.owner, team.organizationId));
    expect(removed.status).toBe(204);
    const body = (await exportOf(leaver)).body as ExportBody;
    expect(body.organizations.map((o) => o.organizationId)).toEqual([leaver.organizationId]);
    expect(JSON.stringify(body)).not.toContain('Left Behind');
  });

  it('streams a large export as one valid document and gives its connection back', async () => {
    const bulk = await register(t, 'bulk');
    await t.db.query(
      `INSERT INTO contacts (organization_id, owner_id, name, email, created_at)
       SELECT $1, $2, 'Bulk "' || i || '"', 'bulk' || i || '@example.com', now() + i * interval '1 ms'
         FROM generate_series(1, 3000) AS i`,
      [bulk.organizationId, bulk.userId],
    );
    const res = await exportOf(bulk);
    expect(res.status).toBe(200);
    const contacts = (res.body as ExportBody).organizations[0].contacts;
    expect(contacts).toHaveLength(3000);
    expect(contacts[0]).toEqual(expect.objectContaining({ name: 'Bulk "1"' }));
    expect(contacts[2999]).toEqual(expect.objectContaining({ name: 'Bulk "3000"' }));

    // A client that goes away after the first bytes: the snapshot transaction ends all the same.
    const server = t.app.getHttpServer();
    if (!server.listening) {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    }
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path: `${API}/users/me/export`,
          headers: { authorization: `Bearer ${bulk.accessToken}` },
        },
        (response) => {
          response.once('data', () => {
            req.destroy();
            resolve();
          });
        },
      );
      req.on('error', (e) =>
        (e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e),
      );
      req.end();
    });
    const pool = (t.db.driver as unknown as { master: { totalCount: number; idleCount: number } })
      .master;
    for (let i = 0; i < 50 && pool.idleCount < pool.totalCount; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(pool.idleCount).toBe(pool.totalCount);
  });

  it('reads the whole document from one snapshot: rows written while it streams are not in it', async () => {
    const reader = await register(t, 'snapshot');
    await t.db.query(
      `INSERT INTO contacts (organization_id, owner_id, name, email, created_at)
       SELECT $1, $2, 'Snap ' || i, 'snap' || i || '@example.com', now() + i * interval '1 ms'
         FROM generate_series(1, 20000) AS i`,
      [reader.organizationId, reader.userId],
    );
    const server = t.app.getHttpServer();
    if (!server.listening) {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    }
    const { port } = server.address() as AddressInfo;
    const text = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path: `${API}/users/me/export`,
          headers: { authorization: `Bearer ${reader.accessToken}` },
        },
        (response) => {
          // The first piece is in: the export is streaming its contacts. A company written now
          // commits after the export's snapshot was taken.
          const chunks: Buffer[] = [];
          response.once('data', (chunk: Buffer) => {
            response.pause();
            chunks.push(chunk);
            void t.db
              .query(
                `INSERT INTO companies (organization_id, owner_id, name) VALUES ($1, $2, $3)`,
                [reader.organizationId, reader.userId, 'Written Meanwhile'],
              )
              .then(() => {
                response.on('data', (c: Buffer) => chunks.push(c));
                response.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
                response.resume();
              }, reject);
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
    const body = JSON.parse(text) as ExportBody;
    expect(body.organizations[0].contacts).toHaveLength(20000);
    expect(body.organizations[0].companies).toEqual([]);
  });

  it('401 without a valid token', async () => {
    expectError(await t.http().get(`${API}/users/me/export`), 401, 'UNAUTHENTICATED');
    expectError(
      await t.http().get(`${API}/users/me/export`).set('authorization', 'Bearer nope'),
      401,
      'UNAUTHENTICATED',
    );
  });
});
