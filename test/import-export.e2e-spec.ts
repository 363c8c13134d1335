import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse } from 'csv-parse/sync';
import type { Response } from 'supertest';
import { as, createTeam, expectError, register, type Session, type Team } from './support/api';
import { createTestApp, type TestApp } from './support/test-app';

/*
 * CSV import and export (API.md section 11, "Import and export"): POST /contacts/import and
 * /companies/import (multipart upload, per-row validation identical to the single-record
 * endpoints, duplicates per onDuplicate, dryRun, limits), and GET /contacts/export,
 * /companies/export, /deals/export (streamed CSV with the list's filters and visibility,
 * formula injection neutralised). Every endpoint is checked across organizations.
 */

const API = '/api/v1';
const CONTACT_HEADER = 'name,email,phone,companyName';
const COMPANY_HEADER = 'name,domain,industry,phone,country';
const CONTACT_COLUMNS = [
  'id',
  'organizationId',
  'ownerId',
  'companyId',
  'name',
  'email',
  'phone',
  'createdAt',
  'updatedAt',
];
const COMPANY_COLUMNS = [
  'id',
  'organizationId',
  'ownerId',
  'name',
  'domain',
  'industry',
  'phone',
  'addressLine1',
  'addressLine2',
  'addressCity',
  'addressRegion',
  'addressPostalCode',
  'addressCountry',
  'socialProfiles',
  'createdAt',
  'updatedAt',
];
const DEAL_COLUMNS = [
  'id',
  'organizationId',
  'contactId',
  'pipelineId',
  'ownerId',
  'title',
  'amount',
  'currency',
  'status',
  'stage',
  'lostReason',
  'createdAt',
  'updatedAt',
];
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const EXISTS = 'a contact with this email already exists in the organization';
const COMPANY_EXISTS = 'a company with this domain already exists in the organization';

interface Detail {
  field: string;
  message: string;
}
interface Report {
  total: number;
  created: number;
  updated: number;
  skipped: number;
  failed: { row: number; errors: Detail[] }[];
}
interface ContactBody {
  id: string;
  ownerId: string;
  organizationId: string;
  companyId: string | null;
  name: string;
  email: string | null;
  phone: string | null;
  createdAt: string;
  updatedAt: string;
}
interface CompanyBody {
  id: string;
  ownerId: string;
  name: string;
  domain: string | null;
  industry: string | null;
  phone: string | null;
  address: Record<string, string | null> | null;
  socialProfiles: { network: string; url: string }[];
  createdAt: string;
  updatedAt: string;
}

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});

afterAll(async () => {
  await t.close();
});

type Kind = 'contacts' | 'companies';

function importCsv(
  session: Session,
  organizationId: string | undefined,
  kind: Kind,
  csv: string | Buffer,
  query: Record<string, string> = {},
): Promise<Response> {
  return t
    .http()
    .post(`${API}/${kind}/import`)
    .query(query)
    .set(as(session, organizationId))
    .attach('file', typeof csv === 'string' ? Buffer.from(csv, 'utf8') : csv, `${kind}.csv`)
    .then((res) => res);
}

/** A successful import's report. */
async function imported(
  session: Session,
  organizationId: string,
  kind: Kind,
  csv: string,
  query: Record<string, string> = {},
): Promise<Report> {
  const res = await importCsv(session, organizationId, kind, csv, query);
  expect({ status: res.status, body: res.body as unknown }).toEqual({
    status: 200,
    body: expect.anything(),
  });
  return res.body as Report;
}

function exportCsv(
  session: Session,
  organizationId: string | undefined,
  kind: 'contacts' | 'companies' | 'deals',
  query: Record<string, string | string[]> = {},
): Promise<Response> {
  return t
    .http()
    .get(`${API}/${kind}/export`)
    .query(query)
    .set(as(session, organizationId))
    .buffer(true)
    .then((res) => res);
}

/** The exported rows as objects (header row checked against `columns`). */
async function exportedRows(
  session: Session,
  organizationId: string,
  kind: 'contacts' | 'companies' | 'deals',
  columns: string[],
  query: Record<string, string | string[]> = {},
): Promise<Record<string, string>[]> {
  const res = await exportCsv(session, organizationId, kind, query);
  expect(res.status).toBe(200);
  const [header, ...rows]: string[][] = parse(res.text);
  expect(header).toEqual(columns);
  return rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i]])));
}

async function count(table: string, organizationId: string): Promise<number> {
  const [{ n }] = await t.db.query<{ n: number }[]>(
    `SELECT count(*)::int AS n FROM ${table} WHERE organization_id = $1`,
    [organizationId],
  );
  return n;
}

async function createContact(
  session: Session,
  organizationId: string,
  body: Record<string, unknown>,
): Promise<ContactBody> {
  const res = await t.http().post(`${API}/contacts`).set(as(session, organizationId)).send(body);
  expect(res.status).toBe(201);
  return res.body as ContactBody;
}

async function createCompany(
  session: Session,
  organizationId: string,
  body: Record<string, unknown>,
): Promise<CompanyBody> {
  const res = await t.http().post(`${API}/companies`).set(as(session, organizationId)).send(body);
  expect(res.status).toBe(201);
  return res.body as CompanyBody;
}

async function contactsOf(session: Session, organizationId: string): Promise<ContactBody[]> {
  const items: ContactBody[] = [];
  for (let page = 1; ; page++) {
    const res = await t
      .http()
      .get(`${API}/contacts`)
      .query({ page, pageSize: 100 })
      .set(as(session, organizationId));
    expect(res.status).toBe(200);
    const body = res.body as { items: ContactBody[]; total: number };
    items.push(...body.items);
    if (items.length >= body.total) return items;
  }
}

async function contactByEmail(
  session: Session,
  organizationId: string,
  email: string,
): Promise<ContactBody | undefined> {
  return (await contactsOf(session, organizationId)).find(
    (c) => c.email?.toLowerCase() === email.toLowerCase(),
  );
}

/** The 400 details POST /{kind} answers for `body`: what an invalid row must report. */
async function singleEndpointErrors(
  session: Session,
  organizationId: string,
  kind: Kind,
  body: Record<string, unknown>,
): Promise<Detail[]> {
  const res = await t.http().post(`${API}/${kind}`).set(as(session, organizationId)).send(body);
  expectError(res, 400, 'VALIDATION_FAILED');
  return (res.body as { details: Detail[] }).details;
}

describe('POST /contacts/import', () => {
  let owner: Session;
  let org: string;

  beforeEach(async () => {
    owner = await register(t, 'importer');
    org = owner.organizationId;
  });

  it('imports the valid rows and reports each invalid row by line, with the errors of POST /contacts', async () => {
    const longCompany = 'c'.repeat(201);
    const csv = [
      CONTACT_HEADER, // 1
      'Ada Lovelace,ada@example.com,+44 20 7946 0000,', // 2
      ',nobody@example.com,,', // 3: no name
      'Bob,not-an-email,12,', // 4: email and phone
      '', // 5: blank line, not a row
      '"Grace\nHopper",grace@example.com,,Acme', // 6-7: a quoted field over two lines
      'Carol,,,', // 8: only a name
      'Too,many,fields,here,extra', // 9
      '  Dan  ,dan@example.com,(555) 010-2030,ACME', // 10: trimmed as by POST /contacts
      ',,,', // 11: all cells empty, not a row
      'Eve,eve@example.com,abc,', // 12
      `Fay,fay@example.com,,${longCompany}`, // 13
      'Gus\u0000,gus@example.com,,', // 14
    ].join('\n');
    const report = await imported(owner, org, 'contacts', csv);

    expect(report).toEqual({
      total: 10,
      created: 4,
      updated: 0,
      skipped: 0,
      failed: [
        {
          row: 3,
          errors: await singleEndpointErrors(owner, org, 'contacts', {
            email: 'nobody@example.com',
          }),
        },
        {
          row: 4,
          errors: await singleEndpointErrors(owner, org, 'contacts', {
            name: 'Bob',
            email: 'not-an-email',
            phone: '12',
          }),
        },
        {
          row: 9,
          errors: [{ field: 'row', message: 'row has 5 fields, the header has 4' }],
        },
        {
          row: 12,
          errors: await singleEndpointErrors(owner, org, 'contacts', {
            name: 'Eve',
            email: 'eve@example.com',
            phone: 'abc',
          }),
        },
        {
          row: 13,
          errors: [{ field: 'companyName', message: 'companyName must be 1 to 200 characters' }],
        },
        {
          row: 14,
          errors: await singleEndpointErrors(owner, org, 'contacts', {
            name: 'Gus\u0000',
            email: 'gus@example.com',
          }),
        },
      ],
    });
    expect(report.failed[0].errors.length).toBeGreaterThan(0);

    const contacts = await contactsOf(owner, org);
    const byName = Object.fromEntries(contacts.map((c) => [c.name, c]));
    expect(Object.keys(byName).sort()).toEqual(['Ada Lovelace', 'Carol', 'Dan', 'Grace\nHopper']);
    for (const c of contacts) {
      expect(c).toEqual(expect.objectContaining({ organizationId: org, ownerId: owner.userId }));
    }
    expect(byName['Ada Lovelace']).toEqual(
      expect.objectContaining({
        email: 'ada@example.com',
        phone: '+44 20 7946 0000',
        companyId: null,
      }),
    );
    expect(byName.Carol).toEqual(expect.objectContaining({ email: null, phone: null }));
    expect(byName.Dan.phone).toBe('(555) 010-2030');
    // "Acme" and "ACME" are one company, created once with the first spelling.
    expect(byName['Grace\nHopper'].companyId).toEqual(expect.any(String));
    expect(byName.Dan.companyId).toBe(byName['Grace\nHopper'].companyId);
    const company = await t
      .http()
      .get(`${API}/companies/${byName.Dan.companyId}`)
      .set(as(owner, org));
    expect(company.status).toBe(200);
    expect(company.body).toEqual(expect.objectContaining({ name: 'Acme', ownerId: owner.userId }));
    expect(await count('companies', org)).toBe(1);
  });

  it('accepts the columns in any order and case, CRLF line ends and a UTF-8 BOM', async () => {
    const csv = '\uFEFFPhone,companyname,EMAIL,Name\r\n+1 555 0100,,zoe@example.com,Zoë Ünal\r\n';
    expect(await imported(owner, org, 'contacts', csv)).toEqual({
      total: 1,
      created: 1,
      updated: 0,
      skipped: 0,
      failed: [],
    });
    expect(await contactByEmail(owner, org, 'zoe@example.com')).toEqual(
      expect.objectContaining({ name: 'Zoë Ünal', phone: '+1 555 0100' }),
    );
  });

  it('answers an all-zero report for a header without rows', async () => {
    expect(await imported(owner, org, 'contacts', `${CONTACT_HEADER}\n\n`)).toEqual({
      total: 0,
      created: 0,
      updated: 0,
      skipped: 0,
      failed: [],
    });
  });

  it('links companyName to an existing company case-insensitively (the oldest of that name)', async () => {
    const first = await createCompany(owner, org, { name: 'Globex' });
    await createCompany(owner, org, { name: 'globex' });
    await imported(owner, org, 'contacts', `${CONTACT_HEADER}\nHank,hank@example.com,,GLOBEX\n`);
    expect((await contactByEmail(owner, org, 'hank@example.com'))?.companyId).toBe(first.id);
    expect(await count('companies', org)).toBe(2);
  });

  describe('duplicates (matched by email, case-insensitive, in the organization and in the file)', () => {
    let ada: ContactBody;

    beforeEach(async () => {
      ada = await createContact(owner, org, {
        name: 'Ada',
        email: 'ada@example.com',
        phone: '+1 555 0100',
      });
    });

    it('skip (the default): duplicates are counted as skipped and change nothing', async () => {
      const csv = [
        CONTACT_HEADER,
        'Ada Again,ADA@example.com,,', // 2: in the organization
        'New One,new@example.com,,', // 3
        'New Two,New@Example.com,,', // 4: of line 3
        'No Email,,,', // 5: no email, never a duplicate
        'No Email,,,', // 6
      ].join('\n');
      expect(await imported(owner, org, 'contacts', csv)).toEqual({
        total: 5,
        created: 3,
        updated: 0,
        skipped: 2,
        failed: [],
      });
      expect(await imported(owner, org, 'contacts', csv, { onDuplicate: 'skip' })).toEqual({
        total: 5,
        created: 2,
        updated: 0,
        skipped: 3,
        failed: [],
      });
      const after = await contactByEmail(owner, org, 'ada@example.com');
      expect(after).toEqual(ada);
      expect((await contactByEmail(owner, org, 'new@example.com'))?.name).toBe('New One');
      expect(await count('contacts', org)).toBe(1 + 3 + 2);
    });

    it('update: the existing record takes the non-empty cells; a later row updates what an earlier one created', async () => {
      const csv = [
        CONTACT_HEADER,
        'Ada Updated,ADA@EXAMPLE.COM,,Initech', // 2: updates Ada, keeps her phone
        'New,new@example.com,+1 555 0101,', // 3: created
        'New Later,NEW@example.com,,Initech', // 4: updates line 3's contact
        'Ada Final,ada@example.com,+1 555 0199,', // 5: updates Ada again
      ].join('\n');
      expect(await imported(owner, org, 'contacts', csv, { onDuplicate: 'update' })).toEqual({
        total: 4,
        created: 1,
        updated: 3,
        skipped: 0,
        failed: [],
      });
      const contacts = await contactsOf(owner, org);
      expect(contacts).toHaveLength(2);
      const updated = contacts.find((c) => c.id === ada.id)!;
      const initech = updated.companyId;
      expect(initech).toEqual(expect.any(String));
      expect(updated).toEqual({
        ...ada,
        name: 'Ada Final',
        email: 'ada@example.com',
        phone: '+1 555 0199',
        companyId: initech,
        updatedAt: expect.any(String),
      });
      expect(Date.parse(updated.updatedAt)).toBeGreaterThan(Date.parse(ada.updatedAt));
      expect(contacts.find((c) => c.id !== ada.id)).toEqual(
        expect.objectContaining({
          name: 'New Later',
          email: 'NEW@example.com',
          phone: '+1 555 0101',
          companyId: initech,
        }),
      );
      expect(await count('companies', org)).toBe(1);
    });

    it('update: a row that changes nothing keeps updatedAt', async () => {
      const csv = `${CONTACT_HEADER}\nAda,ada@example.com,,\n`;
      expect(await imported(owner, org, 'contacts', csv, { onDuplicate: 'update' })).toEqual(
        expect.objectContaining({ updated: 1 }),
      );
      expect(await contactByEmail(owner, org, 'ada@example.com')).toEqual(ada);
    });

    it('fail: 409 DUPLICATES_FOUND listing every duplicate row, and nothing is written', async () => {
      const csv = [
        CONTACT_HEADER,
        'Ada Again,Ada@Example.com,,', // 2: in the organization
        'New,new@example.com,,NewCo', // 3
        'New Again,NEW@example.com,,', // 4: of line 3
        ',invalid,,', // 5: invalid, not a duplicate
        'New Third,new@example.com,,', // 6: of line 3
      ].join('\n');
      const res = await importCsv(owner, org, 'contacts', csv, { onDuplicate: 'fail' });
      expectError(res, 409, 'DUPLICATES_FOUND');
      expect((res.body as { details: unknown }).details).toEqual([
        { row: 2, field: 'email', message: EXISTS },
        { row: 4, field: 'email', message: 'duplicate of line 3' },
        { row: 6, field: 'email', message: 'duplicate of line 3' },
      ]);
      expect(await count('contacts', org)).toBe(1);
      expect(await count('companies', org)).toBe(0);

      // Without duplicates, `fail` imports as usual.
      const clean = `${CONTACT_HEADER}\nOther,other@example.com,,\n,bad,,\n`;
      expect(await imported(owner, org, 'contacts', clean, { onDuplicate: 'fail' })).toEqual({
        total: 2,
        created: 1,
        updated: 0,
        skipped: 0,
        failed: [{ row: 3, errors: expect.any(Array) }],
      });
    });

    it('dryRun=true answers the report of a real run and writes nothing', async () => {
      const csv = [
        CONTACT_HEADER,
        'Ada Updated,ada@example.com,,Hooli', // 2: update
        'New,new@example.com,,Hooli', // 3: create (and create Hooli)
        'New Again,new@example.com,,', // 4: updates line 3's
        ',bad,,', // 5: invalid
      ].join('\n');
      const dry = await imported(owner, org, 'contacts', csv, {
        onDuplicate: 'update',
        dryRun: 'true',
      });
      expect(dry).toEqual({
        total: 4,
        created: 1,
        updated: 2,
        skipped: 0,
        failed: [{ row: 5, errors: expect.any(Array) }],
      });
      expect(await count('contacts', org)).toBe(1);
      expect(await count('companies', org)).toBe(0);
      expect(await contactByEmail(owner, org, 'ada@example.com')).toEqual(ada);

      const real = await imported(owner, org, 'contacts', csv, {
        onDuplicate: 'update',
        dryRun: 'false',
      });
      expect(real).toEqual(dry);
      expect(await count('contacts', org)).toBe(2);
      expect(await count('companies', org)).toBe(1);

      // A dry run that meets duplicates with onDuplicate=fail answers the same 409.
      const res = await importCsv(owner, org, 'contacts', csv, {
        onDuplicate: 'fail',
        dryRun: 'true',
      });
      expectError(res, 409, 'DUPLICATES_FOUND');
    });
  });

  describe('roles and visibility', () => {
    let team: Team;
    let org2: string;

    beforeAll(async () => {
      team = await createTeam(t);
      org2 = team.organizationId;
    });

    it('any member may import; what they create is theirs', async () => {
      for (const role of ['owner', 'admin', 'manager', 'member'] as const) {
        const email = `by-${role}@import.example`;
        expect(
          await imported(team[role], org2, 'contacts', `${CONTACT_HEADER}\n${role},${email},,\n`),
        ).toEqual(expect.objectContaining({ created: 1 }));
        expect((await contactByEmail(team.owner, org2, email))?.ownerId).toBe(team[role].userId);
      }
    });

    it("update: a member may not update someone else's contact (a failed row); their own, yes", async () => {
      const theirs = await createContact(team.owner, org2, {
        name: 'Theirs',
        email: 'theirs@vis.example',
      });
      const mine = await createContact(team.member, org2, {
        name: 'Mine',
        email: 'mine@vis.example',
      });
      const csv = [
        CONTACT_HEADER,
        'Changed,THEIRS@vis.example,,',
        'Changed,mine@vis.example,,',
      ].join('\n');
      expect(await imported(team.member, org2, 'contacts', csv, { onDuplicate: 'update' })).toEqual(
        {
          total: 2,
          created: 0,
          updated: 1,
          skipped: 0,
          failed: [
            {
              row: 2,
              errors: [{ field: 'email', message: `${EXISTS} and is owned by another user` }],
            },
          ],
        },
      );
      const all = await contactsOf(team.owner, org2);
      expect(all.find((c) => c.id === theirs.id)?.name).toBe('Theirs');
      expect(all.find((c) => c.id === mine.id)?.name).toBe('Changed');

      // A manager sees (and so updates) every contact.
      expect(
        await imported(
          team.manager,
          org2,
          'contacts',
          `${CONTACT_HEADER}\nBy Manager,theirs@vis.example,,\n`,
          {
            onDuplicate: 'update',
          },
        ),
      ).toEqual(expect.objectContaining({ updated: 1, failed: [] }));

      // skip and fail treat a duplicate the same whoever owns it.
      expect(
        await imported(
          team.member,
          org2,
          'contacts',
          `${CONTACT_HEADER}\nX,theirs@vis.example,,\n`,
        ),
      ).toEqual(expect.objectContaining({ skipped: 1 }));
      expectError(
        await importCsv(
          team.member,
          org2,
          'contacts',
          `${CONTACT_HEADER}\nX,theirs@vis.example,,\n`,
          {
            onDuplicate: 'fail',
          },
        ),
        409,
        'DUPLICATES_FOUND',
      );
    });

    it('companyName only matches companies visible to the caller: a member gets a company of their own', async () => {
      const ownersCompany = await createCompany(team.owner, org2, { name: 'Vandelay' });
      await imported(
        team.member,
        org2,
        'contacts',
        `${CONTACT_HEADER}\nArt,art@vis.example,,vandelay\n`,
      );
      const art = (await contactByEmail(team.owner, org2, 'art@vis.example'))!;
      expect(art.companyId).not.toBe(ownersCompany.id);
      const company = await t
        .http()
        .get(`${API}/companies/${art.companyId}`)
        .set(as(team.member, org2));
      expect(company.body).toEqual(
        expect.objectContaining({ name: 'vandelay', ownerId: team.member.userId }),
      );
      // The manager's import links to the oldest visible one: the owner's.
      await imported(
        team.manager,
        org2,
        'contacts',
        `${CONTACT_HEADER}\nKel,kel@vis.example,,VANDELAY\n`,
      );
      expect((await contactByEmail(team.owner, org2, 'kel@vis.example'))?.companyId).toBe(
        ownersCompany.id,
      );
    });

    it('never matches or touches another organization', async () => {
      const outsider = team.outsider;
      const foreign = await createContact(outsider, outsider.organizationId, {
        name: 'Foreign',
        email: 'same@cross.example',
      });
      const foreignCompany = await createCompany(outsider, outsider.organizationId, {
        name: 'Cross Corp',
      });
      const csv = `${CONTACT_HEADER}\nLocal,SAME@cross.example,,Cross Corp\n`;
      for (const onDuplicate of ['fail', 'update']) {
        const res = await importCsv(team.owner, org2, 'contacts', csv, {
          onDuplicate,
          dryRun: 'true',
        });
        expect({ status: res.status, body: res.body as unknown }).toEqual({
          status: 200,
          body: { total: 1, created: 1, updated: 0, skipped: 0, failed: [] },
        });
      }
      await imported(team.owner, org2, 'contacts', csv, { onDuplicate: 'update' });
      const local = (await contactByEmail(team.owner, org2, 'same@cross.example'))!;
      expect(local.organizationId).toBe(org2);
      expect(local.companyId).not.toBe(foreignCompany.id);
      expect(await contactByEmail(outsider, outsider.organizationId, 'same@cross.example')).toEqual(
        foreign,
      );
      // The outsider cannot import into the team's organization.
      expectError(await importCsv(outsider, org2, 'contacts', csv), 403, 'NOT_A_MEMBER');
    });
  });

  describe('refused requests', () => {
    it('401 without a token, 400 without the organization header, 403 outside the organization', async () => {
      const csv = `${CONTACT_HEADER}\nA,a@example.com,,\n`;
      const anonymous = await t
        .http()
        .post(`${API}/contacts/import`)
        .set('x-organization-id', org)
        .attach('file', Buffer.from(csv), 'c.csv');
      expectError(anonymous, 401, 'UNAUTHENTICATED');
      expectError(
        await importCsv(owner, undefined, 'contacts', csv),
        400,
        'INVALID_ORGANIZATION_HEADER',
      );
      const stranger = await register(t, 'stranger');
      expectError(await importCsv(stranger, org, 'contacts', csv), 403, 'NOT_A_MEMBER');
      expect(await count('contacts', org)).toBe(0);
    });

    it('413 PAYLOAD_TOO_LARGE for a file over 10 MB, and nothing is written', async () => {
      const row = 'Somebody With A Name,somebody@example.com,+1 555 0100,Company\n';
      const lines = [CONTACT_HEADER];
      let size = CONTACT_HEADER.length + 1;
      for (let i = 0; size <= 10 * 1024 * 1024; i++) {
        const line = row.replace('somebody@', `somebody${i}@`);
        lines.push(line.trimEnd());
        size += Buffer.byteLength(line);
      }
      const file = Buffer.from(lines.join('\n') + '\n');
      expect(file.length).toBeGreaterThan(10 * 1024 * 1024);
      expect(file.length).toBeLessThan(10 * 1024 * 1024 + 1024);
      const res = await importCsv(owner, org, 'contacts', file);
      expectError(res, 413, 'PAYLOAD_TOO_LARGE');
      expect(await count('contacts', org)).toBe(0);

      // Declared far over the limit: refused before it is read.
      const huge = await importCsv(owner, org, 'contacts', Buffer.alloc(12 * 1024 * 1024, 'a'));
      expectError(huge, 413, 'PAYLOAD_TOO_LARGE');
      // The same for companies.
      expectError(await importCsv(owner, org, 'companies', file), 413, 'PAYLOAD_TOO_LARGE');
    });

    it('400 VALIDATION_FAILED for a header with unknown, repeated or missing columns', async () => {
      const cases: [string, string[]][] = [
        [
          'name,email,phone,companyName,notes',
          ['unknown column "notes" in the header; expected name,email,phone,companyName'],
        ],
        ['name,email,phone', ['missing column "companyName" in the header']],
        ['name,email,phone,companyName,', ['column 5 of the header has no name']],
        [
          'name,email,email,phone',
          ['column "email" appears twice', 'missing column "companyName" in the header'],
        ],
        ['Ada,ada@example.com,,', expect.any(Array) as string[]],
      ];
      for (const [header, messages] of cases) {
        const res = await importCsv(owner, org, 'contacts', `${header}\nA,a@example.com,,\n`);
        expectError(res, 400, 'VALIDATION_FAILED');
        expect((res.body as { details: Detail[] }).details.map((d) => d.message)).toEqual(messages);
        expect((res.body as { details: Detail[] }).details.every((d) => d.field === 'file')).toBe(
          true,
        );
      }
      expect(await count('contacts', org)).toBe(0);
    });

    it('400 VALIDATION_FAILED for an empty file, malformed CSV, a file that is not UTF-8, an overlong row', async () => {
      const cases: [Buffer, string][] = [
        [
          Buffer.from(''),
          'the file is empty; expected the header row name,email,phone,companyName',
        ],
        [
          Buffer.from('\n\n'),
          'the file is empty; expected the header row name,email,phone,companyName',
        ],
        [
          Buffer.from(`${CONTACT_HEADER}\nA,a@example.com,,\n"Open,b@example.com,,\n`),
          'line 3: a quoted field is not closed',
        ],
        [
          Buffer.concat([
            Buffer.from(`${CONTACT_HEADER}\nA`),
            Buffer.from([0xff, 0xfe]),
            Buffer.from(',,,\n'),
          ]),
          'the file is not valid UTF-8 text',
        ],
        [
          Buffer.from(`${CONTACT_HEADER}\n${'x'.repeat(70_000)},,,\n`),
          'line 2: a row is longer than 65536 characters',
        ],
      ];
      for (const [file, message] of cases) {
        const res = await importCsv(owner, org, 'contacts', file);
        expectError(res, 400, 'VALIDATION_FAILED');
        expect((res.body as { details: Detail[] }).details).toEqual([{ field: 'file', message }]);
      }
      expect(await count('contacts', org)).toBe(0);
    });

    it('415 for a body that is not multipart; 400 without a "file" part; 400 for bad query parameters', async () => {
      const json = await t
        .http()
        .post(`${API}/contacts/import`)
        .set(as(owner, org))
        .send({ name: 'A' });
      expectError(json, 415, 'UNSUPPORTED_MEDIA_TYPE');
      const raw = await t
        .http()
        .post(`${API}/contacts/import`)
        .set(as(owner, org))
        .set('content-type', 'text/csv')
        .send(`${CONTACT_HEADER}\nA,,,\n`);
      expectError(raw, 415, 'UNSUPPORTED_MEDIA_TYPE');

      const noFile = await t
        .http()
        .post(`${API}/contacts/import`)
        .set(as(owner, org))
        .field('onDuplicate', 'skip');
      expectError(noFile, 400, 'VALIDATION_FAILED');
      expect((noFile.body as { details: Detail[] }).details[0].field).toBe('file');
      const otherField = await t
        .http()
        .post(`${API}/contacts/import`)
        .set(as(owner, org))
        .attach('upload', Buffer.from(`${CONTACT_HEADER}\nA,,,\n`), 'c.csv');
      expectError(otherField, 400, 'VALIDATION_FAILED');

      for (const query of [{ onDuplicate: 'merge' }, { dryRun: 'yes' }, { page: '1' }] as Record<
        string,
        string
      >[]) {
        const res = await importCsv(owner, org, 'contacts', `${CONTACT_HEADER}\nA,,,\n`, query);
        expectError(res, 400, 'VALIDATION_FAILED');
      }
      expect(await count('contacts', org)).toBe(0);
    });
  });
});

describe('POST /companies/import', () => {
  let owner: Session;
  let org: string;

  beforeEach(async () => {
    owner = await register(t, 'co-importer');
    org = owner.organizationId;
  });

  it('imports the valid rows and reports each invalid row with the errors of POST /companies', async () => {
    const csv = [
      COMPANY_HEADER,
      'Acme,Acme.Example,Manufacturing,+1 555 0100,us', // 2
      ',x.example,,,', // 3: no name
      'Bad Domain,not a domain,,,', // 4
      'Bad Country,ok.example,,,XX', // 5
      'Bad Phone,ph.example,,12,', // 6
      'Plain,,,,', // 7
    ].join('\n');
    const report = await imported(owner, org, 'companies', csv);
    const errorsOf = async (body: Record<string, unknown>): Promise<Detail[]> =>
      (await singleEndpointErrors(owner, org, 'companies', body)).map((d) => ({
        ...d,
        field: d.field === 'address.country' ? 'country' : d.field,
      }));
    expect(report).toEqual({
      total: 6,
      created: 2,
      updated: 0,
      skipped: 0,
      failed: [
        { row: 3, errors: await errorsOf({ domain: 'x.example' }) },
        { row: 4, errors: await errorsOf({ name: 'Bad Domain', domain: 'not a domain' }) },
        {
          row: 5,
          errors: await errorsOf({
            name: 'Bad Country',
            domain: 'ok.example',
            address: { country: 'XX' },
          }),
        },
        {
          row: 6,
          errors: await errorsOf({ name: 'Bad Phone', domain: 'ph.example', phone: '12' }),
        },
      ],
    });
    expect(report.failed[2].errors).toEqual([
      { field: 'country', message: 'country must be an ISO-3166 alpha-2 country code' },
    ]);
    const list = await t.http().get(`${API}/companies`).set(as(owner, org));
    const items = (list.body as { items: CompanyBody[] }).items;
    expect(items.map((c) => c.name).sort()).toEqual(['Acme', 'Plain']);
    expect(items.find((c) => c.name === 'Acme')).toEqual(
      expect.objectContaining({
        ownerId: owner.userId,
        domain: 'acme.example',
        industry: 'Manufacturing',
        phone: '+1 555 0100',
        address: expect.objectContaining({ country: 'US', city: null }),
        socialProfiles: [],
      }),
    );
    expect(items.find((c) => c.name === 'Plain')).toEqual(
      expect.objectContaining({ domain: null, industry: null, address: null }),
    );
  });

  describe('duplicates (matched by domain, case-insensitive)', () => {
    let acme: CompanyBody;

    beforeEach(async () => {
      acme = await createCompany(owner, org, {
        name: 'Acme',
        domain: 'acme.example',
        industry: 'Manufacturing',
        address: { city: 'Springfield', country: 'US' },
      });
    });

    it('skip, update (non-empty cells; country replaces only the address country) and fail', async () => {
      const csv = [
        COMPANY_HEADER,
        'Acme Corp,ACME.example,,,CA', // 2: the existing one
        'Beta,beta.example,Retail,,', // 3: new
        'Beta Two,BETA.EXAMPLE,,,de', // 4: of line 3
      ].join('\n');

      const fail = await importCsv(owner, org, 'companies', csv, { onDuplicate: 'fail' });
      expectError(fail, 409, 'DUPLICATES_FOUND');
      expect((fail.body as { details: unknown }).details).toEqual([
        { row: 2, field: 'domain', message: COMPANY_EXISTS },
        { row: 4, field: 'domain', message: 'duplicate of line 3' },
      ]);
      expect(await count('companies', org)).toBe(1);

      const dry = await imported(owner, org, 'companies', csv, { dryRun: 'true' });
      expect(dry).toEqual({ total: 3, created: 1, updated: 0, skipped: 2, failed: [] });
      expect(await count('companies', org)).toBe(1);

      expect(await imported(owner, org, 'companies', csv, { onDuplicate: 'update' })).toEqual({
        total: 3,
        created: 1,
        updated: 2,
        skipped: 0,
        failed: [],
      });
      const list = await t.http().get(`${API}/companies`).set(as(owner, org));
      const items = (list.body as { items: CompanyBody[] }).items;
      expect(items).toHaveLength(2);
      expect(items.find((c) => c.id === acme.id)).toEqual({
        ...acme,
        name: 'Acme Corp',
        address: { ...acme.address, city: 'Springfield', country: 'CA' },
        updatedAt: expect.any(String),
      });
      expect(items.find((c) => c.id !== acme.id)).toEqual(
        expect.objectContaining({
          name: 'Beta Two',
          domain: 'beta.example',
          industry: 'Retail',
          address: expect.objectContaining({ country: 'DE' }),
        }),
      );

      expect(await imported(owner, org, 'companies', csv)).toEqual({
        total: 3,
        created: 0,
        updated: 0,
        skipped: 3,
        failed: [],
      });
    });

    it("a member may not update someone else's company; another organization's domains do not count", async () => {
      const team = await createTeam(t);
      await createCompany(team.owner, team.organizationId, {
        name: 'Owned',
        domain: 'owned.example',
      });
      await createCompany(team.outsider, team.outsider.organizationId, {
        name: 'Elsewhere',
        domain: 'elsewhere.example',
      });
      const csv = `${COMPANY_HEADER}\nMine Now,owned.example,,,\nHere,elsewhere.example,,,\n`;
      expect(
        await imported(team.member, team.organizationId, 'companies', csv, {
          onDuplicate: 'update',
        }),
      ).toEqual({
        total: 2,
        created: 1,
        updated: 0,
        skipped: 0,
        failed: [
          {
            row: 2,
            errors: [
              { field: 'domain', message: `${COMPANY_EXISTS} and is owned by another user` },
            ],
          },
        ],
      });
      expect(await count('companies', team.outsider.organizationId)).toBe(1);
      expectError(
        await importCsv(team.outsider, team.organizationId, 'companies', csv),
        403,
        'NOT_A_MEMBER',
      );
    });
  });

  it('400 for a bad header', async () => {
    const res = await importCsv(owner, org, 'companies', 'name,domain,industry,phone,address\n');
    expectError(res, 400, 'VALIDATION_FAILED');
    expect((res.body as { details: Detail[] }).details).toEqual([
      {
        field: 'file',
        message:
          'unknown column "address" in the header; expected name,domain,industry,phone,country',
      },
      { field: 'file', message: 'missing column "country" in the header' },
    ]);
  });
});

describe('exports', () => {
  let team: Team;
  let org: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    team = await createTeam(t);
    org = team.organizationId;
    const hooli = await createCompany(team.owner, org, {
      name: 'Hooli',
      domain: 'hooli.example',
      industry: 'Tech',
      phone: '+1 555 0199',
      address: { line1: '1 Main St', city: 'Palo Alto', postalCode: '94301', country: 'US' },
      socialProfiles: [{ network: 'linkedin', url: 'https://www.linkedin.com/company/hooli' }],
    });
    ids.hooli = hooli.id;
    ids.memberCompany = (
      await createCompany(team.member, org, { name: '=cmd|calc', industry: 'Tech' })
    ).id;
    await createCompany(team.owner, org, { name: 'Pied Piper', industry: 'Compression' });
    for (const [session, name, email, extra] of [
      [team.owner, 'Richard Hendricks', 'richard@pp.example', { companyId: hooli.id }],
      [team.owner, '=HYPERLINK("http://evil.example")', 'formula@pp.example', {}],
      [team.owner, '+1', null, { phone: '+1 555 0100' }],
      [team.member, '-2', 'minus@pp.example', {}],
      [team.member, '@cmd', 'at@pp.example', {}],
      [team.manager, 'Jared, "Donald" Dunn', 'jared@pp.example', {}],
    ] as const) {
      const c = await createContact(session, org, { name, email, ...extra });
      ids[name] = c.id;
    }
    // Leading tab and carriage return cannot come through the API (names are trimmed).
    await t.db.query(
      `INSERT INTO contacts (organization_id, owner_id, name) VALUES ($1, $2, $3), ($1, $2, $4)`,
      [org, team.owner.userId, '\tTabbed', '\rReturned'],
    );
    // The outsider's organization: nothing of it may appear in the team's exports.
    await createContact(team.outsider, team.outsider.organizationId, {
      name: 'Outsider Contact',
      email: 'richard@pp.example',
    });
    await createCompany(team.outsider, team.outsider.organizationId, {
      name: 'Outsider Co',
      industry: 'Tech',
    });
  });

  describe('GET /contacts/export', () => {
    it('streams text/csv as an attachment, with the rows and order of GET /contacts', async () => {
      const res = await exportCsv(team.owner, org, 'contacts');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(res.headers['content-disposition']).toMatch(
        /^attachment; filename="contacts-\d{4}-\d{2}-\d{2}\.csv"$/,
      );
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.text.split('\n')[0]).toBe(CONTACT_COLUMNS.join(','));

      const rows = await exportedRows(team.owner, org, 'contacts', CONTACT_COLUMNS);
      const listed = await contactsOf(team.owner, org);
      expect(rows).toHaveLength(8);
      expect(rows.map((r) => r.id)).toEqual(listed.map((c) => c.id));
      const unneutralise = (v: string): string => (/^'[=+\-@\t\r]/.test(v) ? v.slice(1) : v);
      expect(
        rows.map((r) =>
          Object.fromEntries(Object.entries(r).map(([k, v]) => [k, unneutralise(v)])),
        ),
      ).toEqual(
        listed.map((c) =>
          Object.fromEntries(
            CONTACT_COLUMNS.map((k) => [k, String(c[k as keyof ContactBody] ?? '')]),
          ),
        ),
      );
      for (const r of rows) {
        expect(r.createdAt).toMatch(ISO_TIMESTAMP);
        expect(r.organizationId).toBe(org);
      }
    });

    it("prefixes ' to cells beginning with =, +, -, @, tab or carriage return", async () => {
      const rows = await exportedRows(team.owner, org, 'contacts', CONTACT_COLUMNS);
      const names = rows.map((r) => r.name).sort();
      expect(names).toEqual(
        [
          '\'=HYPERLINK("http://evil.example")',
          "'+1",
          "'-2",
          "'@cmd",
          "'\tTabbed",
          "'\rReturned",
          'Jared, "Donald" Dunn',
          'Richard Hendricks',
        ].sort(),
      );
      expect(rows.find((r) => r.name === "'+1")?.phone).toBe("'+1 555 0100");
      // The raw text: quoting as RFC 4180 wants it.
      const res = await exportCsv(team.owner, org, 'contacts');
      expect(res.text).toContain('"Jared, ""Donald"" Dunn"');
      expect(res.text).toContain('"\'=HYPERLINK(""http://evil.example"")"');
    });

    it('applies the list filters and ordering, and refuses pagination parameters', async () => {
      const search = await exportedRows(team.owner, org, 'contacts', CONTACT_COLUMNS, {
        search: 'HENDR rich',
      });
      expect(search.map((r) => r.name)).toEqual(['Richard Hendricks']);
      const byOwner = await exportedRows(team.owner, org, 'contacts', CONTACT_COLUMNS, {
        ownerId: team.member.userId,
      });
      expect(byOwner.map((r) => r.name).sort()).toEqual(["'-2", "'@cmd"]);
      const byCompany = await exportedRows(team.owner, org, 'contacts', CONTACT_COLUMNS, {
        companyId: ids.hooli,
      });
      expect(byCompany.map((r) => r.name)).toEqual(['Richard Hendricks']);
      const byName = await exportedRows(team.owner, org, 'contacts', CONTACT_COLUMNS, {
        orderBy: 'name',
        order: 'asc',
      });
      const listed = await t
        .http()
        .get(`${API}/contacts`)
        .query({ orderBy: 'name', order: 'asc', pageSize: 100 })
        .set(as(team.owner, org));
      expect(byName.map((r) => r.id)).toEqual(
        (listed.body as { items: ContactBody[] }).items.map((c) => c.id),
      );
      for (const query of [
        { page: '1' },
        { limit: '5' },
        { cursor: 'x' },
        { orderBy: 'email' },
        { nope: '1' },
      ] as Record<string, string>[]) {
        expectError(await exportCsv(team.owner, org, 'contacts', query), 400, 'VALIDATION_FAILED');
      }
    });

    it('shows a member only their own contacts, and never another organization', async () => {
      const mine = await exportedRows(team.member, org, 'contacts', CONTACT_COLUMNS);
      expect(mine.map((r) => r.name).sort()).toEqual(["'-2", "'@cmd"]);
      expect(mine.every((r) => r.ownerId === team.member.userId)).toBe(true);
      // A member filtering on someone else gets nothing.
      expect(
        await exportedRows(team.member, org, 'contacts', CONTACT_COLUMNS, {
          ownerId: team.owner.userId,
        }),
      ).toEqual([]);
      const manager = await exportedRows(team.manager, org, 'contacts', CONTACT_COLUMNS);
      expect(manager).toHaveLength(8);
      expect(manager.some((r) => r.name === 'Outsider Contact')).toBe(false);
      const outsider = await exportedRows(
        team.outsider,
        team.outsider.organizationId,
        'contacts',
        CONTACT_COLUMNS,
      );
      expect(outsider.map((r) => r.name)).toEqual(['Outsider Contact']);
      expectError(await exportCsv(team.outsider, org, 'contacts'), 403, 'NOT_A_MEMBER');
    });
  });

  describe('GET /companies/export', () => {
    it('one column per address part, socialProfiles as JSON, filters and visibility of GET /companies', async () => {
      const res = await exportCsv(team.owner, org, 'companies');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(res.headers['content-disposition']).toMatch(
        /^attachment; filename="companies-\d{4}-\d{2}-\d{2}\.csv"$/,
      );
      const rows = await exportedRows(team.owner, org, 'companies', COMPANY_COLUMNS);
      expect(rows.map((r) => r.name).sort()).toEqual(["'=cmd|calc", 'Hooli', 'Pied Piper']);
      const hooli = rows.find((r) => r.name === 'Hooli')!;
      expect(hooli).toEqual({
        id: ids.hooli,
        organizationId: org,
        ownerId: team.owner.userId,
        name: 'Hooli',
        domain: 'hooli.example',
        industry: 'Tech',
        phone: "'+1 555 0199",
        addressLine1: '1 Main St',
        addressLine2: '',
        addressCity: 'Palo Alto',
        addressRegion: '',
        addressPostalCode: '94301',
        addressCountry: 'US',
        socialProfiles: '[{"network":"linkedin","url":"https://www.linkedin.com/company/hooli"}]',
        createdAt: expect.stringMatching(ISO_TIMESTAMP),
        updatedAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      const tech = await exportedRows(team.owner, org, 'companies', COMPANY_COLUMNS, {
        industry: 'Tech',
      });
      expect(tech.map((r) => r.name).sort()).toEqual(["'=cmd|calc", 'Hooli']);
      const search = await exportedRows(team.owner, org, 'companies', COMPANY_COLUMNS, {
        search: 'hooli.ex',
      });
      expect(search.map((r) => r.name)).toEqual(['Hooli']);
      const member = await exportedRows(team.member, org, 'companies', COMPANY_COLUMNS);
      expect(member.map((r) => r.id)).toEqual([ids.memberCompany]);
      const outsider = await exportedRows(
        team.outsider,
        team.outsider.organizationId,
        'companies',
        COMPANY_COLUMNS,
      );
      expect(outsider.map((r) => r.name)).toEqual(['Outsider Co']);
      expectError(await exportCsv(team.outsider, org, 'companies'), 403, 'NOT_A_MEMBER');
      expectError(
        await exportCsv(team.owner, org, 'companies', { pageSize: '10' }),
        400,
        'VALIDATION_FAILED',
      );
    });
  });

  describe('GET /deals/export', () => {
    let deals: Record<string, { id: string }>;

    beforeAll(async () => {
      deals = {};
      const create = async (session: Session, title: string, amount: unknown, contact: string) => {
        const res = await t
          .http()
          .post(`${API}/deals`)
          .set(as(session, org))
          .send({ title, amount, contactId: contact, currency: 'EUR' });
        expect(res.status).toBe(201);
        deals[title] = res.body as { id: string };
      };
      await create(team.owner, 'Big', 1500, ids['Richard Hendricks']);
      await create(team.owner, 'Zero', undefined, ids['Richard Hendricks']);
      await create(team.member, 'Half', '99.5', ids['-2']);
      const started = await t
        .http()
        .patch(`${API}/deals/${deals.Big.id}`)
        .set(as(team.owner, org))
        .send({ status: 'in_progress' });
      expect(started.status).toBe(200);
      const contact = await createContact(team.outsider, team.outsider.organizationId, {
        name: 'X',
      });
      const foreign = await t
        .http()
        .post(`${API}/deals`)
        .set(as(team.outsider, team.outsider.organizationId))
        .send({ title: 'Foreign', amount: 5, contactId: contact.id });
      expect(foreign.status).toBe(201);
    });

    it('amounts with two decimals, ISO timestamps, the rows and order of GET /deals', async () => {
      const res = await exportCsv(team.owner, org, 'deals');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(res.headers['content-disposition']).toMatch(
        /^attachment; filename="deals-\d{4}-\d{2}-\d{2}\.csv"$/,
      );
      const rows = await exportedRows(team.owner, org, 'deals', DEAL_COLUMNS);
      const listed = await t.http().get(`${API}/deals`).set(as(team.owner, org));
      const items = (listed.body as { items: Record<string, unknown>[] }).items;
      expect(rows).toEqual(
        items.map((d) =>
          Object.fromEntries(
            DEAL_COLUMNS.map((k) => [k, d[k] === null ? '' : String(d[k] as string)]),
          ),
        ),
      );
      expect(Object.fromEntries(rows.map((r) => [r.title, r.amount]))).toEqual({
        Big: '1500.00',
        Zero: '0.00',
        Half: '99.50',
      });
      expect(rows.every((r) => ISO_TIMESTAMP.test(r.updatedAt) && r.currency === 'EUR')).toBe(true);
    });

    it('applies the list filters; a member sees their own deals; never another organization', async () => {
      const titles = async (session: Session, query: Record<string, string | string[]>, o = org) =>
        (await exportedRows(session, o, 'deals', DEAL_COLUMNS, query)).map((r) => r.title).sort();
      expect(await titles(team.owner, { status: 'in_progress' })).toEqual(['Big']);
      expect(await titles(team.owner, { status: ['new', 'in_progress'] })).toEqual([
        'Big',
        'Half',
        'Zero',
      ]);
      expect(await titles(team.owner, { minAmount: '99.5' })).toEqual(['Big', 'Half']);
      expect(await titles(team.owner, { maxAmount: '99.49' })).toEqual(['Zero']);
      expect(await titles(team.owner, { contactId: ids['-2'] })).toEqual(['Half']);
      expect(await titles(team.owner, { ownerId: team.member.userId })).toEqual(['Half']);
      expect(await titles(team.owner, { orderBy: 'amount', order: 'asc' })).toEqual([
        'Big',
        'Half',
        'Zero',
      ]);
      const byAmount = await exportedRows(team.owner, org, 'deals', DEAL_COLUMNS, {
        orderBy: 'amount',
        order: 'asc',
      });
      expect(byAmount.map((r) => r.title)).toEqual(['Zero', 'Half', 'Big']);
      expect(await titles(team.member, {})).toEqual(['Half']);
      expect(await titles(team.outsider, {}, team.outsider.organizationId)).toEqual(['Foreign']);
      expectError(await exportCsv(team.outsider, org, 'deals'), 403, 'NOT_A_MEMBER');
      expectError(
        await exportCsv(team.owner, org, 'deals', { status: 'open' }),
        400,
        'VALIDATION_FAILED',
      );
    });
  });

  it('401 without a token, 400 without the organization header', async () => {
    for (const kind of ['contacts', 'companies', 'deals']) {
      const anonymous = await t.http().get(`${API}/${kind}/export`).set('x-organization-id', org);
      expectError(anonymous, 401, 'UNAUTHENTICATED');
      const noHeader = await t
        .http()
        .get(`${API}/${kind}/export`)
        .set('authorization', `Bearer ${team.owner.accessToken}`);
      expectError(noHeader, 400, 'INVALID_ORGANIZATION_HEADER');
    }
  });

  it('streams large exports from a cursor and gives the connection back, also when the client leaves', async () => {
    const bulk = await register(t, 'bulk');
    await t.db.query(
      `INSERT INTO contacts (organization_id, owner_id, name, email)
       SELECT $1, $2, 'Bulk ' || i, 'bulk' || i || '@example.com' FROM generate_series(1, 20000) AS i`,
      [bulk.organizationId, bulk.userId],
    );
    const res = await exportCsv(bulk, bulk.organizationId, 'contacts');
    expect(res.status).toBe(200);
    const rows: string[][] = parse(res.text);
    expect(rows).toHaveLength(20001);
    expect(new Set(rows.slice(1).map((r) => r[0])).size).toBe(20000);

    // A client that goes away after the first bytes.
    const server = t.app.getHttpServer();
    if (!server.listening)
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path: `${API}/contacts/export`,
          headers: as(bulk, bulk.organizationId),
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
    // More exports than the pool has connections (5 in the tests): none is held.
    for (let i = 0; i < 7; i++) {
      const again = await exportCsv(bulk, bulk.organizationId, 'contacts', {
        search: 'bulk 19999',
      });
      expect(again.status).toBe(200);
    }
  });
});
