import { randomUUID } from 'node:crypto';
import type { Test } from 'supertest';
import {
  as,
  createTeam,
  expectError,
  register,
  type RoleName,
  type Session,
  type Team,
} from './support/api';
import { consumersIdle, recordStatements } from './support/background';
import { expectValidation, ISO_TIMESTAMP, keysOf, resource, UUID } from './support/resource';
import { createTestApp, type TestApp } from './support/test-app';

/*
 * Contacts (API.md section 5) under the roles and visibility rules of section 4, the list
 * conventions of section 1 (offset and keyset pages) and the error precedence order.
 */

const API = '/api/v1';
const CONTACTS = `${API}/contacts`;
const COMPANIES = `${API}/companies`;
const ROLES = ['owner', 'admin', 'manager', 'member'] as const;
const MANAGING_ROLES = ['owner', 'admin', 'manager'] as const;

const CONTACT_KEYS = [
  'companyId',
  'createdAt',
  'email',
  'id',
  'name',
  'organizationId',
  'ownerId',
  'phone',
  'updatedAt',
];
const PAGE_KEYS = ['items', 'page', 'pageSize', 'total'];
const CURSOR_PAGE_KEYS = ['items', 'nextCursor'];

interface ContactBody {
  id: string;
  organizationId: string;
  ownerId: string;
  name: string;
  email: string | null;
  phone: string | null;
  companyId: string | null;
  createdAt: string;
  updatedAt: string;
}
interface PageBody {
  items: ContactBody[];
  total: number;
  page: number;
  pageSize: number;
}
interface CursorBody {
  items: ContactBody[];
  nextCursor: string | null;
}
interface ContactInput {
  name?: unknown;
  email?: unknown;
  phone?: unknown;
  ownerId?: unknown;
  companyId?: unknown;
  [extra: string]: unknown;
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const idsOf = (items: { id: string }[]): string[] => items.map((c) => c.id);

/** Asserts the exact Contact shape of API.md section 5. */
function expectContact(value: unknown, expected: Partial<ContactBody>): void {
  expect(keysOf(value)).toEqual(CONTACT_KEYS);
  expect(value).toEqual({
    id: expect.stringMatching(UUID),
    organizationId: expect.stringMatching(UUID),
    ownerId: expect.stringMatching(UUID),
    name: expect.any(String),
    email: null,
    phone: null,
    companyId: null,
    createdAt: expect.stringMatching(ISO_TIMESTAMP),
    updatedAt: expect.stringMatching(ISO_TIMESTAMP),
    ...expected,
  });
}

describe('Contacts (API.md sections 4 and 5)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  // ---------------------------------------------------------------- helpers

  const contacts = resource(() => t, CONTACTS);
  const postContact = contacts.post;
  const getContact = contacts.get;
  const putContact = contacts.put;
  const deleteContact = contacts.remove;
  const listContacts = contacts.list;

  async function createContact(
    s: Session,
    organizationId: string,
    body: ContactInput,
  ): Promise<ContactBody> {
    const res = await postContact(s, organizationId, body);
    expect({ status: res.status, body: res.body as unknown }).toEqual({
      status: 201,
      body: expect.anything(),
    });
    return res.body as ContactBody;
  }

  async function addMember(
    by: Session,
    organizationId: string,
    s: Session,
    role: RoleName,
  ): Promise<void> {
    const res = await t
      .http()
      .post(`${API}/organizations/current/members`)
      .set(as(by, organizationId))
      .send({ email: s.email, role });
    expect(res.status).toBe(201);
  }

  /** Offset page as `s`; asserts 200 and the page shape. */
  async function page(s: Session, organizationId: string, query = ''): Promise<PageBody> {
    const res = await listContacts(s, organizationId, query);
    expect(res.status).toBe(200);
    expect(keysOf(res.body)).toEqual(PAGE_KEYS);
    return res.body as PageBody;
  }

  /** Every contact `s` sees (walks offset pages of 100). */
  async function allVisible(s: Session, organizationId: string, query = ''): Promise<string[]> {
    const ids: string[] = [];
    for (let n = 1; n <= 20; n += 1) {
      const body = await page(s, organizationId, `?pageSize=100&page=${n}${query}`);
      ids.push(...idsOf(body.items));
      if (body.items.length < 100) break;
    }
    return ids;
  }

  /** Walks keyset pages from the first one; asserts 200 and the cursor page shape on each. */
  async function walk(
    s: Session,
    organizationId: string,
    query: string,
  ): Promise<{ ids: string[]; pages: CursorBody[] }> {
    const pages: CursorBody[] = [];
    let cursor: string | null = null;
    do {
      const suffix: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const res = await listContacts(s, organizationId, `?${query}${suffix}`);
      expect(res.status).toBe(200);
      expect(keysOf(res.body)).toEqual(CURSOR_PAGE_KEYS);
      const body = res.body as CursorBody;
      pages.push(body);
      cursor = body.nextCursor;
    } while (cursor && pages.length < 60);
    return { ids: pages.flatMap((p) => idsOf(p.items)), pages };
  }

  async function dbContact(id: string): Promise<Record<string, unknown> | null> {
    const rows: Record<string, unknown>[] = await t.db.query(
      `SELECT id, organization_id, owner_id, name, email, phone FROM contacts WHERE id = $1`,
      [id],
    );
    return rows[0] ?? null;
  }

  async function dbContactCount(): Promise<number> {
    const rows: { n: number }[] = await t.db.query('SELECT count(*)::int AS n FROM contacts');
    return rows[0].n;
  }

  async function insertDeal(
    organizationId: string,
    contactId: string,
    ownerId: string,
    title = 'Deal',
  ): Promise<string> {
    const rows: { id: string }[] = await t.db.query(
      `INSERT INTO deals (organization_id, contact_id, owner_id, title, currency, pipeline_id, stage)
       SELECT $1, $2, $3, $4, 'EUR', p.id, 'qualification' FROM pipelines p
       WHERE p.organization_id = $1 AND p.is_default RETURNING id`,
      [organizationId, contactId, ownerId, title],
    );
    return rows[0].id;
  }

  /** A team plus a second member (`member2`) in the team's organization. */
  async function createTeamWithTwoMembers(): Promise<Team & { member2: Session }> {
    const team = await createTeam(t);
    const member2 = await register(t, 'member2');
    await addMember(team.owner, team.organizationId, member2, 'member');
    return { ...team, member2 };
  }

  // ---------------------------------------------------------------- POST /contacts

  describe('POST /contacts', () => {
    let team: Team & { member2: Session };
    let org: string;
    beforeAll(async () => {
      team = await createTeamWithTwoMembers();
      org = team.organizationId;
    });

    it.each(ROLES)(
      'answers 201 with exactly the Contact shape to the %s; ownerId defaults to the caller, email/phone null when absent',
      async (role) => {
        const res = await postContact(team[role], org, { name: `By ${role}` });
        expect(res.status).toBe(201);
        const contact = res.body as ContactBody;
        expectContact(contact, {
          organizationId: org,
          ownerId: team[role].userId,
          name: `By ${role}`,
          email: null,
          phone: null,
        });
        expect(contact.updatedAt).toBe(contact.createdAt);
        expect(await dbContact(contact.id)).toEqual({
          id: contact.id,
          organization_id: org,
          owner_id: team[role].userId,
          name: `By ${role}`,
          email: null,
          phone: null,
        });
        const read = await getContact(team[role], org, contact.id);
        expect(read.status).toBe(200);
        expect(read.body).toEqual(contact);
      },
    );

    it('stores and answers name, email and phone as given (trimmed)', async () => {
      const contact = await createContact(team.owner, org, {
        name: '  Grace Hopper  ',
        email: ' grace.post@navy.example ',
        phone: ' +1 (555) 010-2030 ',
      });
      expectContact(contact, {
        organizationId: org,
        ownerId: team.owner.userId,
        name: 'Grace Hopper',
        email: 'grace.post@navy.example',
        phone: '+1 (555) 010-2030',
      });
      expect((await getContact(team.owner, org, contact.id)).body).toEqual(contact);
    });

    it('accepts explicit null email and phone', async () => {
      const contact = await createContact(team.manager, org, {
        name: 'Nulls',
        email: null,
        phone: null,
      });
      expectContact(contact, { name: 'Nulls', email: null, phone: null });
    });

    it.each(MANAGING_ROLES)(
      'lets the %s set ownerId to another member; that member then sees the contact',
      async (role) => {
        const contact = await createContact(team[role], org, {
          name: `For member from ${role}`,
          ownerId: team.member.userId,
        });
        expect(contact.ownerId).toBe(team.member.userId);
        expect((await dbContact(contact.id))?.owner_id).toBe(team.member.userId);
        const read = await getContact(team.member, org, contact.id);
        expect(read.status).toBe(200);
        expect(read.body).toEqual(contact);
      },
    );

    it('lets the owner assign a contact to an admin and to a manager', async () => {
      for (const target of [team.admin, team.manager]) {
        const contact = await createContact(team.owner, org, {
          name: 'Assigned',
          ownerId: target.userId,
        });
        expect(contact.ownerId).toBe(target.userId);
      }
    });

    it('lets a member set ownerId to themselves', async () => {
      const contact = await createContact(team.member, org, {
        name: 'Mine explicitly',
        ownerId: team.member.userId,
      });
      expect(contact.ownerId).toBe(team.member.userId);
    });

    it('answers 403 FORBIDDEN to a member setting ownerId to someone else, and writes nothing', async () => {
      const before = await dbContactCount();
      for (const ownerId of [
        team.member2.userId,
        team.owner.userId,
        // a role rule (403) comes before the semantic ownerId rule (422)
        team.outsider.userId,
        randomUUID(),
      ]) {
        expectError(
          await postContact(team.member, org, { name: 'Not mine', ownerId }),
          403,
          'FORBIDDEN',
        );
      }
      expect(await dbContactCount()).toBe(before);
    });

    it.each(MANAGING_ROLES)(
      'answers 422 INVALID_OWNER to the %s for an ownerId that is not a member, and writes nothing',
      async (role) => {
        const before = await dbContactCount();
        for (const ownerId of [team.outsider.userId, randomUUID()]) {
          expectError(
            await postContact(team[role], org, { name: 'Nobody', ownerId }),
            422,
            'INVALID_OWNER',
          );
        }
        expect(await dbContactCount()).toBe(before);
      },
    );

    describe('email uniqueness', () => {
      it('answers 409 CONTACT_EMAIL_TAKEN for an email already used in the organization, and writes nothing', async () => {
        await createContact(team.owner, org, { name: 'First', email: 'dup@corp.example' });
        const before = await dbContactCount();
        for (const s of [team.owner, team.admin, team.manager, team.member]) {
          expectError(
            await postContact(s, org, { name: 'Second', email: 'dup@corp.example' }),
            409,
            'CONTACT_EMAIL_TAKEN',
          );
        }
        expect(await dbContactCount()).toBe(before);
      });

      it('compares emails case-insensitively ("X@Y.com" vs "x@y.com", both ways)', async () => {
        await createContact(team.admin, org, { name: 'Upper', email: 'X@Y.com' });
        const before = await dbContactCount();
        for (const email of ['x@y.com', 'X@Y.COM', 'X@y.com', ' x@Y.com ']) {
          expectError(
            await postContact(team.manager, org, { name: 'Lower', email }),
            409,
            'CONTACT_EMAIL_TAKEN',
          );
        }
        await createContact(team.admin, org, { name: 'Lower first', email: 'lower@case.example' });
        expectError(
          await postContact(team.owner, org, { name: 'Upper later', email: 'LOWER@CASE.EXAMPLE' }),
          409,
          'CONTACT_EMAIL_TAKEN',
        );
        expect(await dbContactCount()).toBe(before + 1);
      });

      it('lets exactly one of several concurrent creates with the same email win (the others 409)', async () => {
        const responses = await Promise.all(
          ['race@corp.example', 'RACE@corp.example', 'Race@Corp.Example', 'race@CORP.example'].map(
            (email, i) =>
              postContact(i % 2 ? team.admin : team.owner, org, { name: 'Race', email }),
          ),
        );
        const statuses = responses.map((r) => r.status).sort();
        expect(statuses).toEqual([201, 409, 409, 409]);
        for (const r of responses.filter((r) => r.status === 409))
          expectError(r, 409, 'CONTACT_EMAIL_TAKEN');
        const rows: { n: number }[] = await t.db.query(
          `SELECT count(*)::int AS n FROM contacts WHERE organization_id = $1 AND lower(email) = 'race@corp.example'`,
          [org],
        );
        expect(rows[0].n).toBe(1);
      });

      it('allows the same email in another organization', async () => {
        const mine = await createContact(team.owner, org, {
          name: 'Here',
          email: 'shared@both.example',
        });
        const theirs = await createContact(team.outsider, team.outsider.organizationId, {
          name: 'There',
          email: 'SHARED@both.example',
        });
        expect(theirs.organizationId).toBe(team.outsider.organizationId);
        expect(theirs.id).not.toBe(mine.id);
      });

      it('allows any number of contacts without an email', async () => {
        const a = await createContact(team.owner, org, { name: 'No email A' });
        const b = await createContact(team.owner, org, { name: 'No email B', email: null });
        expect(a.email).toBeNull();
        expect(b.email).toBeNull();
      });

      it('answers 409 (state rule) before 422 INVALID_OWNER, and 403 before 409', async () => {
        await createContact(team.owner, org, { name: 'Taken', email: 'order@corp.example' });
        expectError(
          await postContact(team.owner, org, {
            name: 'Both wrong',
            email: 'order@corp.example',
            ownerId: randomUUID(),
          }),
          409,
          'CONTACT_EMAIL_TAKEN',
        );
        expectError(
          await postContact(team.member, org, {
            name: 'Both wrong',
            email: 'order@corp.example',
            ownerId: team.owner.userId,
          }),
          403,
          'FORBIDDEN',
        );
      });
    });

    describe('phone', () => {
      it.each([
        '+1 (555) 010-2030',
        '555.0100',
        '12345',
        '+12345',
        '(0) 30-123.45',
        '1'.repeat(32),
        `+${'1'.repeat(31)}`,
      ])('accepts %j', async (phone) => {
        const contact = await createContact(team.manager, org, { name: 'Phone ok', phone });
        expect(contact.phone).toBe(phone);
      });

      it.each([
        ['letters', 'abc12'],
        ['too short (4)', '1234'],
        ['too long (33)', '1'.repeat(33)],
        ['too long (33 with +)', `+${'1'.repeat(32)}`],
        ['no digit', '+-----'],
        ['no digit, only punctuation', '(...)'],
        ['plus inside', '12+34'],
        ['two leading plus', '++12345'],
        ['trailing plus', '12345+'],
        ['slash', '123/456'],
        ['letter x extension', '12345 x12'],
        ['empty', ''],
        ['blank', '     '],
        ['a number', 1234567],
      ])(
        'answers 400 VALIDATION_FAILED (details.field phone) for %s and writes nothing',
        async (_label, phone) => {
          const before = await dbContactCount();
          expectValidation(
            await postContact(team.owner, org, { name: 'Bad phone', phone }),
            'phone',
          );
          expect(await dbContactCount()).toBe(before);
        },
      );
    });

    describe('validation', () => {
      it('accepts an email of 254 characters and refuses one of 255', async () => {
        const domain = (length: number): string =>
          `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(length - 63 - 63 - 2 - 4)}.com`;
        const ok = `${'l'.repeat(64)}@${domain(189)}`;
        expect(ok).toHaveLength(254);
        expect((await createContact(team.owner, org, { name: 'Long mail', email: ok })).email).toBe(
          ok,
        );
        const tooLong = `${'m'.repeat(64)}@${domain(190)}`;
        expect(tooLong).toHaveLength(255);
        expectValidation(
          await postContact(team.owner, org, { name: 'Longer mail', email: tooLong }),
          'email',
        );
      });

      it('counts name length in characters: 200 emoji are fine, 201 are not', async () => {
        const emoji = '\u{1F600}'.repeat(200);
        expect((await createContact(team.owner, org, { name: emoji })).name).toBe(emoji);
        expectValidation(
          await postContact(team.owner, org, { name: '\u{1F600}'.repeat(201) }),
          'name',
        );
      });

      it('counts characters as PostgreSQL does: 100 "❤️" (200 code points) fit, 101 are 400, never 500', async () => {
        const heart = '\u2764\uFE0F';
        const ok = heart.repeat(100);
        expect((await createContact(team.owner, org, { name: ok })).name).toBe(ok);
        const before = await dbContactCount();
        expectValidation(await postContact(team.owner, org, { name: heart.repeat(101) }), 'name');
        expectValidation(await postContact(team.owner, org, { name: heart.repeat(150) }), 'name');
        // an email of 247 ASCII characters and 10 variation selectors: 257 characters
        const email = `${'l'.repeat(64)}@${'d'.repeat(63)}.${'e'.repeat(63)}.${'f'.repeat(50)}${'\uFE0F'.repeat(10)}.com`;
        expect([...email]).toHaveLength(257);
        const res = await postContact(team.owner, org, { name: 'Selector mail', email });
        expectValidation(res, 'email');
        expect(await dbContactCount()).toBe(before);
      });

      it('answers 400 (never 500) for a NUL character in name, email or phone, writing nothing', async () => {
        const before = await dbContactCount();
        for (const [field, body] of [
          ['name', { name: 'Nul\u0000Name' }],
          ['email', { name: 'Nul', email: 'nul\u0000@x.example' }],
          ['phone', { name: 'Nul', phone: '12345\u0000' }],
        ] as const) {
          expectValidation(await postContact(team.owner, org, body), field);
        }
        expect(await dbContactCount()).toBe(before);
      });

      it('accepts ownerId in upper case, answering and storing it in canonical lower case', async () => {
        const contact = await createContact(team.owner, org, {
          name: 'Upper owner',
          ownerId: team.member.userId.toUpperCase(),
        });
        expect(contact.ownerId).toBe(team.member.userId);
        expect((await dbContact(contact.id))?.owner_id).toBe(team.member.userId);
        const own = await createContact(team.member, org, {
          name: 'Upper self',
          ownerId: team.member.userId.toUpperCase(),
        });
        expect(own.ownerId).toBe(team.member.userId);
      });

      it('accepts a name of exactly 1 and 200 characters', async () => {
        expect((await createContact(team.owner, org, { name: 'x' })).name).toBe('x');
        const long = 'n'.repeat(200);
        expect((await createContact(team.owner, org, { name: long })).name).toBe(long);
      });

      it.each([
        ['missing name', { email: 'nameless@x.example' }, 'name'],
        ['empty name', { name: '' }, 'name'],
        ['blank name', { name: '   ' }, 'name'],
        ['201-character name', { name: 'n'.repeat(201) }, 'name'],
        ['name not a string', { name: 42 }, 'name'],
        ['name null', { name: null }, 'name'],
        ['bad email', { name: 'Bad email', email: 'not-an-email' }, 'email'],
        ['email without domain', { name: 'Bad email', email: 'a@' }, 'email'],
        ['email not a string', { name: 'Bad email', email: 42 }, 'email'],
        ['ownerId not a UUID', { name: 'Bad owner', ownerId: 'me' }, 'ownerId'],
        ['ownerId a number', { name: 'Bad owner', ownerId: 7 }, 'ownerId'],
        ['unknown property', { name: 'Extra', foo: 'bar' }, 'foo'],
        [
          'unknown property organizationId',
          { name: 'Extra', organizationId: randomUUID() },
          'organizationId',
        ],
        ['unknown property id', { name: 'Extra', id: randomUUID() }, 'id'],
        [
          'unknown property createdAt',
          { name: 'Extra', createdAt: '2020-01-01T00:00:00.000Z' },
          'createdAt',
        ],
      ])('answers 400 VALIDATION_FAILED for %s and writes nothing', async (_label, body, field) => {
        const before = await dbContactCount();
        expectValidation(await postContact(team.owner, org, body), field);
        expect(await dbContactCount()).toBe(before);
      });

      it('answers 400 VALIDATION_FAILED with details.field "email" for a bad email', async () => {
        const res = await postContact(team.owner, org, { name: 'Mail', email: 'nope' });
        expectError(res, 400, 'VALIDATION_FAILED');
        const details = (res.body as { details: { field: string }[] }).details;
        expect(details.map((d) => d.field)).toEqual(['email']);
      });

      it('answers 400 VALIDATION_FAILED for malformed JSON and a non-object body, writing nothing', async () => {
        const before = await dbContactCount();
        expectError(
          await t
            .http()
            .post(CONTACTS)
            .set(as(team.owner, org))
            .set('content-type', 'application/json')
            .send('{"name": '),
          400,
          'VALIDATION_FAILED',
        );
        expectError(await postContact(team.owner, org, []), 400, 'VALIDATION_FAILED');
        expect(await dbContactCount()).toBe(before);
      });

      it('answers 400 (validation) before 403 and 422 (record rules)', async () => {
        const before = await dbContactCount();
        expectValidation(
          await postContact(team.member, org, { name: '', ownerId: team.owner.userId }),
          'name',
        );
        expectValidation(
          await postContact(team.owner, org, { name: 'x', phone: 'abc', ownerId: randomUUID() }),
          'phone',
        );
        expect(await dbContactCount()).toBe(before);
      });
    });
  });

  // ---------------------------------------------------------------- GET /contacts/{id}

  describe('GET /contacts/{id}', () => {
    let team: Team & { member2: Session };
    let org: string;
    const byRole: Partial<Record<RoleName | 'member2', ContactBody>> = {};
    beforeAll(async () => {
      team = await createTeamWithTwoMembers();
      org = team.organizationId;
      for (const role of [...ROLES, 'member2'] as const) {
        byRole[role] = await createContact(team[role], org, {
          name: `Owned by ${role}`,
          email: `${role}@get.example`,
          phone: '+49 30 1234567',
        });
      }
    });

    it.each(MANAGING_ROLES)(
      'answers 200 to the %s for every contact of the organization',
      async (role) => {
        for (const contact of Object.values<ContactBody>(byRole as Record<string, ContactBody>)) {
          const res = await getContact(team[role], org, contact.id);
          expect(res.status).toBe(200);
          expectContact(res.body, contact);
        }
      },
    );

    it('answers 200 to a member for their own contact', async () => {
      const res = await getContact(team.member, org, byRole.member!.id);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(byRole.member);
    });

    it("answers 404 NOT_FOUND (never 403) to a member for another member's or a manager's contact", async () => {
      for (const role of ['owner', 'admin', 'manager', 'member2'] as const) {
        expectError(await getContact(team.member, org, byRole[role]!.id), 404, 'NOT_FOUND');
      }
      expectError(await getContact(team.member2, org, byRole.member!.id), 404, 'NOT_FOUND');
    });

    it('answers 404 NOT_FOUND for an unknown id, the same as for an invisible one', async () => {
      const unknown = await getContact(team.member, org, randomUUID());
      const invisible = await getContact(team.member, org, byRole.owner!.id);
      expectError(unknown, 404, 'NOT_FOUND');
      expectError(invisible, 404, 'NOT_FOUND');
      expect((invisible.body as { message: string }).message).toBe(
        (unknown.body as { message: string }).message,
      );
    });

    it('answers 400 VALIDATION_FAILED when the id is not a UUID', async () => {
      for (const id of ['not-a-uuid', '123', `${byRole.owner!.id}x`]) {
        expectValidation(await getContact(team.owner, org, id), 'id');
      }
    });

    it('shows a contact to a member as soon as a manager assigns it to them', async () => {
      const contact = await createContact(team.manager, org, { name: 'Handed over' });
      expectError(await getContact(team.member, org, contact.id), 404, 'NOT_FOUND');
      await putContact(team.manager, org, contact.id, {
        name: 'Handed over',
        ownerId: team.member.userId,
      }).expect(200);
      expect((await getContact(team.member, org, contact.id)).status).toBe(200);
    });
  });

  // ---------------------------------------------------------------- PUT /contacts/{id}

  describe('PUT /contacts/{id}', () => {
    let team: Team & { member2: Session };
    let org: string;
    beforeAll(async () => {
      team = await createTeamWithTwoMembers();
      org = team.organizationId;
    });

    const full = (name: string, email: string): ContactInput => ({
      name,
      email,
      phone: '+1 555 0100',
    });

    it.each(ROLES)(
      'lets the %s replace name, email and phone of a contact it sees (200 Contact)',
      async (role) => {
        const contact = await createContact(
          team[role],
          org,
          full('Before', `before-${role}@put.example`),
        );
        const res = await putContact(team[role], org, contact.id, {
          name: 'After',
          email: `after-${role}@put.example`,
          phone: '(030) 99-88.77',
        });
        expect(res.status).toBe(200);
        expectContact(res.body, {
          id: contact.id,
          organizationId: org,
          ownerId: team[role].userId,
          name: 'After',
          email: `after-${role}@put.example`,
          phone: '(030) 99-88.77',
          createdAt: contact.createdAt,
        });
        const updated = res.body as ContactBody;
        expect(Date.parse(updated.updatedAt)).toBeGreaterThanOrEqual(Date.parse(contact.updatedAt));
        expect((await getContact(team[role], org, contact.id)).body).toEqual(updated);
        expect(await dbContact(contact.id)).toEqual(
          expect.objectContaining({
            name: 'After',
            email: `after-${role}@put.example`,
            phone: '(030) 99-88.77',
          }),
        );
      },
    );

    it('is a full replace: omitted email and phone become null, ownerId stays', async () => {
      const contact = await createContact(team.owner, org, {
        ...full('Full', 'full@put.example'),
        ownerId: team.manager.userId,
      });
      const res = await putContact(team.owner, org, contact.id, { name: 'Only a name' });
      expect(res.status).toBe(200);
      expectContact(res.body, {
        id: contact.id,
        organizationId: org,
        ownerId: team.manager.userId,
        name: 'Only a name',
        email: null,
        phone: null,
        createdAt: contact.createdAt,
      });
      expect(await dbContact(contact.id)).toEqual(
        expect.objectContaining({ owner_id: team.manager.userId, email: null, phone: null }),
      );
      // the freed email is usable again
      await createContact(team.owner, org, { name: 'Reuses', email: 'full@put.example' });
    });

    it('accepts explicit nulls for email and phone', async () => {
      const contact = await createContact(team.admin, org, full('Nulls', 'nulls@put.example'));
      const res = await putContact(team.admin, org, contact.id, {
        name: 'Nulls',
        email: null,
        phone: null,
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual(expect.objectContaining({ email: null, phone: null }));
    });

    it('updates updatedAt on a change and leaves createdAt alone', async () => {
      const contact = await createContact(team.owner, org, { name: 'Clock' });
      await new Promise((resolve) => setTimeout(resolve, 15));
      const res = await putContact(team.owner, org, contact.id, { name: 'Clock 2' });
      expect(res.status).toBe(200);
      const updated = res.body as ContactBody;
      expect(updated.createdAt).toBe(contact.createdAt);
      expect(Date.parse(updated.updatedAt)).toBeGreaterThan(Date.parse(contact.updatedAt));
      expect((await getContact(team.owner, org, contact.id)).body).toEqual(updated);
    });

    it.each(MANAGING_ROLES)('lets the %s change ownerId to another member', async (role) => {
      const contact = await createContact(team.owner, org, { name: `Reassign by ${role}` });
      const res = await putContact(team[role], org, contact.id, {
        name: `Reassign by ${role}`,
        ownerId: team.member2.userId,
      });
      expect(res.status).toBe(200);
      expect((res.body as ContactBody).ownerId).toBe(team.member2.userId);
      expect((await dbContact(contact.id))?.owner_id).toBe(team.member2.userId);
      expect((await getContact(team.member2, org, contact.id)).status).toBe(200);
    });

    it.each(MANAGING_ROLES)(
      'answers 422 INVALID_OWNER to the %s for a non-member ownerId and changes nothing',
      async (role) => {
        const contact = await createContact(
          team.owner,
          org,
          full('Keep', `keep-${role}@put.example`),
        );
        for (const ownerId of [team.outsider.userId, randomUUID()]) {
          expectError(
            await putContact(team[role], org, contact.id, { name: 'Changed', ownerId }),
            422,
            'INVALID_OWNER',
          );
        }
        expect(await dbContact(contact.id)).toEqual(
          expect.objectContaining({
            owner_id: team.owner.userId,
            name: 'Keep',
            email: `keep-${role}@put.example`,
          }),
        );
      },
    );

    it('answers 403 FORBIDDEN to a member changing ownerId of their own contact, and changes nothing', async () => {
      const contact = await createContact(team.member, org, full('Mine', 'mine@put.example'));
      for (const ownerId of [
        team.owner.userId,
        team.member2.userId,
        team.outsider.userId,
        randomUUID(),
      ]) {
        expectError(
          await putContact(team.member, org, contact.id, { name: 'Given away', ownerId }),
          403,
          'FORBIDDEN',
        );
      }
      expect(await dbContact(contact.id)).toEqual(
        expect.objectContaining({
          owner_id: team.member.userId,
          name: 'Mine',
          email: 'mine@put.example',
        }),
      );
    });

    it('lets a member send their own id as ownerId (no change)', async () => {
      const contact = await createContact(team.member, org, { name: 'Mine too' });
      const res = await putContact(team.member, org, contact.id, {
        name: 'Still mine',
        ownerId: team.member.userId,
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual(
        expect.objectContaining({ ownerId: team.member.userId, name: 'Still mine' }),
      );
      const upper = await putContact(team.member, org, contact.id, {
        name: 'Still mine',
        ownerId: team.member.userId.toUpperCase(),
      });
      expect(upper.status).toBe(200);
      expect((upper.body as ContactBody).ownerId).toBe(team.member.userId);
    });

    it("answers 404 NOT_FOUND (not 403) to a member on someone else's contact, also when changing ownerId", async () => {
      for (const other of [team.member2, team.owner, team.manager]) {
        const contact = await createContact(
          other,
          org,
          full('Theirs', `theirs-${other.userId}@put.example`),
        );
        expectError(
          await putContact(team.member, org, contact.id, { name: 'Hijack' }),
          404,
          'NOT_FOUND',
        );
        expectError(
          await putContact(team.member, org, contact.id, {
            name: 'Hijack',
            ownerId: team.member.userId,
          }),
          404,
          'NOT_FOUND',
        );
        expectError(
          await putContact(team.member, org, contact.id, {
            name: 'Hijack',
            ownerId: team.owner.userId,
          }),
          404,
          'NOT_FOUND',
        );
        expect(await dbContact(contact.id)).toEqual(
          expect.objectContaining({ owner_id: other.userId, name: 'Theirs' }),
        );
      }
    });

    it('answers 404 NOT_FOUND for an unknown id and 400 for an id that is not a UUID', async () => {
      expectError(
        await putContact(team.owner, org, randomUUID(), { name: 'Ghost' }),
        404,
        'NOT_FOUND',
      );
      expectValidation(await putContact(team.owner, org, 'not-a-uuid', { name: 'Ghost' }), 'id');
    });

    it("answers 409 CONTACT_EMAIL_TAKEN for another contact's email (case-insensitive) and changes nothing", async () => {
      await createContact(team.owner, org, { name: 'Holder', email: 'Holder@put.example' });
      const contact = await createContact(team.member, org, full('Mover', 'mover@put.example'));
      for (const email of ['Holder@put.example', 'holder@PUT.example']) {
        expectError(
          await putContact(team.member, org, contact.id, { name: 'Mover 2', email }),
          409,
          'CONTACT_EMAIL_TAKEN',
        );
      }
      expect(await dbContact(contact.id)).toEqual(
        expect.objectContaining({ name: 'Mover', email: 'mover@put.example' }),
      );
    });

    it('lets exactly one of two concurrent replaces to the same email win (the other 409)', async () => {
      const a = await createContact(team.owner, org, { name: 'Racer A' });
      const b = await createContact(team.owner, org, { name: 'Racer B' });
      const responses = await Promise.all([
        putContact(team.owner, org, a.id, { name: 'Racer A', email: 'finish@put.example' }),
        putContact(team.admin, org, b.id, { name: 'Racer B', email: 'FINISH@put.example' }),
      ]);
      expect(responses.map((r) => r.status).sort()).toEqual([200, 409]);
      expectError(
        responses.find((r) => r.status === 409)!,
        409,
        'CONTACT_EMAIL_TAKEN',
      );
      const rows: { n: number }[] = await t.db.query(
        `SELECT count(*)::int AS n FROM contacts WHERE lower(email) = 'finish@put.example'`,
      );
      expect(rows[0].n).toBe(1);
    });

    it('lets a contact keep its own email, also in another letter case', async () => {
      const contact = await createContact(team.admin, org, full('Self', 'self@put.example'));
      const same = await putContact(team.admin, org, contact.id, {
        name: 'Self',
        email: 'self@put.example',
      });
      expect(same.status).toBe(200);
      const recased = await putContact(team.admin, org, contact.id, {
        name: 'Self',
        email: 'SELF@put.example',
      });
      expect(recased.status).toBe(200);
      expect((recased.body as ContactBody).email).toBe('SELF@put.example');
    });

    it.each([
      ['missing name', { email: 'x@put.example' }, 'name'],
      ['empty name', { name: '' }, 'name'],
      ['201-character name', { name: 'n'.repeat(201) }, 'name'],
      ['bad email', { name: 'X', email: 'nope' }, 'email'],
      ['bad phone', { name: 'X', phone: '12+34' }, 'phone'],
      ['short phone', { name: 'X', phone: '1234' }, 'phone'],
      ['ownerId not a UUID', { name: 'X', ownerId: 'someone' }, 'ownerId'],
      ['unknown property', { name: 'X', foo: 1 }, 'foo'],
      [
        'unknown property organizationId',
        { name: 'X', organizationId: randomUUID() },
        'organizationId',
      ],
      ['unknown property id', { name: 'X', id: randomUUID() }, 'id'],
    ])('answers 400 VALIDATION_FAILED for %s and changes nothing', async (_label, body, field) => {
      const contact = await createContact(
        team.owner,
        org,
        full('Valid', `valid-${randomUUID()}@put.example`),
      );
      const before = await dbContact(contact.id);
      expectValidation(await putContact(team.owner, org, contact.id, body), field);
      expect(await dbContact(contact.id)).toEqual(before);
    });

    it("answers 400 (validation) before 404 (visibility): a member's invalid body on someone else's contact", async () => {
      const contact = await createContact(team.owner, org, { name: 'Owner only' });
      expectValidation(await putContact(team.member, org, contact.id, { name: '' }), 'name');
      expectValidation(
        await putContact(team.member, org, randomUUID(), { bogus: true, name: 'x' }),
        'bogus',
      );
    });

    it('answers 409 (state rule) before 422 INVALID_OWNER', async () => {
      await createContact(team.owner, org, { name: 'Has it', email: 'prec@put.example' });
      const contact = await createContact(team.owner, org, { name: 'Wants it' });
      expectError(
        await putContact(team.owner, org, contact.id, {
          name: 'Wants it',
          email: 'prec@put.example',
          ownerId: randomUUID(),
        }),
        409,
        'CONTACT_EMAIL_TAKEN',
      );
    });

    it('keeps the owner of a contact whose owner has left the organization when ownerId is omitted', async () => {
      const leaver = await register(t, 'leaver');
      await addMember(team.owner, org, leaver, 'member');
      const contact = await createContact(leaver, org, full('Left behind', 'left@put.example'));
      await t
        .http()
        .delete(`${API}/organizations/current/members/${leaver.userId}`)
        .set(as(team.owner, org))
        .expect(204);
      const res = await putContact(team.admin, org, contact.id, { name: 'Still editable' });
      expect(res.status).toBe(200);
      expect(res.body).toEqual(
        expect.objectContaining({ ownerId: leaver.userId, name: 'Still editable' }),
      );
      // handing it to a current member works; handing it back to the leaver is 422
      const handed = await putContact(team.admin, org, contact.id, {
        name: 'Still editable',
        ownerId: team.member.userId,
      });
      expect((handed.body as ContactBody).ownerId).toBe(team.member.userId);
      expectError(
        await putContact(team.admin, org, contact.id, { name: 'Back', ownerId: leaver.userId }),
        422,
        'INVALID_OWNER',
      );
    });
  });

  // ---------------------------------------------------------------- DELETE /contacts/{id}

  describe('DELETE /contacts/{id}', () => {
    let team: Team & { member2: Session };
    let org: string;
    beforeAll(async () => {
      team = await createTeamWithTwoMembers();
      org = team.organizationId;
    });

    it.each(ROLES)(
      'lets the %s delete a contact it owns: 204 with no body, then GET answers 404',
      async (role) => {
        const contact = await createContact(team[role], org, { name: `Doomed ${role}` });
        const res = await deleteContact(team[role], org, contact.id);
        expect(res.status).toBe(204);
        expect(res.text).toBe('');
        expectError(await getContact(team[role], org, contact.id), 404, 'NOT_FOUND');
        expect(await dbContact(contact.id)).toBeNull();
        expectError(await deleteContact(team[role], org, contact.id), 404, 'NOT_FOUND');
      },
    );

    it.each(MANAGING_ROLES)("lets the %s delete a member's contact", async (role) => {
      const contact = await createContact(team.member, org, {
        name: `Member's, deleted by ${role}`,
      });
      await deleteContact(team[role], org, contact.id).expect(204);
      expect(await dbContact(contact.id)).toBeNull();
    });

    it("answers 404 NOT_FOUND to a member deleting someone else's contact, which stays", async () => {
      for (const other of [team.member2, team.owner, team.manager]) {
        const contact = await createContact(other, org, { name: 'Protected' });
        expectError(await deleteContact(team.member, org, contact.id), 404, 'NOT_FOUND');
        expect(await dbContact(contact.id)).not.toBeNull();
        expect((await getContact(other, org, contact.id)).status).toBe(200);
      }
    });

    it('answers 404 for an unknown id and 400 for an id that is not a UUID', async () => {
      expectError(await deleteContact(team.owner, org, randomUUID()), 404, 'NOT_FOUND');
      expectValidation(await deleteContact(team.owner, org, 'not-a-uuid'), 'id');
    });

    it('answers 409 CONTACT_HAS_DEALS naming the number of deals, keeps the contact, and deletes it once the deals are gone', async () => {
      const contact = await createContact(team.owner, org, { name: 'Has deals' });
      const first = await insertDeal(org, contact.id, team.owner.userId, 'One');
      let res = await deleteContact(team.owner, org, contact.id);
      expectError(res, 409, 'CONTACT_HAS_DEALS');
      expect((res.body as { message: string }).message).toMatch(/\b1 deal\b/);

      await insertDeal(org, contact.id, team.member.userId, 'Two');
      res = await deleteContact(team.admin, org, contact.id);
      expectError(res, 409, 'CONTACT_HAS_DEALS');
      expect((res.body as { message: string }).message).toMatch(/\b2 deals\b/);

      for (let n = 0; n < 3; n += 1)
        await insertDeal(org, contact.id, team.owner.userId, `More ${n}`);
      res = await deleteContact(team.manager, org, contact.id);
      expectError(res, 409, 'CONTACT_HAS_DEALS');
      expect((res.body as { message: string }).message).toMatch(/\b5 deals\b/);
      expect((await getContact(team.owner, org, contact.id)).status).toBe(200);

      await t.db.query('DELETE FROM deals WHERE contact_id = $1', [contact.id]);
      expect(first).toMatch(UUID);
      await deleteContact(team.owner, org, contact.id).expect(204);
      expect(await dbContact(contact.id)).toBeNull();
    });

    it("answers a member 409 CONTACT_HAS_DEALS for their own contact with deals, but 404 for another's", async () => {
      const own = await createContact(team.member, org, { name: 'Own with deal' });
      await insertDeal(org, own.id, team.member.userId);
      expectError(await deleteContact(team.member, org, own.id), 409, 'CONTACT_HAS_DEALS');
      const other = await createContact(team.member2, org, { name: 'Other with deal' });
      await insertDeal(org, other.id, team.member2.userId);
      expectError(await deleteContact(team.member, org, other.id), 404, 'NOT_FOUND');
    });
  });

  // ---------------------------------------------------------------- GET /contacts

  describe('GET /contacts', () => {
    let team: Team & { member2: Session };
    let org: string;
    /** Every contact of the organization, in the default order (createdAt desc, id desc). */
    let all: ContactBody[];
    const TIE = '2031-01-01T00:00:00.000Z';

    const createdDesc = (a: ContactBody, b: ContactBody): number =>
      byCodeUnit(b.createdAt, a.createdAt) || byCodeUnit(b.id, a.id);
    const nameAsc = (a: ContactBody, b: ContactBody): number =>
      byCodeUnit(a.name, b.name) || byCodeUnit(a.id, b.id);

    beforeAll(async () => {
      team = await createTeamWithTwoMembers();
      org = team.organizationId;
      const specs: [Session, string][] = [
        [team.owner, 'Alpha'],
        [team.owner, 'Same'],
        [team.owner, 'Charlie'],
        [team.admin, 'Same'],
        [team.admin, 'Delta'],
        [team.manager, 'Same'],
        [team.manager, 'Bravo'],
        [team.member, 'Same'],
        [team.member, 'Echo'],
        [team.member, 'Foxtrot'],
        [team.member2, 'Same'],
        [team.member2, 'Golf'],
      ];
      const created: ContactBody[] = [];
      for (const [s, name] of specs) created.push(await createContact(s, org, { name }));
      // Distinct, well-separated creation times, plus four rows sharing one instant (ties).
      for (const [i, c] of created.entries()) {
        const at = c.name === 'Same' ? TIE : new Date(Date.UTC(2030, 0, 1, 0, 0, i)).toISOString();
        await t.db.query('UPDATE contacts SET created_at = $2 WHERE id = $1', [c.id, at]);
      }
      all = [];
      for (const c of created)
        all.push((await getContact(team.owner, org, c.id)).body as ContactBody);
      all.sort(createdDesc);
      // noise in another organization
      await createContact(team.outsider, team.outsider.organizationId, { name: 'Same' });
    });

    it('answers {items, total, page, pageSize} with Contact items, newest first (ties by id), by default', async () => {
      const body = await page(team.owner, org);
      expect(body.total).toBe(12);
      expect(body.page).toBe(1);
      expect(body.pageSize).toBe(20);
      expect(idsOf(body.items)).toEqual(idsOf(all));
      for (const item of body.items) expectContact(item, { organizationId: org });
      expect(body.items).toEqual(all);
    });

    it.each(MANAGING_ROLES)('shows the %s every contact of the organization', async (role) => {
      const body = await page(team[role], org);
      expect(body.total).toBe(12);
      expect(idsOf(body.items)).toEqual(idsOf(all));
    });

    it('shows a member only their own contacts, and total counts only theirs', async () => {
      const mine = all.filter((c) => c.ownerId === team.member.userId);
      expect(mine).toHaveLength(3);
      const body = await page(team.member, org);
      expect(body.total).toBe(3);
      expect(idsOf(body.items)).toEqual(idsOf(mine));
      const second = await page(team.member2, org, '?pageSize=1&page=2');
      expect(second.total).toBe(2);
      expect(second.items).toHaveLength(1);
      expect(second.items[0].ownerId).toBe(team.member2.userId);
    });

    it('filters by ownerId', async () => {
      for (const s of [team.owner, team.admin, team.manager, team.member, team.member2]) {
        const expected = all.filter((c) => c.ownerId === s.userId);
        const body = await page(team.manager, org, `?ownerId=${s.userId}`);
        expect(body.total).toBe(expected.length);
        expect(idsOf(body.items)).toEqual(idsOf(expected));
      }
      const none = await page(team.owner, org, `?ownerId=${team.outsider.userId}`);
      expect(none).toEqual({ items: [], total: 0, page: 1, pageSize: 20 });
    });

    it("combines ownerId with a member's visibility: another owner's id gives an empty list", async () => {
      expect(await page(team.member, org, `?ownerId=${team.owner.userId}`)).toEqual({
        items: [],
        total: 0,
        page: 1,
        pageSize: 20,
      });
      const own = await page(team.member, org, `?ownerId=${team.member.userId}`);
      expect(own.total).toBe(3);
    });

    it('orders by createdAt ascending (ties by id ascending)', async () => {
      const body = await page(team.owner, org, '?orderBy=createdAt&order=asc');
      expect(idsOf(body.items)).toEqual(idsOf([...all].reverse()));
    });

    it('orders by name ascending and descending, ties broken by id', async () => {
      const asc = [...all].sort(nameAsc);
      expect(asc.map((c) => c.name).slice(0, 3)).toEqual(['Alpha', 'Bravo', 'Charlie']);
      const up = await page(team.owner, org, '?orderBy=name&order=asc');
      expect(idsOf(up.items)).toEqual(idsOf(asc));
      const down = await page(team.owner, org, '?orderBy=name&order=desc');
      expect(idsOf(down.items)).toEqual(idsOf([...asc].reverse()));
      // default order is desc
      const byName = await page(team.owner, org, '?orderBy=name');
      expect(idsOf(byName.items)).toEqual(idsOf([...asc].reverse()));
    });

    it.each([
      ['orderBy=name&order=asc', (list: ContactBody[]) => [...list].sort(nameAsc)],
      ['orderBy=name&order=desc', (list: ContactBody[]) => [...list].sort(nameAsc).reverse()],
      ['orderBy=createdAt&order=desc', (list: ContactBody[]) => [...list].sort(createdDesc)],
      [
        'orderBy=createdAt&order=asc',
        (list: ContactBody[]) => [...list].sort(createdDesc).reverse(),
      ],
    ])('pages with pageSize=1 through %s without repeats or gaps', async (query, expected) => {
      const seen: string[] = [];
      for (let n = 1; n <= 12; n += 1) {
        const body = await page(team.owner, org, `?${query}&pageSize=1&page=${n}`);
        expect(body.total).toBe(12);
        expect(body.items).toHaveLength(1);
        seen.push(body.items[0].id);
      }
      expect(seen).toEqual(idsOf(expected(all)));
      const beyond = await page(team.owner, org, `?${query}&pageSize=1&page=13`);
      expect(beyond).toEqual({ items: [], total: 12, page: 13, pageSize: 1 });
    });

    it('pages with pageSize=5: 5, 5, 2 and the echo of page and pageSize', async () => {
      const pages = [];
      for (let n = 1; n <= 3; n += 1)
        pages.push(await page(team.owner, org, `?page=${n}&pageSize=5`));
      expect(pages.map((p) => [p.page, p.pageSize, p.total, p.items.length])).toEqual([
        [1, 5, 12, 5],
        [2, 5, 12, 5],
        [3, 5, 12, 2],
      ]);
      expect(pages.flatMap((p) => idsOf(p.items))).toEqual(idsOf(all));
    });

    it('accepts the bounds page=1, pageSize=1 and pageSize=100', async () => {
      expect((await page(team.owner, org, '?page=1&pageSize=1')).items).toHaveLength(1);
      // The last page there is: empty, far past the end.
      expect((await page(team.owner, org, '?page=1000000000&pageSize=100')).items).toEqual([]);
      const hundred = await page(team.owner, org, '?pageSize=100');
      expect(hundred.pageSize).toBe(100);
      expect(hundred.items).toHaveLength(12);
    });

    it.each([
      ['page=0', 'page'],
      ['page=-1', 'page'],
      ['page=abc', 'page'],
      ['page=1.5', 'page'],
      // Past the highest page (its offset would overflow PostgreSQL's bigint: once a 500).
      ['page=1000000001', 'page'],
      ['page=99999999999999999999', 'page'],
      ['pageSize=0', 'pageSize'],
      ['pageSize=101', 'pageSize'],
      ['pageSize=abc', 'pageSize'],
      ['order=sideways', 'order'],
      ['orderBy=email', 'orderBy'],
      ['orderBy=updatedAt', 'orderBy'],
      ['orderBy=owner_id', 'orderBy'],
      ['ownerId=not-a-uuid', 'ownerId'],
      [`search=${'s'.repeat(201)}`, 'search'],
      ['foo=bar', 'foo'],
      ['organizationId=00000000-0000-4000-8000-000000000000', 'organizationId'],
      ['search=a&search=b', 'search'],
      [
        'ownerId=00000000-0000-4000-8000-000000000000&ownerId=00000000-0000-4000-8000-000000000001',
        'ownerId',
      ],
      ['page=1&page=2', 'page'],
      ['orderBy=name&orderBy=createdAt', 'orderBy'],
      ['search=a%00b', 'search'],
    ])('answers 400 VALIDATION_FAILED for ?%s', async (query, field) => {
      expectValidation(await listContacts(team.owner, org, `?${query}`), field);
    });

    it('accepts ownerId in upper case', async () => {
      const body = await page(team.owner, org, `?ownerId=${team.member.userId.toUpperCase()}`);
      expect(body.total).toBe(3);
    });

    describe('keyset pagination (limit, cursor)', () => {
      it('walks every contact once with limit=2, in the same order as offset pages, without total', async () => {
        const { ids, pages } = await walk(team.owner, org, 'limit=2');
        expect(pages.map((p) => p.items.length)).toEqual([2, 2, 2, 2, 2, 2]);
        expect(pages.slice(0, 5).every((p) => typeof p.nextCursor === 'string')).toBe(true);
        expect(pages[5].nextCursor).toBeNull();
        expect(ids).toEqual(idsOf(all));
        for (const p of pages)
          for (const item of p.items) expectContact(item, { organizationId: org });
      });

      it.each([
        ['orderBy=name&order=asc', (list: ContactBody[]) => [...list].sort(nameAsc)],
        ['orderBy=name&order=desc', (list: ContactBody[]) => [...list].sort(nameAsc).reverse()],
        [
          'orderBy=createdAt&order=asc',
          (list: ContactBody[]) => [...list].sort(createdDesc).reverse(),
        ],
      ])('walks %s with limit=1 across ties without repeats or gaps', async (query, expected) => {
        const { ids, pages } = await walk(team.owner, org, `${query}&limit=1`);
        expect(pages).toHaveLength(12);
        expect(ids).toEqual(idsOf(expected(all)));
        const offset = await page(team.owner, org, `?${query}&pageSize=100`);
        expect(ids).toEqual(idsOf(offset.items));
      });

      it('defaults limit to 20 when only a cursor is given, and a first page with limit=20 has no next cursor', async () => {
        const first = await listContacts(team.owner, org, '?limit=20');
        expect(first.status).toBe(200);
        expect(first.body).toEqual({ items: all, nextCursor: null });
        const start = (await listContacts(team.owner, org, '?limit=1')).body as CursorBody;
        const rest = await listContacts(
          team.owner,
          org,
          `?cursor=${encodeURIComponent(start.nextCursor!)}`,
        );
        expect(rest.status).toBe(200);
        expect(idsOf((rest.body as CursorBody).items)).toEqual(idsOf(all.slice(1)));
        expect((rest.body as CursorBody).nextCursor).toBeNull();
      });

      it("walks only a member's own contacts", async () => {
        const { ids } = await walk(team.member, org, 'limit=1');
        expect(ids).toEqual(idsOf(all.filter((c) => c.ownerId === team.member.userId)));
      });

      it('walks with the ownerId filter', async () => {
        const { ids } = await walk(team.owner, org, `limit=1&ownerId=${team.admin.userId}`);
        expect(ids).toEqual(idsOf(all.filter((c) => c.ownerId === team.admin.userId)));
      });

      it.each([
        ['limit=2&page=1', 'limit'],
        ['limit=2&pageSize=5', 'limit'],
        ['limit=2&page=1&pageSize=5', 'limit'],
        ['cursor=abc&page=2', 'cursor'],
        ['cursor=abc&pageSize=2', 'cursor'],
        ['limit=0', 'limit'],
        ['limit=101', 'limit'],
        ['limit=abc', 'limit'],
        ['limit=1.5', 'limit'],
        ['cursor=not-a-cursor', 'cursor'],
      ])('answers 400 VALIDATION_FAILED for ?%s', async (query, field) => {
        expectValidation(await listContacts(team.owner, org, `?${query}`), field);
      });

      it('refuses a tampered cursor with 400 on the cursor field', async () => {
        const first = (await listContacts(team.owner, org, '?limit=2')).body as CursorBody;
        const cursor = first.nextCursor!;
        const [body, signature] = cursor.split('.');
        const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<
          string,
          unknown
        >;
        const forged = `${Buffer.from(JSON.stringify({ ...payload, id: all[5].id })).toString('base64url')}.${signature}`;
        for (const bad of [
          forged,
          `${body}.${signature.slice(1)}x`,
          `${cursor}.extra`,
          body,
          `${body.slice(0, -2)}.${signature}`,
        ]) {
          expectValidation(
            await listContacts(team.owner, org, `?limit=2&cursor=${encodeURIComponent(bad)}`),
            'cursor',
          );
        }
        // the untouched cursor still works
        const next = await listContacts(
          team.owner,
          org,
          `?limit=2&cursor=${encodeURIComponent(cursor)}`,
        );
        expect(idsOf((next.body as CursorBody).items)).toEqual(idsOf(all.slice(2, 4)));
      });

      it('refuses a cursor of another filter, ordering, visibility, organization or endpoint', async () => {
        const cursorOf = async (
          s: Session,
          organizationId: string,
          query: string,
        ): Promise<string> => {
          const res = await listContacts(s, organizationId, query);
          expect(res.status).toBe(200);
          return (res.body as CursorBody).nextCursor!;
        };
        const bySearch = await cursorOf(team.owner, org, '?limit=1&search=same');
        const plain = await cursorOf(team.owner, org, '?limit=1');
        const byOwner = await cursorOf(team.owner, org, `?limit=1&ownerId=${team.member.userId}`);
        const mine = await cursorOf(team.member, org, '?limit=1');
        const cases: [Session, string, string][] = [
          [team.owner, '?limit=1&search=alpha', bySearch],
          [team.owner, '?limit=1&search=same%20x', bySearch],
          [team.owner, '?limit=1', bySearch],
          [team.owner, '?limit=1&search=same', plain],
          [team.owner, `?limit=1&ownerId=${team.member.userId}`, plain],
          [team.owner, `?limit=1&ownerId=${team.member2.userId}`, byOwner],
          [team.owner, '?limit=1', byOwner],
          [team.owner, '?limit=1&orderBy=name', plain],
          [team.owner, '?limit=1&order=asc', plain],
          [team.member, '?limit=1', plain],
          [team.member2, '?limit=1', mine],
          [team.owner, '?limit=1', mine],
        ];
        for (const [s, query, cursor] of cases) {
          expectValidation(
            await listContacts(s, org, `${query}&cursor=${encodeURIComponent(cursor)}`),
            'cursor',
          );
        }
        // another organization, same caller
        const res = await t
          .http()
          .post(`${API}/organizations`)
          .set(as(team.owner))
          .send({ name: 'Second' });
        expect(res.status).toBe(201);
        expectValidation(
          await listContacts(
            team.owner,
            (res.body as { id: string }).id,
            `?limit=1&cursor=${encodeURIComponent(plain)}`,
          ),
          'cursor',
        );
        // another endpoint's cursor (organization members)
        const members = await t
          .http()
          .get(`${API}/organizations/current/members?limit=1`)
          .set(as(team.owner, org));
        expect(members.status).toBe(200);
        const memberCursor = (members.body as { nextCursor: string }).nextCursor;
        expectValidation(
          await listContacts(
            team.owner,
            org,
            `?limit=1&cursor=${encodeURIComponent(memberCursor)}`,
          ),
          'cursor',
        );
      });
    });
  });

  // ---------------------------------------------------------------- search

  describe('GET /contacts?search=', () => {
    let team: Team;
    let org: string;
    let grace: ContactBody;
    let ada: ContactBody;
    let alan: ContactBody;
    let other: ContactBody;

    beforeAll(async () => {
      team = await createTeam(t);
      org = team.organizationId;
      grace = await createContact(team.owner, org, {
        name: 'Grace Hopper',
        email: 'grace@navy.example',
      });
      ada = await createContact(team.admin, org, {
        name: 'Ada Lovelace',
        email: 'ada@engines.example',
        phone: '+44 20 7946 0958',
      });
      alan = await createContact(team.member, org, { name: 'Alan Turing' });
      other = await createContact(team.manager, org, {
        name: 'Margaret Hamilton',
        email: 'mh@apollo.example',
        phone: '555-0199',
      });
      // the same people in another organization must never show up
      for (const name of ['Grace Hopper', 'Ada Lovelace', 'Alan Turing']) {
        await createContact(team.outsider, team.outsider.organizationId, {
          name,
          email: `${name.split(' ')[0].toLowerCase()}@navy.example`,
          phone: '+44 20 7946 0958',
        });
      }
    });

    const search = async (s: Session, query: string, extra = ''): Promise<string[]> => {
      const body = await page(s, org, `?search=${encodeURIComponent(query)}${extra}`);
      expect(body.total).toBe(body.items.length);
      for (const item of body.items) expect(item.organizationId).toBe(org);
      return idsOf(body.items).sort();
    };
    const people = (): Record<string, ContactBody> => ({ grace, ada, alan, other });

    it.each([
      ['grace', ['grace']],
      ['hopper grace', ['grace']],
      ['Grace Hopper', ['grace']],
      ['GRA hop', ['grace']],
      ['gRaCe', ['grace']],
      ['opp', ['grace']],
      ['navy', ['grace']],
      ['grace@navy.example', ['grace']],
      ['NAVY.EXAMPLE', ['grace']],
      ['7946', ['ada']],
      ['+44', ['ada']],
      ['20 7946 0958', ['ada']],
      ['0958 ada', ['ada']],
      ['lace', ['ada']],
      ['ENGINES', ['ada']],
      ['ada lovelace engines 7946', ['ada']],
      ['turing', ['alan']],
      ['  alan   turing  ', ['alan']],
      ['grace ada', []],
      ['zzz', []],
      ['hopper turing', []],
      ['a', ['ada', 'alan', 'grace', 'other']],
      ['al', ['alan']],
      ['example', ['ada', 'grace', 'other']],
      ['555', ['other']],
      ['-0199', ['other']],
      ['ing', ['alan']],
    ])('search=%j finds %j', async (query, names) => {
      const expected = names.map((n) => people()[n].id).sort();
      expect(await search(team.owner, query)).toEqual(expected);
    });

    it('matches words of 1-2 characters anywhere (no trigram), alone or with longer words', async () => {
      expect(await search(team.owner, 'h@')).toEqual([other.id]); // email only: mh@apollo
      expect(await search(team.owner, '0 ada')).toEqual([ada.id]);
      expect(await search(team.owner, 'ov EL')).toEqual([ada.id]);
      expect(await search(team.owner, 'y.')).toEqual([grace.id]); // navy.example
      expect(await search(team.owner, 'qz')).toEqual([]);
      for (const query of ['a%', '_a', '%0', '\\a', '.%']) {
        expect({ query, found: await search(team.owner, query) }).toEqual({ query, found: [] });
      }
    });

    it('matches a word found only in the email or only in the phone', async () => {
      expect(await search(team.owner, 'apollo')).toEqual([other.id]);
      expect(await search(team.owner, 'pollo 0199')).toEqual([other.id]);
      expect(await search(team.owner, 'engines lovelace')).toEqual([ada.id]);
    });

    it('follows a changed name, email or phone (the stored search text)', async () => {
      const c = await createContact(team.owner, org, {
        name: 'Quentin Quux',
        email: 'qq@before.example',
        phone: '111-2222',
      });
      expect(await search(team.owner, 'quux before 2222')).toEqual([c.id]);
      const res = await putContact(team.owner, org, c.id, {
        name: 'Quentin Xyzzy',
        email: 'qq@after.example',
      });
      expect(res.status).toBe(200);
      expect(await search(team.owner, 'quux')).toEqual([]);
      expect(await search(team.owner, 'before')).toEqual([]);
      expect(await search(team.owner, '2222')).toEqual([]);
      expect(await search(team.owner, 'xyzzy after')).toEqual([c.id]);
      await deleteContact(team.owner, org, c.id).expect(204);
    });

    it('treats an empty or blank search as no filter', async () => {
      const everyone = Object.values(people())
        .map((c) => c.id)
        .sort();
      expect(await search(team.owner, '')).toEqual(everyone);
      expect(await search(team.owner, '   ')).toEqual(everyone);
    });

    it('treats LIKE wildcards and the escape character literally', async () => {
      for (const query of ['%', '_', '\\', '%%', 'a%', '_race', 'gr_ce', 'gr%ce', '\\%']) {
        expect({ query, found: await search(team.owner, query) }).toEqual({ query, found: [] });
      }
      const percent = await createContact(team.owner, org, { name: 'Save 100% now' });
      const underscore = await createContact(team.owner, org, { name: 'snake_case Person' });
      const backslash = await createContact(team.owner, org, { name: 'Back\\slash Co' });
      expect(await search(team.owner, '%')).toEqual([percent.id]);
      expect(await search(team.owner, '100%')).toEqual([percent.id]);
      expect(await search(team.owner, '_')).toEqual([underscore.id]);
      expect(await search(team.owner, 'e_c')).toEqual([underscore.id]);
      expect(await search(team.owner, '\\')).toEqual([backslash.id]);
      expect(await search(team.owner, 'k\\s')).toEqual([backslash.id]);
      for (const c of [percent, underscore, backslash])
        await deleteContact(team.owner, org, c.id).expect(204);
    });

    it('matches non-ASCII letters case-insensitively', async () => {
      const zoe = await createContact(team.owner, org, { name: 'Zoë Ørsted-Ångström' });
      expect(await search(team.owner, 'ørsted')).toEqual([zoe.id]);
      expect(await search(team.owner, 'ZOË ÅNGSTRÖM')).toEqual([zoe.id]);
      await deleteContact(team.owner, org, zoe.id).expect(204);
    });

    it('combines search with ownerId', async () => {
      expect(await search(team.owner, 'a', `&ownerId=${team.admin.userId}`)).toEqual([ada.id]);
      expect(await search(team.owner, 'grace', `&ownerId=${team.admin.userId}`)).toEqual([]);
      expect(await search(team.manager, 'example', `&ownerId=${team.owner.userId}`)).toEqual([
        grace.id,
      ]);
    });

    it("combines search with a member's visibility", async () => {
      expect(await search(team.member, 'a')).toEqual([alan.id]);
      expect(await search(team.member, 'turing')).toEqual([alan.id]);
      expect(await search(team.member, 'grace')).toEqual([]);
      expect(await search(team.member, 'navy')).toEqual([]);
      expect(await search(team.member, 'a', `&ownerId=${team.owner.userId}`)).toEqual([]);
    });

    it('combines search with ordering, offset and keyset pages', async () => {
      const byName = await page(team.owner, org, '?search=a&orderBy=name&order=asc&pageSize=2');
      expect(byName.total).toBe(4);
      expect(byName.items.map((c) => c.name)).toEqual(['Ada Lovelace', 'Alan Turing']);
      const { ids } = await walk(team.owner, org, 'search=a&orderBy=name&order=asc&limit=1');
      expect(ids).toEqual([ada.id, alan.id, grace.id, other.id]);
      const example = await walk(team.owner, org, 'search=example&limit=2');
      expect([...example.ids].sort()).toEqual([ada.id, grace.id, other.id].sort());
    });
  });

  // ---------------------------------------------------------------- companyId (API.md section 11)

  describe('companyId (API.md section 11)', () => {
    let team: Team & { member2: Session };
    let org: string;
    /** One company per role (owned by that role), and one in the outsider's organization. */
    const companies: Partial<Record<RoleName | 'member2', string>> = {};
    let otherOrgCompany: string;

    const createCompany = async (
      s: Session,
      organizationId: string,
      name: string,
    ): Promise<string> => {
      const res = await t.http().post(COMPANIES).set(as(s, organizationId)).send({ name });
      expect(res.status).toBe(201);
      return (res.body as { id: string }).id;
    };
    const companyOf = async (contactId: string): Promise<string | null> => {
      const rows: { company_id: string | null }[] = await t.db.query(
        'SELECT company_id FROM contacts WHERE id = $1',
        [contactId],
      );
      return rows[0].company_id;
    };

    beforeAll(async () => {
      team = await createTeamWithTwoMembers();
      org = team.organizationId;
      for (const role of [...ROLES, 'member2'] as const) {
        companies[role] = await createCompany(team[role], org, `Company of ${role}`);
      }
      otherOrgCompany = await createCompany(
        team.outsider,
        team.outsider.organizationId,
        'Elsewhere Ltd',
      );
    });

    describe('POST /contacts', () => {
      it.each(ROLES)(
        'lets the %s link a new contact to its own company; Contact and GET show companyId',
        async (role) => {
          const contact = await createContact(team[role], org, {
            name: `Linked by ${role}`,
            companyId: companies[role],
          });
          expectContact(contact, {
            organizationId: org,
            ownerId: team[role].userId,
            name: `Linked by ${role}`,
            companyId: companies[role],
          });
          expect(await companyOf(contact.id)).toBe(companies[role]);
          expect((await getContact(team[role], org, contact.id)).body).toEqual(contact);
        },
      );

      it.each(MANAGING_ROLES)(
        "lets the %s link to any company of the organization, also a member's",
        async (role) => {
          for (const target of ['owner', 'member', 'member2'] as const) {
            const contact = await createContact(team[role], org, {
              name: 'Any company',
              companyId: companies[target],
            });
            expect(contact.companyId).toBe(companies[target]);
          }
        },
      );

      it('accepts null and absence (no company), and an upper-case id (answered in lower case)', async () => {
        expect((await createContact(team.owner, org, { name: 'None' })).companyId).toBeNull();
        expect(
          (await createContact(team.owner, org, { name: 'Null', companyId: null })).companyId,
        ).toBeNull();
        const upper = await createContact(team.owner, org, {
          name: 'Upper',
          companyId: companies.owner!.toUpperCase(),
        });
        expect(upper.companyId).toBe(companies.owner);
        expect(await companyOf(upper.id)).toBe(companies.owner);
      });

      it("answers 404 NOT_FOUND to a member linking another member's or the owner's company, and writes nothing", async () => {
        const before = await dbContactCount();
        for (const target of ['owner', 'manager', 'member2'] as const) {
          expectError(
            await postContact(team.member, org, { name: 'Sneaky', companyId: companies[target] }),
            404,
            'NOT_FOUND',
          );
        }
        expect(await dbContactCount()).toBe(before);
      });

      it.each(ROLES)(
        "answers 404 NOT_FOUND to the %s for another organization's company or an unknown id",
        async (role) => {
          const before = await dbContactCount();
          for (const companyId of [otherOrgCompany, randomUUID()]) {
            expectError(
              await postContact(team[role], org, { name: 'Cross', companyId }),
              404,
              'NOT_FOUND',
            );
          }
          expect(await dbContactCount()).toBe(before);
        },
      );

      it("answers 404 even to the other organization's owner acting in their own organization with our company", async () => {
        expectError(
          await postContact(team.outsider, team.outsider.organizationId, {
            name: 'Reverse',
            companyId: companies.owner,
          }),
          404,
          'NOT_FOUND',
        );
      });

      it.each([
        ['not a UUID', 'acme'],
        ['a number', 42],
        ['an object', { id: randomUUID() }],
        ['an empty string', ''],
      ])('answers 400 VALIDATION_FAILED (companyId) for %s', async (_label, companyId) => {
        expectValidation(
          await postContact(team.owner, org, { name: 'Bad', companyId }),
          'companyId',
        );
      });

      it('precedence: 400 before 404, 404 (company) before 403, 409 and 422', async () => {
        await createContact(team.owner, org, { name: 'Holder', email: 'held@company.example' });
        // validation before visibility
        expectValidation(
          await postContact(team.member, org, { name: '', companyId: companies.owner }),
          'name',
        );
        // the company's visibility before the member's ownerId rule (403)
        expectError(
          await postContact(team.member, org, {
            name: 'X',
            companyId: companies.owner,
            ownerId: team.owner.userId,
          }),
          404,
          'NOT_FOUND',
        );
        // ... before the email conflict (409) and the owner rule (422)
        expectError(
          await postContact(team.owner, org, {
            name: 'X',
            email: 'held@company.example',
            ownerId: randomUUID(),
            companyId: otherOrgCompany,
          }),
          404,
          'NOT_FOUND',
        );
        // a visible company lets the later rules decide
        expectError(
          await postContact(team.member, org, {
            name: 'X',
            companyId: companies.member,
            ownerId: team.owner.userId,
          }),
          403,
          'FORBIDDEN',
        );
        expectError(
          await postContact(team.owner, org, {
            name: 'X',
            email: 'held@company.example',
            companyId: companies.owner,
            ownerId: randomUUID(),
          }),
          409,
          'CONTACT_EMAIL_TAKEN',
        );
        expectError(
          await postContact(team.owner, org, {
            name: 'X',
            companyId: companies.owner,
            ownerId: team.outsider.userId,
          }),
          422,
          'INVALID_OWNER',
        );
      });

      it('lets a company linked by a manager show up for a member who owns the contact (companyId of a company they cannot see)', async () => {
        const contact = await createContact(team.manager, org, {
          name: 'Handed over with company',
          ownerId: team.member.userId,
          companyId: companies.manager,
        });
        const read = await getContact(team.member, org, contact.id);
        expect(read.status).toBe(200);
        expect((read.body as ContactBody).companyId).toBe(companies.manager);
        expectError(
          await t.http().get(`${COMPANIES}/${companies.manager}`).set(as(team.member, org)),
          404,
          'NOT_FOUND',
        );
      });
    });

    describe('PUT /contacts/{id}', () => {
      it('sets, changes and (full replace) clears companyId', async () => {
        const contact = await createContact(team.admin, org, { name: 'Mover' });
        let res = await putContact(team.admin, org, contact.id, {
          name: 'Mover',
          companyId: companies.admin,
        });
        expect(res.status).toBe(200);
        expectContact(res.body, {
          id: contact.id,
          name: 'Mover',
          ownerId: team.admin.userId,
          organizationId: org,
          companyId: companies.admin,
          createdAt: contact.createdAt,
        });
        res = await putContact(team.admin, org, contact.id, {
          name: 'Mover',
          companyId: companies.member,
        });
        expect((res.body as ContactBody).companyId).toBe(companies.member);
        expect(await companyOf(contact.id)).toBe(companies.member);
        // absent = null (PUT is a full replace)
        res = await putContact(team.admin, org, contact.id, { name: 'Mover' });
        expect(res.status).toBe(200);
        expect((res.body as ContactBody).companyId).toBeNull();
        expect(await companyOf(contact.id)).toBeNull();
        await putContact(team.admin, org, contact.id, {
          name: 'Mover',
          companyId: companies.admin,
        }).expect(200);
        res = await putContact(team.admin, org, contact.id, { name: 'Mover', companyId: null });
        expect((res.body as ContactBody).companyId).toBeNull();
        expect((await getContact(team.admin, org, contact.id)).body).toEqual(res.body);
      });

      it('answers 404 NOT_FOUND to a member moving their contact to a company they cannot see, and changes nothing', async () => {
        const contact = await createContact(team.member, org, {
          name: 'Mine',
          companyId: companies.member,
        });
        for (const companyId of [
          companies.owner,
          companies.member2,
          otherOrgCompany,
          randomUUID(),
        ]) {
          expectError(
            await putContact(team.member, org, contact.id, { name: 'Moved', companyId }),
            404,
            'NOT_FOUND',
          );
        }
        expect(await dbContact(contact.id)).toEqual(expect.objectContaining({ name: 'Mine' }));
        expect(await companyOf(contact.id)).toBe(companies.member);
      });

      it.each(MANAGING_ROLES)(
        "answers 404 NOT_FOUND to the %s for another organization's company, changing nothing",
        async (role) => {
          const contact = await createContact(team.owner, org, {
            name: 'Stays',
            companyId: companies.owner,
          });
          expectError(
            await putContact(team[role], org, contact.id, {
              name: 'Moved',
              companyId: otherOrgCompany,
            }),
            404,
            'NOT_FOUND',
          );
          expect(await companyOf(contact.id)).toBe(companies.owner);
        },
      );

      it('lets a member keep a company a manager linked (an unchanged companyId is not re-checked), or drop it', async () => {
        const contact = await createContact(team.manager, org, {
          name: 'Linked for member',
          ownerId: team.member.userId,
          companyId: companies.manager,
        });
        const kept = await putContact(team.member, org, contact.id, {
          name: 'Renamed',
          companyId: companies.manager,
        });
        expect(kept.status).toBe(200);
        expect(kept.body).toEqual(
          expect.objectContaining({ name: 'Renamed', companyId: companies.manager }),
        );
        const dropped = await putContact(team.member, org, contact.id, { name: 'Renamed' });
        expect((dropped.body as ContactBody).companyId).toBeNull();
        // once dropped, it cannot be linked back by the member
        expectError(
          await putContact(team.member, org, contact.id, {
            name: 'Renamed',
            companyId: companies.manager,
          }),
          404,
          'NOT_FOUND',
        );
      });

      it('precedence on PUT: the contact 404, then the company 404 before 403/409/422', async () => {
        const theirs = await createContact(team.owner, org, { name: 'Not for member' });
        expectError(
          await putContact(team.member, org, theirs.id, {
            name: 'x',
            companyId: companies.member,
          }),
          404,
          'NOT_FOUND',
        );
        await createContact(team.owner, org, {
          name: 'Has mail',
          email: 'put-held@company.example',
        });
        const own = await createContact(team.member, org, { name: 'Own' });
        expectError(
          await putContact(team.member, org, own.id, {
            name: 'x',
            companyId: companies.owner,
            ownerId: team.owner.userId,
            email: 'put-held@company.example',
          }),
          404,
          'NOT_FOUND',
        );
        expectError(
          await putContact(team.member, org, own.id, {
            name: 'x',
            companyId: companies.member,
            ownerId: team.owner.userId,
          }),
          403,
          'FORBIDDEN',
        );
        expectValidation(
          await putContact(team.member, org, own.id, { name: 'x', companyId: 'nope' }),
          'companyId',
        );
        expect(await dbContact(own.id)).toEqual(expect.objectContaining({ name: 'Own' }));
      });
    });

    describe('GET /contacts?companyId=', () => {
      let linked: ContactBody[];
      /** Fresh companies (earlier tests linked contacts to the per-role ones). */
      let target: string;
      let ownersCompany: string;
      beforeAll(async () => {
        target = await createCompany(team.member, org, 'Filter target');
        ownersCompany = await createCompany(team.owner, org, 'Filter other target');
        linked = [];
        // the owner links contacts of several owners to the member's company
        for (const [s, n] of [
          [team.owner, 1],
          [team.member, 2],
          [team.member, 3],
          [team.member2, 4],
        ] as const) {
          linked.push(
            await createContact(team.owner, org, {
              name: `Filter ${n}`,
              ownerId: s.userId,
              companyId: target,
            }),
          );
        }
        // a member's contact of another company, and one without a company
        await createContact(team.owner, org, {
          name: 'Filter other',
          ownerId: team.member.userId,
          companyId: ownersCompany,
        });
        await createContact(team.member, org, { name: 'Filter none' });
      });

      const withCompany = (companyId: string): ContactBody[] =>
        linked.filter((c) => c.companyId === companyId);

      it.each(MANAGING_ROLES)(
        'shows the %s every contact of the company, and only those',
        async (role) => {
          const ids = await allVisible(team[role], org, `&companyId=${target}`);
          expect(ids.sort()).toEqual(idsOf(withCompany(target)).sort());
          const body = await page(team[role], org, `?companyId=${target}&search=filter`);
          expect(body.total).toBe(4);
          for (const item of body.items) expect(item.companyId).toBe(target);
        },
      );

      it('shows a member only their own contacts of the company', async () => {
        const ids = await allVisible(team.member, org, `&companyId=${target}`);
        expect(ids.sort()).toEqual(
          idsOf(linked.filter((c) => c.ownerId === team.member.userId)).sort(),
        );
        // a company they cannot see: only their own contacts linked to it
        const owners = await page(team.member, org, `?companyId=${ownersCompany}`);
        expect(owners.items.every((c) => c.ownerId === team.member.userId)).toBe(true);
      });

      it('combines with ownerId and search; unknown or foreign companies give an empty list', async () => {
        const body = await page(
          team.owner,
          org,
          `?companyId=${target}&ownerId=${team.member.userId}&search=filter%203`,
        );
        expect(idsOf(body.items)).toEqual([linked[2].id]);
        for (const companyId of [randomUUID(), otherOrgCompany]) {
          expect(await page(team.owner, org, `?companyId=${companyId}`)).toEqual({
            items: [],
            total: 0,
            page: 1,
            pageSize: 20,
          });
        }
        const upper = await page(team.owner, org, `?companyId=${target.toUpperCase()}`);
        expect(upper.total).toBe(4);
      });

      it('walks keyset pages with the filter, and binds the cursor to it', async () => {
        const { ids } = await walk(team.owner, org, `limit=1&companyId=${target}`);
        expect(ids).toEqual(
          idsOf(
            [...withCompany(target)].sort(
              (a, b) => byCodeUnit(b.createdAt, a.createdAt) || byCodeUnit(b.id, a.id),
            ),
          ),
        );
        const first = await listContacts(team.owner, org, `?limit=1&companyId=${target}`);
        const cursor = encodeURIComponent((first.body as CursorBody).nextCursor!);
        for (const query of ['?limit=1', `?limit=1&companyId=${ownersCompany}`]) {
          expectValidation(
            await listContacts(team.owner, org, `${query}&cursor=${cursor}`),
            'cursor',
          );
        }
        const plain = await listContacts(team.owner, org, '?limit=1');
        expectValidation(
          await listContacts(
            team.owner,
            org,
            `?limit=1&companyId=${target}&cursor=${encodeURIComponent((plain.body as CursorBody).nextCursor!)}`,
          ),
          'cursor',
        );
      });

      it.each([
        ['companyId=acme', 'companyId'],
        [`companyId=${randomUUID()}&companyId=${randomUUID()}`, 'companyId'],
      ])('answers 400 VALIDATION_FAILED for ?%s', async (query, field) => {
        expectValidation(await listContacts(team.owner, org, `?${query}`), field);
      });
    });
  });

  // ---------------------------------------------------------------- cross-organization isolation

  describe('cross-organization isolation', () => {
    let team: Team;
    let org: string;
    let orgB: string;
    /** Admin in org B, manager in org A. */
    let both: Session;
    let inB: ContactBody;
    let inBOwnedByBoth: ContactBody;
    let inA: ContactBody;

    beforeAll(async () => {
      team = await createTeam(t);
      org = team.organizationId;
      orgB = team.outsider.organizationId;
      both = await register(t, 'both');
      await addMember(team.outsider, orgB, both, 'admin');
      await addMember(team.owner, org, both, 'manager');
      inA = await createContact(team.owner, org, { name: 'Isolated A', email: 'a@iso.example' });
      inB = await createContact(team.outsider, orgB, {
        name: 'Isolated B',
        email: 'b@iso.example',
        phone: '+1 555 0100',
      });
      inBOwnedByBoth = await createContact(both, orgB, { name: 'Isolated B two' });
    });

    const untouched = async (): Promise<void> => {
      expect(await dbContact(inB.id)).toEqual({
        id: inB.id,
        organization_id: orgB,
        owner_id: team.outsider.userId,
        name: 'Isolated B',
        email: 'b@iso.example',
        phone: '+1 555 0100',
      });
      expect((await dbContact(inBOwnedByBoth.id))?.organization_id).toBe(orgB);
    };

    it.each(ROLES)(
      'GET /contacts/{id of org B} in org A as the %s -> 404 NOT_FOUND',
      async (role) => {
        expectError(await getContact(team[role], org, inB.id), 404, 'NOT_FOUND');
      },
    );

    it.each(ROLES)(
      'PUT /contacts/{id of org B} in org A as the %s -> 404 NOT_FOUND; B is untouched',
      async (role) => {
        expectError(
          await putContact(team[role], org, inB.id, { name: 'Hijacked' }),
          404,
          'NOT_FOUND',
        );
        expectError(
          await putContact(team[role], org, inB.id, {
            name: 'Hijacked',
            ownerId: team[role].userId,
          }),
          404,
          'NOT_FOUND',
        );
        await untouched();
      },
    );

    it.each(ROLES)(
      'DELETE /contacts/{id of org B} in org A as the %s -> 404 NOT_FOUND; B is untouched',
      async (role) => {
        expectError(await deleteContact(team[role], org, inB.id), 404, 'NOT_FOUND');
        await untouched();
      },
    );

    it('a user in both organizations reaches a contact only under its own organization header', async () => {
      expect((await getContact(both, orgB, inB.id)).status).toBe(200);
      // even a contact they own in B is invisible under A's header
      for (const id of [inB.id, inBOwnedByBoth.id]) {
        expectError(await getContact(both, org, id), 404, 'NOT_FOUND');
        expectError(await putContact(both, org, id, { name: 'Via A' }), 404, 'NOT_FOUND');
        expectError(await deleteContact(both, org, id), 404, 'NOT_FOUND');
      }
      await untouched();
      expect((await getContact(both, org, inA.id)).status).toBe(200);
      expectError(await getContact(both, orgB, inA.id), 404, 'NOT_FOUND');
      expectError(await getContact(team.outsider, orgB, inA.id), 404, 'NOT_FOUND');
    });

    it("org A's list, with and without search, never contains org B's contacts, even for the owner", async () => {
      for (const s of [team.owner, team.admin, team.manager, team.member, both]) {
        for (const query of [
          '',
          '&search=isolated',
          '&search=iso.example',
          '&search=b',
          `&ownerId=${both.userId}`,
        ]) {
          const ids = await allVisible(s, org, query);
          expect(ids).not.toContain(inB.id);
          expect(ids).not.toContain(inBOwnedByBoth.id);
        }
        const keyset = await walk(s, org, 'limit=1&search=isolated');
        expect(keyset.ids).not.toContain(inB.id);
        expect(keyset.ids).not.toContain(inBOwnedByBoth.id);
      }
      expect(await allVisible(team.owner, org)).toEqual([inA.id]);
      expect((await page(team.owner, org, '?search=isolated')).total).toBe(1);
      expect(await allVisible(both, org, `&ownerId=${both.userId}`)).toEqual([]);
      // and B's list does not contain A's
      expect((await allVisible(team.outsider, orgB)).sort()).toEqual(
        [inB.id, inBOwnedByBoth.id].sort(),
      );
    });

    it('refuses ownerId of a user who is only in org B with 422 INVALID_OWNER', async () => {
      expectError(
        await postContact(team.owner, org, { name: 'To B', ownerId: team.outsider.userId }),
        422,
        'INVALID_OWNER',
      );
      expectError(
        await putContact(team.owner, org, inA.id, {
          name: 'Isolated A',
          email: 'a@iso.example',
          ownerId: team.outsider.userId,
        }),
        422,
        'INVALID_OWNER',
      );
      expect((await dbContact(inA.id))?.owner_id).toBe(team.owner.userId);
    });
  });

  // ---------------------------------------------------------------- tenant guard and precedence

  describe('authentication, organization header and membership (precedence)', () => {
    let team: Team;
    let org: string;
    let contact: ContactBody;

    beforeAll(async () => {
      team = await createTeam(t);
      org = team.organizationId;
      contact = await createContact(team.owner, org, {
        name: 'Guarded',
        email: 'guarded@x.example',
      });
    });

    const routes: {
      label: string;
      call: (headers: Record<string, string>, bad?: boolean) => Test;
    }[] = [
      {
        label: 'GET /contacts',
        call: (h, bad) =>
          t
            .http()
            .get(`${CONTACTS}${bad ? '?page=0&foo=1' : ''}`)
            .set(h),
      },
      {
        label: 'POST /contacts',
        call: (h, bad) =>
          t
            .http()
            .post(CONTACTS)
            .set(h)
            .send(bad ? { name: '', phone: 'x', bogus: 1 } : { name: 'Guarded new' }),
      },
      {
        label: 'GET /contacts/{id}',
        call: (h, bad) =>
          t
            .http()
            .get(`${CONTACTS}/${bad ? 'nope' : contact.id}`)
            .set(h),
      },
      {
        label: 'PUT /contacts/{id}',
        call: (h, bad) =>
          t
            .http()
            .put(`${CONTACTS}/${bad ? 'nope' : contact.id}`)
            .set(h)
            .send(bad ? { name: null } : { name: 'Guarded changed' }),
      },
      {
        label: 'DELETE /contacts/{id}',
        call: (h, bad) =>
          t
            .http()
            .delete(`${CONTACTS}/${bad ? 'nope' : contact.id}`)
            .set(h),
      },
    ];

    const expectUntouched = async (): Promise<void> => {
      expect(await dbContact(contact.id)).toEqual(
        expect.objectContaining({ name: 'Guarded', email: 'guarded@x.example' }),
      );
      const rows: { n: number }[] = await t.db.query(
        'SELECT count(*)::int AS n FROM contacts WHERE organization_id = $1',
        [org],
      );
      expect(rows[0].n).toBe(1);
    };

    it.each(routes)(
      '$label without a token -> 401 UNAUTHENTICATED, even with a bad header or input',
      async ({ call }) => {
        expectError(await call({}), 401, 'UNAUTHENTICATED');
        expectError(await call({}, true), 401, 'UNAUTHENTICATED');
        expectError(await call({ 'x-organization-id': org }, true), 401, 'UNAUTHENTICATED');
        expectError(
          await call({ 'x-organization-id': 'not-a-uuid' }, true),
          401,
          'UNAUTHENTICATED',
        );
        expectError(
          await call({ authorization: 'Bearer not.a.jwt', 'x-organization-id': org }, true),
          401,
          'UNAUTHENTICATED',
        );
        expectError(
          await call({
            authorization: `Bearer ${team.owner.refreshToken}`,
            'x-organization-id': org,
          }),
          401,
          'UNAUTHENTICATED',
        );
        await expectUntouched();
      },
    );

    it.each(routes)(
      '$label without X-Organization-Id -> 400 INVALID_ORGANIZATION_HEADER, even with bad input',
      async ({ call }) => {
        expectError(await call(as(team.owner)), 400, 'INVALID_ORGANIZATION_HEADER');
        expectError(await call(as(team.owner), true), 400, 'INVALID_ORGANIZATION_HEADER');
        for (const value of ['not-a-uuid', `${org}x`]) {
          expectError(
            await call({ ...as(team.owner), 'x-organization-id': value }, true),
            400,
            'INVALID_ORGANIZATION_HEADER',
          );
        }
        await expectUntouched();
      },
    );

    it.each(routes)(
      '$label in an organization the caller is not a member of -> 403 NOT_A_MEMBER, even with bad input',
      async ({ call }) => {
        expectError(await call(as(team.outsider, org)), 403, 'NOT_A_MEMBER');
        expectError(await call(as(team.outsider, org), true), 403, 'NOT_A_MEMBER');
        expectError(await call(as(team.owner, team.outsider.organizationId)), 403, 'NOT_A_MEMBER');
        expectError(await call(as(team.owner, randomUUID()), true), 403, 'NOT_A_MEMBER');
        await expectUntouched();
      },
    );

    it.each(routes)(
      '$label by a member with bad input -> 400 VALIDATION_FAILED',
      async ({ call }) => {
        expectError(await call(as(team.member, org), true), 400, 'VALIDATION_FAILED');
        await expectUntouched();
      },
    );

    it('accepts the organization id in upper case', async () => {
      const res = await getContact(team.owner, org.toUpperCase(), contact.id);
      expect(res.status).toBe(200);
      expect((res.body as ContactBody).organizationId).toBe(org);
    });
  });

  // ---------------------------------------------------------------- query cost

  describe('query cost of a list page (no N+1)', () => {
    let owner: Session;
    let member: Session;

    beforeAll(async () => {
      owner = await register(t, 'cost', 'Cost Org');
      member = await register(t, 'cost-member');
      await addMember(owner, owner.organizationId, member, 'member');
      await t.db.query(
        `INSERT INTO contacts (organization_id, owner_id, name, email, phone, created_at)
         SELECT $1, CASE WHEN n % 2 = 0 THEN $2::uuid ELSE $3::uuid END, 'Bulk ' || n,
                'bulk' || n || '@cost.example', '+1 555 ' || lpad(n::text, 4, '0'),
                now() - n * interval '1 second'
           FROM generate_series(1, 50) AS n`,
        [owner.organizationId, owner.userId, member.userId],
      );
    });

    /** The SQL statements sent while `run` runs (background polls aside). */
    async function countQueries(run: () => Promise<unknown>): Promise<string[]> {
      await consumersIdle(t.db);
      const recorded = recordStatements();
      try {
        await run();
        return recorded.statements();
      } finally {
        recorded.restore();
      }
    }

    it.each([
      ['the owner', () => owner, 50],
      ['a member', () => member, 25],
    ])(
      'costs %s the same small number of queries for 5 and for 50 rows (offset and keyset)',
      async (_label, who, total) => {
        const s = who();
        const list = async (query: string, expectedItems: number): Promise<void> => {
          const res = await listContacts(s, owner.organizationId, query);
          expect(res.status).toBe(200);
          expect((res.body as { items: unknown[] }).items).toHaveLength(expectedItems);
        };
        // The consumers' work of the setup (a notification clears the cached totals) is done first.
        await consumersIdle(t.db);
        await list('?pageSize=5', 5); // warm-up (membership cache)
        const small = await countQueries(() => list('?pageSize=5', 5));
        const large = await countQueries(() => list('?pageSize=50', total));
        // The rows; the total was counted by the warm-up and comes from the cache.
        expect(small.length).toBeLessThanOrEqual(3);
        expect(small.filter((sql) => /\bcontacts\b/.test(sql))).toHaveLength(1);
        expect(large).toHaveLength(small.length); // (prints the statements when it fails)
        // A search's first page also sizes its matches once (decision 0032); then it is known.
        await list('?limit=5&search=bulk', 5);
        const smallKeyset = await countQueries(() => list('?limit=5&search=bulk', 5));
        const largeKeyset = await countQueries(() => list('?limit=50&search=bulk', total));
        expect(smallKeyset.length).toBeLessThanOrEqual(3);
        expect(smallKeyset.some((sql) => /\bcontacts\b/.test(sql))).toBe(true);
        expect(largeKeyset.length).toBe(smallKeyset.length);
      },
    );
  });
});
