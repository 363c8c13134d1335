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
import { expectValidation, ISO_TIMESTAMP, keysOf, resource, UUID } from './support/resource';
import { createTestApp, type TestApp } from './support/test-app';

/*
 * Companies (API.md section 11) under the roles and visibility rules of section 4, the list
 * conventions of section 1 (offset and keyset pages) and the error precedence order; the
 * company's contacts, and what deleting a company does to them.
 */

const API = '/api/v1';
const COMPANIES = `${API}/companies`;
const CONTACTS = `${API}/contacts`;
const ROLES = ['owner', 'admin', 'manager', 'member'] as const;
const MANAGING_ROLES = ['owner', 'admin', 'manager'] as const;

const COMPANY_KEYS = [
  'address',
  'createdAt',
  'domain',
  'id',
  'industry',
  'name',
  'organizationId',
  'ownerId',
  'phone',
  'socialProfiles',
  'updatedAt',
];
const ADDRESS_KEYS = ['city', 'country', 'line1', 'line2', 'postalCode', 'region'];
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

interface AddressBody {
  line1: string | null;
  line2: string | null;
  city: string | null;
  region: string | null;
  postalCode: string | null;
  country: string | null;
}
interface CompanyBody {
  id: string;
  organizationId: string;
  ownerId: string;
  name: string;
  domain: string | null;
  industry: string | null;
  phone: string | null;
  address: AddressBody | null;
  socialProfiles: { network: string; url: string }[];
  createdAt: string;
  updatedAt: string;
}
interface ContactBody {
  id: string;
  organizationId: string;
  ownerId: string;
  companyId: string | null;
  name: string;
  email: string | null;
  phone: string | null;
  createdAt: string;
  updatedAt: string;
}
interface PageBody<T = CompanyBody> {
  items: T[];
  total: number;
  page: number;
  pageSize: number;
}
interface CursorBody<T = CompanyBody> {
  items: T[];
  nextCursor: string | null;
}
type Body = Record<string, unknown>;

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const idsOf = (items: { id: string }[]): string[] => items.map((c) => c.id);
const EMPTY_PAGE = { items: [], total: 0, page: 1, pageSize: 20 };
const NO_ADDRESS: AddressBody = {
  line1: null,
  line2: null,
  city: null,
  region: null,
  postalCode: null,
  country: null,
};

/** Asserts the exact Company shape of API.md section 11. */
function expectCompany(value: unknown, expected: Partial<CompanyBody>): void {
  expect(keysOf(value)).toEqual(COMPANY_KEYS);
  const address = (value as CompanyBody).address;
  if (address !== null) expect(keysOf(address)).toEqual(ADDRESS_KEYS);
  expect(value).toEqual({
    id: expect.stringMatching(UUID),
    organizationId: expect.stringMatching(UUID),
    ownerId: expect.stringMatching(UUID),
    name: expect.any(String),
    domain: null,
    industry: null,
    phone: null,
    address: null,
    socialProfiles: [],
    createdAt: expect.stringMatching(ISO_TIMESTAMP),
    updatedAt: expect.stringMatching(ISO_TIMESTAMP),
    ...expected,
  });
}

describe('Companies (API.md sections 4 and 11)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  // ---------------------------------------------------------------- helpers

  const companies = resource(() => t, COMPANIES);
  const postCompany = companies.post;
  const getCompany = companies.get;
  const patchCompany = companies.patch;
  const deleteCompany = companies.remove;
  const listCompanies = companies.list;
  const listCompanyContacts = (s: Session, organizationId: string, id: string, query = ''): Test =>
    t.http().get(`${COMPANIES}/${id}/contacts${query}`).set(as(s, organizationId));

  async function createCompany(
    s: Session,
    organizationId: string,
    body: Body,
  ): Promise<CompanyBody> {
    const res = await postCompany(s, organizationId, body);
    expect({ status: res.status, body: res.body as unknown }).toEqual({
      status: 201,
      body: expect.anything(),
    });
    return res.body as CompanyBody;
  }

  async function createContact(
    s: Session,
    organizationId: string,
    body: Body,
  ): Promise<ContactBody> {
    const res = await t.http().post(CONTACTS).set(as(s, organizationId)).send(body);
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

  /** Offset page of GET /companies as `s`; asserts 200 and the page shape. */
  async function page(s: Session, organizationId: string, query = ''): Promise<PageBody> {
    const res = await listCompanies(s, organizationId, query);
    expect({ status: res.status, body: res.body as unknown }).toEqual({
      status: 200,
      body: expect.anything(),
    });
    expect(keysOf(res.body)).toEqual(PAGE_KEYS);
    return res.body as PageBody;
  }

  /** Every company `s` sees (walks offset pages of 100). */
  async function allVisible(s: Session, organizationId: string, query = ''): Promise<string[]> {
    const ids: string[] = [];
    for (let n = 1; n <= 20; n += 1) {
      const body = await page(s, organizationId, `?pageSize=100&page=${n}${query}`);
      ids.push(...idsOf(body.items));
      if (body.items.length < 100) break;
    }
    return ids;
  }

  /** Walks keyset pages of `path` from the first one; asserts 200 and the cursor page shape. */
  async function walkPath<T extends { id: string }>(
    s: Session,
    organizationId: string,
    path: string,
    query: string,
  ): Promise<{ ids: string[]; pages: CursorBody<T>[] }> {
    const pages: CursorBody<T>[] = [];
    let cursor: string | null = null;
    do {
      const suffix: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const res = await t.http().get(`${path}?${query}${suffix}`).set(as(s, organizationId));
      expect(res.status).toBe(200);
      expect(keysOf(res.body)).toEqual(CURSOR_PAGE_KEYS);
      const body = res.body as CursorBody<T>;
      pages.push(body);
      cursor = body.nextCursor;
    } while (cursor && pages.length < 60);
    return { ids: pages.flatMap((p) => idsOf(p.items)), pages };
  }
  const walk = (
    s: Session,
    organizationId: string,
    query: string,
  ): Promise<{ ids: string[]; pages: CursorBody[] }> =>
    walkPath<CompanyBody>(s, organizationId, COMPANIES, query);

  async function dbCompany(id: string): Promise<Record<string, unknown> | null> {
    const rows: Record<string, unknown>[] = await t.db.query(
      `SELECT id, organization_id, owner_id, name, domain, industry, phone, address, social_profiles
         FROM companies WHERE id = $1`,
      [id],
    );
    return rows[0] ?? null;
  }

  async function dbCompanyCount(): Promise<number> {
    const rows: { n: number }[] = await t.db.query('SELECT count(*)::int AS n FROM companies');
    return rows[0].n;
  }

  async function dbContactCompany(contactId: string): Promise<string | null | undefined> {
    const rows: { company_id: string | null }[] = await t.db.query(
      'SELECT company_id FROM contacts WHERE id = $1',
      [contactId],
    );
    return rows[0]?.company_id;
  }

  /** A team plus a second member (`member2`) in the team's organization. */
  async function createTeamWithTwoMembers(): Promise<Team & { member2: Session }> {
    const team = await createTeam(t);
    const member2 = await register(t, 'member2');
    await addMember(team.owner, team.organizationId, member2, 'member');
    return { ...team, member2 };
  }

  // ---------------------------------------------------------------- POST /companies

  describe('POST /companies', () => {
    let team: Team & { member2: Session };
    let org: string;
    beforeAll(async () => {
      team = await createTeamWithTwoMembers();
      org = team.organizationId;
    });

    it.each(ROLES)(
      'answers 201 with exactly the Company shape to the %s; ownerId defaults to the caller, optional fields null, socialProfiles []',
      async (role) => {
        const res = await postCompany(team[role], org, { name: `Made by ${role}` });
        expect(res.status).toBe(201);
        const company = res.body as CompanyBody;
        expectCompany(company, {
          organizationId: org,
          ownerId: team[role].userId,
          name: `Made by ${role}`,
        });
        expect(company.updatedAt).toBe(company.createdAt);
        expect(await dbCompany(company.id)).toEqual({
          id: company.id,
          organization_id: org,
          owner_id: team[role].userId,
          name: `Made by ${role}`,
          domain: null,
          industry: null,
          phone: null,
          address: null,
          social_profiles: [],
        });
        const read = await getCompany(team[role], org, company.id);
        expect(read.status).toBe(200);
        expect(read.body).toEqual(company);
      },
    );

    it('stores and answers every field: trimmed, domain lower-cased, country upper-cased, the full address shape', async () => {
      const company = await createCompany(team.owner, org, {
        name: '  Acme Corporation  ',
        domain: '  WWW.Acme-Corp.EXAMPLE ',
        industry: ' Manufacturing ',
        phone: ' +1 (555) 010-2030 ',
        address: {
          line1: ' 1 Main Street ',
          city: 'Springfield',
          postalCode: '62701',
          country: 'us',
        },
        socialProfiles: [
          { network: 'website', url: 'https://acme-corp.example' },
          { network: 'linkedin', url: ' https://www.linkedin.com/company/acme ' },
          { network: 'twitter', url: 'https://twitter.com/acme' },
          { network: 'facebook', url: 'https://facebook.com/acme?ref=1#top' },
          { network: 'github', url: 'https://github.com/acme' },
        ],
      });
      expectCompany(company, {
        organizationId: org,
        ownerId: team.owner.userId,
        name: 'Acme Corporation',
        domain: 'www.acme-corp.example',
        industry: 'Manufacturing',
        phone: '+1 (555) 010-2030',
        address: {
          ...NO_ADDRESS,
          line1: '1 Main Street',
          city: 'Springfield',
          postalCode: '62701',
          country: 'US',
        },
        socialProfiles: [
          { network: 'website', url: 'https://acme-corp.example' },
          { network: 'linkedin', url: 'https://www.linkedin.com/company/acme' },
          { network: 'twitter', url: 'https://twitter.com/acme' },
          { network: 'facebook', url: 'https://facebook.com/acme?ref=1#top' },
          { network: 'github', url: 'https://github.com/acme' },
        ],
      });
      expect((await getCompany(team.owner, org, company.id)).body).toEqual(company);
      expect(await dbCompany(company.id)).toEqual(
        expect.objectContaining({
          domain: 'www.acme-corp.example',
          address: {
            line1: '1 Main Street',
            city: 'Springfield',
            postalCode: '62701',
            country: 'US',
          },
        }),
      );
    });

    it('accepts explicit nulls for the nullable fields, null address parts, and an empty address', async () => {
      const nulls = await createCompany(team.manager, org, {
        name: 'Nulls',
        domain: null,
        industry: null,
        phone: null,
        address: null,
      });
      expectCompany(nulls, { name: 'Nulls', ownerId: team.manager.userId, organizationId: org });
      const parts = await createCompany(team.manager, org, {
        name: 'Null parts',
        address: { line1: null, city: 'Paris', country: null },
      });
      expect(parts.address).toEqual({ ...NO_ADDRESS, city: 'Paris' });
      const empty = await createCompany(team.manager, org, { name: 'Empty address', address: {} });
      expect(empty.address).toEqual(NO_ADDRESS);
      const all = await createCompany(team.manager, org, {
        name: 'Full address',
        address: {
          line1: 'l'.repeat(200),
          line2: 'Floor 2',
          city: 'c'.repeat(100),
          region: 'r'.repeat(100),
          postalCode: 'p'.repeat(20),
          country: 'De',
        },
      });
      expect(all.address).toEqual({
        line1: 'l'.repeat(200),
        line2: 'Floor 2',
        city: 'c'.repeat(100),
        region: 'r'.repeat(100),
        postalCode: 'p'.repeat(20),
        country: 'DE',
      });
    });

    it('accepts 20 social profiles, several per network, in the given order', async () => {
      const profiles = Array.from({ length: 20 }, (_, i) => ({
        network: 'website',
        url: `https://site${i}.example/path`,
      }));
      const company = await createCompany(team.owner, org, {
        name: 'Many profiles',
        socialProfiles: profiles,
      });
      expect(company.socialProfiles).toEqual(profiles);
    });

    it.each(MANAGING_ROLES)(
      'lets the %s set ownerId to another member; that member then sees the company',
      async (role) => {
        const company = await createCompany(team[role], org, {
          name: `For member from ${role}`,
          ownerId: team.member.userId,
        });
        expect(company.ownerId).toBe(team.member.userId);
        expect((await dbCompany(company.id))?.owner_id).toBe(team.member.userId);
        const read = await getCompany(team.member, org, company.id);
        expect(read.status).toBe(200);
        expect(read.body).toEqual(company);
      },
    );

    it('lets a member set ownerId to themselves (also in upper case)', async () => {
      const company = await createCompany(team.member, org, {
        name: 'Mine explicitly',
        ownerId: team.member.userId.toUpperCase(),
      });
      expect(company.ownerId).toBe(team.member.userId);
    });

    it('answers 403 FORBIDDEN to a member setting ownerId to someone else, and writes nothing', async () => {
      const before = await dbCompanyCount();
      for (const ownerId of [
        team.member2.userId,
        team.owner.userId,
        team.outsider.userId,
        randomUUID(),
      ]) {
        expectError(
          await postCompany(team.member, org, { name: 'Not mine', ownerId }),
          403,
          'FORBIDDEN',
        );
      }
      expect(await dbCompanyCount()).toBe(before);
    });

    it.each(MANAGING_ROLES)(
      'answers 422 INVALID_OWNER to the %s for an ownerId that is not a member, and writes nothing',
      async (role) => {
        const before = await dbCompanyCount();
        for (const ownerId of [team.outsider.userId, randomUUID()]) {
          expectError(
            await postCompany(team[role], org, { name: 'Nobody', ownerId }),
            422,
            'INVALID_OWNER',
          );
        }
        expect(await dbCompanyCount()).toBe(before);
      },
    );

    describe('domain', () => {
      it('answers 409 COMPANY_DOMAIN_TAKEN for a domain already used in the organization, to every role, and writes nothing', async () => {
        await createCompany(team.owner, org, { name: 'First', domain: 'dup.example' });
        const before = await dbCompanyCount();
        for (const s of [team.owner, team.admin, team.manager, team.member]) {
          expectError(
            await postCompany(s, org, { name: 'Second', domain: 'dup.example' }),
            409,
            'COMPANY_DOMAIN_TAKEN',
          );
        }
        expect(await dbCompanyCount()).toBe(before);
      });

      it('compares domains case-insensitively (stored lower-cased), both ways', async () => {
        const upper = await createCompany(team.admin, org, {
          name: 'Upper',
          domain: 'UPPER.Example',
        });
        expect(upper.domain).toBe('upper.example');
        const before = await dbCompanyCount();
        for (const domain of ['upper.example', 'UPPER.EXAMPLE', ' Upper.example ']) {
          expectError(
            await postCompany(team.manager, org, { name: 'Again', domain }),
            409,
            'COMPANY_DOMAIN_TAKEN',
          );
        }
        expect(await dbCompanyCount()).toBe(before);
      });

      it('lets exactly one of several concurrent creates with the same domain win (the others 409)', async () => {
        const responses = await Promise.all(
          ['race.example', 'RACE.example', 'Race.Example', 'race.EXAMPLE'].map((domain, i) =>
            postCompany(i % 2 ? team.admin : team.owner, org, { name: 'Race', domain }),
          ),
        );
        expect(responses.map((r) => r.status).sort()).toEqual([201, 409, 409, 409]);
        for (const r of responses.filter((r) => r.status === 409))
          expectError(r, 409, 'COMPANY_DOMAIN_TAKEN');
        const rows: { n: number }[] = await t.db.query(
          `SELECT count(*)::int AS n FROM companies WHERE organization_id = $1 AND domain = 'race.example'`,
          [org],
        );
        expect(rows[0].n).toBe(1);
      });

      it('allows the same domain in another organization', async () => {
        const mine = await createCompany(team.owner, org, {
          name: 'Here',
          domain: 'shared.example',
        });
        const theirs = await createCompany(team.outsider, team.outsider.organizationId, {
          name: 'There',
          domain: 'SHARED.example',
        });
        expect(theirs.domain).toBe('shared.example');
        expect(theirs.organizationId).toBe(team.outsider.organizationId);
        expect(theirs.id).not.toBe(mine.id);
      });

      it('allows any number of companies without a domain', async () => {
        const a = await createCompany(team.owner, org, { name: 'No domain A' });
        const b = await createCompany(team.owner, org, { name: 'No domain B', domain: null });
        expect([a.domain, b.domain]).toEqual([null, null]);
      });

      it.each([
        'acme.example',
        'sub.domain.acme.example',
        'a-b.example',
        'xn--bcher-kva.example',
        'bücher.example',
        '123.example',
        `${'a'.repeat(63)}.example`,
        `${'a.'.repeat(123)}example`, // 253 characters
      ])('accepts the domain %j', async (domain) => {
        const company = await createCompany(team.manager, org, { name: 'Domain ok', domain });
        expect(company.domain).toBe(domain);
      });

      it('answers 409 (state rule) before 422 INVALID_OWNER, and 403 before 409', async () => {
        await createCompany(team.owner, org, { name: 'Taken', domain: 'order.example' });
        expectError(
          await postCompany(team.owner, org, {
            name: 'Both wrong',
            domain: 'order.example',
            ownerId: randomUUID(),
          }),
          409,
          'COMPANY_DOMAIN_TAKEN',
        );
        expectError(
          await postCompany(team.member, org, {
            name: 'Both wrong',
            domain: 'ORDER.example',
            ownerId: team.owner.userId,
          }),
          403,
          'FORBIDDEN',
        );
      });
    });

    describe('validation', () => {
      it.each([
        ['missing name', { domain: 'nameless.example' }, 'name'],
        ['empty name', { name: '' }, 'name'],
        ['blank name', { name: '   ' }, 'name'],
        ['201-character name', { name: 'n'.repeat(201) }, 'name'],
        ['name not a string', { name: 42 }, 'name'],
        ['name null', { name: null }, 'name'],
        ['domain with a scheme', { name: 'X', domain: 'https://acme.example' }, 'domain'],
        ['domain with a path', { name: 'X', domain: 'acme.example/about' }, 'domain'],
        ['domain without a TLD', { name: 'X', domain: 'localhost' }, 'domain'],
        ['domain with spaces', { name: 'X', domain: 'acme corp.example' }, 'domain'],
        ['domain with a trailing dot', { name: 'X', domain: 'acme.example.' }, 'domain'],
        ['domain with an empty label', { name: 'X', domain: 'acme..example' }, 'domain'],
        ['domain with a leading hyphen', { name: 'X', domain: '-acme.example' }, 'domain'],
        ['domain with an underscore', { name: 'X', domain: 'a_b.example' }, 'domain'],
        ['domain with a port', { name: 'X', domain: 'acme.example:443' }, 'domain'],
        ['domain that is an email', { name: 'X', domain: 'me@acme.example' }, 'domain'],
        [
          'domain with a 64-character label',
          { name: 'X', domain: `${'a'.repeat(64)}.example` },
          'domain',
        ],
        ['domain with a numeric TLD', { name: 'X', domain: '10.0.0.1' }, 'domain'],
        [
          'domain of 254 characters',
          { name: 'X', domain: `${'a.'.repeat(121)}example.test` },
          'domain',
        ],
        ['empty domain', { name: 'X', domain: '' }, 'domain'],
        ['domain not a string', { name: 'X', domain: 42 }, 'domain'],
        ['empty industry', { name: 'X', industry: ' ' }, 'industry'],
        ['101-character industry', { name: 'X', industry: 'i'.repeat(101) }, 'industry'],
        ['industry not a string', { name: 'X', industry: ['a'] }, 'industry'],
        ['phone with letters', { name: 'X', phone: 'abc12' }, 'phone'],
        ['phone too short', { name: 'X', phone: '1234' }, 'phone'],
        ['phone too long', { name: 'X', phone: '1'.repeat(33) }, 'phone'],
        ['phone with a plus inside', { name: 'X', phone: '12+34' }, 'phone'],
        ['phone a number', { name: 'X', phone: 1234567 }, 'phone'],
        [
          'address country "USA" (alpha-3)',
          { name: 'X', address: { country: 'USA' } },
          'address.country',
        ],
        [
          'address country "XX" (not assigned)',
          { name: 'X', address: { country: 'XX' } },
          'address.country',
        ],
        [
          'address country of one letter',
          { name: 'X', address: { country: 'U' } },
          'address.country',
        ],
        ['address country a number', { name: 'X', address: { country: 49 } }, 'address.country'],
        [
          'address with an unknown part',
          { name: 'X', address: { city: 'Oslo', street: 'x' } },
          'address.street',
        ],
        [
          'address line1 of 201 characters',
          { name: 'X', address: { line1: 'l'.repeat(201) } },
          'address.line1',
        ],
        [
          'address postalCode of 21 characters',
          { name: 'X', address: { postalCode: '1'.repeat(21) } },
          'address.postalCode',
        ],
        ['address city empty', { name: 'X', address: { city: '  ' } }, 'address.city'],
        ['address city a number', { name: 'X', address: { city: 7 } }, 'address.city'],
        ['address a string', { name: 'X', address: '1 Main Street' }, 'address'],
        ['address an array', { name: 'X', address: [{ city: 'Oslo' }] }, 'address'],
        ['address a number', { name: 'X', address: 5 }, 'address'],
        [
          'social profile with an http URL',
          { name: 'X', socialProfiles: [{ network: 'website', url: 'http://acme.example' }] },
          'socialProfiles.0.url',
        ],
        [
          'social profile with an ftp URL',
          { name: 'X', socialProfiles: [{ network: 'website', url: 'ftp://acme.example' }] },
          'socialProfiles.0.url',
        ],
        [
          'social profile with a URL without scheme',
          { name: 'X', socialProfiles: [{ network: 'website', url: 'acme.example' }] },
          'socialProfiles.0.url',
        ],
        [
          'social profile with a javascript: URL',
          { name: 'X', socialProfiles: [{ network: 'website', url: 'javascript:alert(1)' }] },
          'socialProfiles.0.url',
        ],
        [
          'social profile with a URL with credentials',
          { name: 'X', socialProfiles: [{ network: 'website', url: 'https://u:p@acme.example' }] },
          'socialProfiles.0.url',
        ],
        [
          'social profile with a URL over 2048 characters',
          {
            name: 'X',
            socialProfiles: [
              { network: 'website', url: `https://acme.example/${'p'.repeat(2030)}` },
            ],
          },
          'socialProfiles.0.url',
        ],
        [
          'social profile with an unknown network',
          { name: 'X', socialProfiles: [{ network: 'myspace', url: 'https://myspace.com/acme' }] },
          'socialProfiles.0.network',
        ],
        [
          'social profile with a network in upper case',
          { name: 'X', socialProfiles: [{ network: 'GitHub', url: 'https://github.com/acme' }] },
          'socialProfiles.0.network',
        ],
        [
          'social profile without url',
          { name: 'X', socialProfiles: [{ network: 'github' }] },
          'socialProfiles.0.url',
        ],
        [
          'social profile without network',
          { name: 'X', socialProfiles: [{ url: 'https://github.com/acme' }] },
          'socialProfiles.0.network',
        ],
        [
          'social profile with an extra property (second item)',
          {
            name: 'X',
            socialProfiles: [
              { network: 'github', url: 'https://github.com/acme' },
              { network: 'github', url: 'https://github.com/acme2', handle: 'acme2' },
            ],
          },
          'socialProfiles.1.handle',
        ],
        ['socialProfiles null', { name: 'X', socialProfiles: null }, 'socialProfiles'],
        [
          'socialProfiles an object',
          { name: 'X', socialProfiles: { network: 'github' } },
          'socialProfiles',
        ],
        [
          'socialProfiles a string',
          { name: 'X', socialProfiles: 'https://github.com/acme' },
          'socialProfiles',
        ],
        [
          'a social profile that is a string',
          { name: 'X', socialProfiles: ['https://github.com/acme'] },
          'socialProfiles',
        ],
        ['a social profile that is null', { name: 'X', socialProfiles: [null] }, 'socialProfiles'],
        [
          'a social profile that is an array',
          { name: 'X', socialProfiles: [[{ network: 'github', url: 'https://github.com/acme' }]] },
          'socialProfiles',
        ],
        [
          '21 social profiles',
          {
            name: 'X',
            socialProfiles: Array.from({ length: 21 }, (_, i) => ({
              network: 'website',
              url: `https://s${i}.example`,
            })),
          },
          'socialProfiles',
        ],
        ['ownerId not a UUID', { name: 'X', ownerId: 'me' }, 'ownerId'],
        ['ownerId null', { name: 'X', ownerId: null }, 'ownerId'],
        ['unknown property', { name: 'X', foo: 'bar' }, 'foo'],
        [
          'unknown property organizationId',
          { name: 'X', organizationId: randomUUID() },
          'organizationId',
        ],
        ['unknown property id', { name: 'X', id: randomUUID() }, 'id'],
        [
          'unknown property createdAt',
          { name: 'X', createdAt: '2020-01-01T00:00:00.000Z' },
          'createdAt',
        ],
        ['NUL in name', { name: 'Nul\u0000Co' }, 'name'],
        ['NUL in domain', { name: 'X', domain: 'nul\u0000.example' }, 'domain'],
        ['NUL in an address part', { name: 'X', address: { city: 'Nul\u0000' } }, 'address.city'],
        [
          'NUL in a social profile url',
          { name: 'X', socialProfiles: [{ network: 'github', url: 'https://github.com/\u0000' }] },
          'socialProfiles[0].url',
        ],
      ])('answers 400 VALIDATION_FAILED for %s and writes nothing', async (_label, body, field) => {
        const before = await dbCompanyCount();
        expectValidation(await postCompany(team.owner, org, body), field);
        expect(await dbCompanyCount()).toBe(before);
      });

      it('counts name length in characters: 200 emoji are fine, 201 are not', async () => {
        const emoji = '\u{1F600}'.repeat(200);
        expect((await createCompany(team.owner, org, { name: emoji })).name).toBe(emoji);
        expectValidation(
          await postCompany(team.owner, org, { name: '\u{1F600}'.repeat(201) }),
          'name',
        );
      });

      it('answers 400 VALIDATION_FAILED for malformed JSON and a non-object body, writing nothing', async () => {
        const before = await dbCompanyCount();
        expectError(
          await t
            .http()
            .post(COMPANIES)
            .set(as(team.owner, org))
            .set('content-type', 'application/json')
            .send('{"name": '),
          400,
          'VALIDATION_FAILED',
        );
        expectError(await postCompany(team.owner, org, []), 400, 'VALIDATION_FAILED');
        expect(await dbCompanyCount()).toBe(before);
      });

      it('answers 400 (validation) before 403, 409 and 422 (record rules)', async () => {
        await createCompany(team.owner, org, { name: 'Has it', domain: 'val-first.example' });
        const before = await dbCompanyCount();
        expectValidation(
          await postCompany(team.member, org, { name: '', ownerId: team.owner.userId }),
          'name',
        );
        expectValidation(
          await postCompany(team.owner, org, {
            name: 'x',
            domain: 'val-first.example',
            address: { country: 'USA' },
            ownerId: randomUUID(),
          }),
          'address.country',
        );
        expect(await dbCompanyCount()).toBe(before);
      });
    });
  });

  // ---------------------------------------------------------------- GET /companies/{id}

  describe('GET /companies/{id}', () => {
    let team: Team & { member2: Session };
    let org: string;
    const byRole: Partial<Record<RoleName | 'member2', CompanyBody>> = {};
    beforeAll(async () => {
      team = await createTeamWithTwoMembers();
      org = team.organizationId;
      for (const role of [...ROLES, 'member2'] as const) {
        byRole[role] = await createCompany(team[role], org, {
          name: `Owned by ${role}`,
          domain: `${role}.get.example`,
          address: { country: 'fr' },
        });
      }
    });

    it.each(MANAGING_ROLES)(
      'answers 200 to the %s for every company of the organization',
      async (role) => {
        for (const company of Object.values<CompanyBody>(byRole as Record<string, CompanyBody>)) {
          const res = await getCompany(team[role], org, company.id);
          expect(res.status).toBe(200);
          expectCompany(res.body, company);
        }
      },
    );

    it('answers 200 to a member for their own company', async () => {
      const res = await getCompany(team.member, org, byRole.member!.id);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(byRole.member);
    });

    it("answers 404 NOT_FOUND (never 403) to a member for another member's or a manager's company", async () => {
      for (const role of ['owner', 'admin', 'manager', 'member2'] as const) {
        expectError(await getCompany(team.member, org, byRole[role]!.id), 404, 'NOT_FOUND');
      }
      expectError(await getCompany(team.member2, org, byRole.member!.id), 404, 'NOT_FOUND');
    });

    it('answers 404 NOT_FOUND for an unknown id, the same as for an invisible one', async () => {
      const unknown = await getCompany(team.member, org, randomUUID());
      const invisible = await getCompany(team.member, org, byRole.owner!.id);
      expectError(unknown, 404, 'NOT_FOUND');
      expectError(invisible, 404, 'NOT_FOUND');
      expect((invisible.body as { message: string }).message).toBe(
        (unknown.body as { message: string }).message,
      );
    });

    it('answers 400 VALIDATION_FAILED when the id is not a UUID, and accepts an upper-case id', async () => {
      for (const id of ['not-a-uuid', '123', `${byRole.owner!.id}x`]) {
        expectValidation(await getCompany(team.owner, org, id), 'id');
      }
      const upper = await getCompany(team.owner, org, byRole.owner!.id.toUpperCase());
      expect(upper.status).toBe(200);
      expect((upper.body as CompanyBody).id).toBe(byRole.owner!.id);
    });
  });

  // ---------------------------------------------------------------- PATCH /companies/{id}

  describe('PATCH /companies/{id}', () => {
    let team: Team & { member2: Session };
    let org: string;
    beforeAll(async () => {
      team = await createTeamWithTwoMembers();
      org = team.organizationId;
    });

    const full = (name: string, domain: string): Body => ({
      name,
      domain,
      industry: 'Software',
      phone: '+1 555 0100',
      address: { line1: '1 Main Street', city: 'Springfield', country: 'US' },
      socialProfiles: [{ network: 'github', url: 'https://github.com/full' }],
    });

    it.each(ROLES)(
      'lets the %s change one field of a company it sees; every other field stays (200 Company)',
      async (role) => {
        const company = await createCompany(
          team[role],
          org,
          full('Before', `${role}.patch.example`),
        );
        const res = await patchCompany(team[role], org, company.id, { industry: 'Retail' });
        expect(res.status).toBe(200);
        expectCompany(res.body, {
          ...company,
          industry: 'Retail',
          updatedAt: expect.stringMatching(ISO_TIMESTAMP),
        });
        const updated = res.body as CompanyBody;
        expect(Date.parse(updated.updatedAt)).toBeGreaterThanOrEqual(Date.parse(company.updatedAt));
        expect((await getCompany(team[role], org, company.id)).body).toEqual(updated);
      },
    );

    it('changes every field at once, trimming and normalising as on create', async () => {
      const company = await createCompany(team.owner, org, full('All', 'all.patch.example'));
      const res = await patchCompany(team.owner, org, company.id, {
        name: ' All changed ',
        domain: ' ALL-CHANGED.patch.example ',
        industry: 'Retail',
        phone: '(030) 99-88.77',
        address: { city: 'Berlin', country: 'de' },
        socialProfiles: [
          { network: 'twitter', url: 'https://twitter.com/all' },
          { network: 'website', url: 'https://all.example' },
        ],
        ownerId: team.member.userId,
      });
      expect(res.status).toBe(200);
      expectCompany(res.body, {
        id: company.id,
        organizationId: org,
        ownerId: team.member.userId,
        name: 'All changed',
        domain: 'all-changed.patch.example',
        industry: 'Retail',
        phone: '(030) 99-88.77',
        address: { ...NO_ADDRESS, city: 'Berlin', country: 'DE' },
        socialProfiles: [
          { network: 'twitter', url: 'https://twitter.com/all' },
          { network: 'website', url: 'https://all.example' },
        ],
        createdAt: company.createdAt,
        updatedAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      expect((await getCompany(team.member, org, company.id)).body).toEqual(res.body);
    });

    it('clears domain, industry, phone and address with null, and socialProfiles with []', async () => {
      const company = await createCompany(team.admin, org, full('Clear', 'clear.patch.example'));
      const res = await patchCompany(team.admin, org, company.id, {
        domain: null,
        industry: null,
        phone: null,
        address: null,
        socialProfiles: [],
      });
      expect(res.status).toBe(200);
      expectCompany(res.body, {
        id: company.id,
        organizationId: org,
        ownerId: team.admin.userId,
        name: 'Clear',
        createdAt: company.createdAt,
        updatedAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      expect(await dbCompany(company.id)).toEqual(
        expect.objectContaining({
          domain: null,
          industry: null,
          phone: null,
          address: null,
          social_profiles: [],
        }),
      );
      // the freed domain is usable again
      await createCompany(team.owner, org, { name: 'Reuses', domain: 'clear.patch.example' });
    });

    it('replaces the address as a whole (parts not sent are not kept)', async () => {
      const company = await createCompany(
        team.owner,
        org,
        full('Address', 'address.patch.example'),
      );
      const res = await patchCompany(team.owner, org, company.id, { address: { city: 'Lyon' } });
      expect((res.body as CompanyBody).address).toEqual({ ...NO_ADDRESS, city: 'Lyon' });
      expect((await dbCompany(company.id))?.address).toEqual({ city: 'Lyon' });
    });

    it('answers 200 without writing anything for an empty body or unchanged values: updatedAt stays', async () => {
      const company = await createCompany(team.owner, org, full('Same', 'same.patch.example'));
      await new Promise((resolve) => setTimeout(resolve, 15));
      for (const body of [
        {},
        { name: 'Same' },
        {
          domain: 'SAME.patch.example',
          address: { line1: '1 Main Street', city: 'Springfield', country: 'us' },
        },
        { socialProfiles: [{ network: 'github', url: 'https://github.com/full' }] },
        { ownerId: team.owner.userId },
      ]) {
        const res = await patchCompany(team.owner, org, company.id, body);
        expect(res.status).toBe(200);
        expect(res.body).toEqual(company);
      }
    });

    it('updates updatedAt on a change and leaves createdAt alone', async () => {
      const company = await createCompany(team.owner, org, { name: 'Clock' });
      await new Promise((resolve) => setTimeout(resolve, 15));
      const res = await patchCompany(team.owner, org, company.id, { name: 'Clock 2' });
      expect(res.status).toBe(200);
      const updated = res.body as CompanyBody;
      expect(updated.createdAt).toBe(company.createdAt);
      expect(Date.parse(updated.updatedAt)).toBeGreaterThan(Date.parse(company.updatedAt));
    });

    it.each([
      ['name null', { name: null }, 'name'],
      ['empty name', { name: '' }, 'name'],
      ['201-character name', { name: 'n'.repeat(201) }, 'name'],
      ['socialProfiles null', { socialProfiles: null }, 'socialProfiles'],
      ['ownerId null', { ownerId: null }, 'ownerId'],
      ['ownerId not a UUID', { ownerId: 'someone' }, 'ownerId'],
      ['bad domain', { domain: 'not a domain' }, 'domain'],
      ['bad phone', { phone: '12+34' }, 'phone'],
      ['address country "USA"', { address: { country: 'USA' } }, 'address.country'],
      ['address with an unknown part', { address: { zip: '123' } }, 'address.zip'],
      [
        'social profile with an http URL',
        { socialProfiles: [{ network: 'github', url: 'http://github.com/x' }] },
        'socialProfiles.0.url',
      ],
      [
        'social profile with an unknown network',
        { socialProfiles: [{ network: 'mastodon', url: 'https://mastodon.social/@x' }] },
        'socialProfiles.0.network',
      ],
      [
        'social profile with an extra property',
        { socialProfiles: [{ network: 'github', url: 'https://github.com/x', extra: 1 }] },
        'socialProfiles.0.extra',
      ],
      ['unknown property', { foo: 1 }, 'foo'],
      ['unknown property organizationId', { organizationId: randomUUID() }, 'organizationId'],
      ['unknown property id', { id: randomUUID() }, 'id'],
    ])('answers 400 VALIDATION_FAILED for %s and changes nothing', async (_label, body, field) => {
      const company = await createCompany(
        team.owner,
        org,
        full('Valid', `v-${randomUUID()}.example`),
      );
      const before = await dbCompany(company.id);
      expectValidation(await patchCompany(team.owner, org, company.id, body), field);
      expect(await dbCompany(company.id)).toEqual(before);
    });

    describe('domain', () => {
      it("answers 409 COMPANY_DOMAIN_TAKEN for another company's domain (case-insensitive) and changes nothing", async () => {
        await createCompany(team.owner, org, { name: 'Holder', domain: 'holder.patch.example' });
        const company = await createCompany(team.member, org, {
          name: 'Mover',
          domain: 'mover.patch.example',
        });
        for (const domain of ['holder.patch.example', 'HOLDER.patch.example']) {
          expectError(
            await patchCompany(team.member, org, company.id, { domain }),
            409,
            'COMPANY_DOMAIN_TAKEN',
          );
        }
        expect((await dbCompany(company.id))?.domain).toBe('mover.patch.example');
      });

      it('lets a company keep its own domain, also sent in another letter case', async () => {
        const company = await createCompany(team.admin, org, {
          name: 'Self',
          domain: 'self.patch.example',
        });
        const res = await patchCompany(team.admin, org, company.id, {
          name: 'Self 2',
          domain: 'SELF.Patch.Example',
        });
        expect(res.status).toBe(200);
        expect(res.body).toEqual(
          expect.objectContaining({ name: 'Self 2', domain: 'self.patch.example' }),
        );
      });

      it('lets exactly one of two concurrent changes to the same domain win (the other 409)', async () => {
        const a = await createCompany(team.owner, org, { name: 'Racer A' });
        const b = await createCompany(team.owner, org, { name: 'Racer B' });
        const responses = await Promise.all([
          patchCompany(team.owner, org, a.id, { domain: 'finish.patch.example' }),
          patchCompany(team.admin, org, b.id, { domain: 'FINISH.patch.example' }),
        ]);
        expect(responses.map((r) => r.status).sort()).toEqual([200, 409]);
        expectError(
          responses.find((r) => r.status === 409)!,
          409,
          'COMPANY_DOMAIN_TAKEN',
        );
        const rows: { n: number }[] = await t.db.query(
          `SELECT count(*)::int AS n FROM companies WHERE domain = 'finish.patch.example'`,
        );
        expect(rows[0].n).toBe(1);
      });

      it('answers 409 (state rule) before 422 INVALID_OWNER, and 403 before 409', async () => {
        await createCompany(team.owner, org, { name: 'Has it', domain: 'prec.patch.example' });
        const company = await createCompany(team.owner, org, { name: 'Wants it' });
        expectError(
          await patchCompany(team.owner, org, company.id, {
            domain: 'prec.patch.example',
            ownerId: randomUUID(),
          }),
          409,
          'COMPANY_DOMAIN_TAKEN',
        );
        const own = await createCompany(team.member, org, { name: 'Member wants it' });
        expectError(
          await patchCompany(team.member, org, own.id, {
            domain: 'prec.patch.example',
            ownerId: team.owner.userId,
          }),
          403,
          'FORBIDDEN',
        );
      });
    });

    describe('ownerId', () => {
      it.each(MANAGING_ROLES)('lets the %s change ownerId to another member', async (role) => {
        const company = await createCompany(team.owner, org, { name: `Reassign by ${role}` });
        const res = await patchCompany(team[role], org, company.id, {
          ownerId: team.member2.userId,
        });
        expect(res.status).toBe(200);
        expect((res.body as CompanyBody).ownerId).toBe(team.member2.userId);
        expect((await dbCompany(company.id))?.owner_id).toBe(team.member2.userId);
        expect((await getCompany(team.member2, org, company.id)).status).toBe(200);
      });

      it.each(MANAGING_ROLES)(
        'answers 422 INVALID_OWNER to the %s for a non-member ownerId and changes nothing',
        async (role) => {
          const company = await createCompany(team.owner, org, { name: 'Keep' });
          for (const ownerId of [team.outsider.userId, randomUUID()]) {
            expectError(
              await patchCompany(team[role], org, company.id, { name: 'Changed', ownerId }),
              422,
              'INVALID_OWNER',
            );
          }
          expect(await dbCompany(company.id)).toEqual(
            expect.objectContaining({ owner_id: team.owner.userId, name: 'Keep' }),
          );
        },
      );

      it('answers 403 FORBIDDEN to a member changing ownerId of their own company, and changes nothing', async () => {
        const company = await createCompany(team.member, org, { name: 'Mine' });
        for (const ownerId of [
          team.owner.userId,
          team.member2.userId,
          team.outsider.userId,
          randomUUID(),
        ]) {
          expectError(
            await patchCompany(team.member, org, company.id, { name: 'Given away', ownerId }),
            403,
            'FORBIDDEN',
          );
        }
        expect(await dbCompany(company.id)).toEqual(
          expect.objectContaining({ owner_id: team.member.userId, name: 'Mine' }),
        );
      });

      it('lets a member send their own id as ownerId (no change)', async () => {
        const company = await createCompany(team.member, org, { name: 'Mine too' });
        const res = await patchCompany(team.member, org, company.id, {
          name: 'Still mine',
          ownerId: team.member.userId.toUpperCase(),
        });
        expect(res.status).toBe(200);
        expect(res.body).toEqual(
          expect.objectContaining({ ownerId: team.member.userId, name: 'Still mine' }),
        );
      });

      it('keeps the owner of a company whose owner has left the organization when ownerId is omitted', async () => {
        const leaver = await register(t, 'leaver');
        await addMember(team.owner, org, leaver, 'member');
        const company = await createCompany(leaver, org, { name: 'Left behind' });
        await t
          .http()
          .delete(`${API}/organizations/current/members/${leaver.userId}`)
          .set(as(team.owner, org))
          .expect(204);
        const res = await patchCompany(team.admin, org, company.id, { name: 'Still editable' });
        expect(res.status).toBe(200);
        expect(res.body).toEqual(
          expect.objectContaining({ ownerId: leaver.userId, name: 'Still editable' }),
        );
        expectError(
          await patchCompany(team.admin, org, company.id, {
            ownerId: randomUUID(),
          }),
          422,
          'INVALID_OWNER',
        );
        const handed = await patchCompany(team.admin, org, company.id, {
          ownerId: team.member.userId,
        });
        expect((handed.body as CompanyBody).ownerId).toBe(team.member.userId);
      });
    });

    it("answers 404 NOT_FOUND (not 403) to a member on someone else's company, also when changing ownerId", async () => {
      for (const other of [team.member2, team.owner, team.manager]) {
        const company = await createCompany(other, org, { name: 'Theirs' });
        for (const body of [
          { name: 'Hijack' },
          { ownerId: team.member.userId },
          { ownerId: team.owner.userId },
        ]) {
          expectError(await patchCompany(team.member, org, company.id, body), 404, 'NOT_FOUND');
        }
        expect(await dbCompany(company.id)).toEqual(
          expect.objectContaining({ owner_id: other.userId, name: 'Theirs' }),
        );
      }
    });

    it('answers 404 NOT_FOUND for an unknown id and 400 for an id that is not a UUID', async () => {
      expectError(
        await patchCompany(team.owner, org, randomUUID(), { name: 'Ghost' }),
        404,
        'NOT_FOUND',
      );
      expectValidation(await patchCompany(team.owner, org, 'not-a-uuid', { name: 'Ghost' }), 'id');
    });

    it("answers 400 (validation) before 404 (visibility): a member's invalid body on someone else's company", async () => {
      const company = await createCompany(team.owner, org, { name: 'Owner only' });
      expectValidation(await patchCompany(team.member, org, company.id, { name: null }), 'name');
      expectValidation(
        await patchCompany(team.member, org, randomUUID(), { bogus: true }),
        'bogus',
      );
    });
  });

  // ---------------------------------------------------------------- DELETE /companies/{id}

  describe('DELETE /companies/{id}', () => {
    let team: Team & { member2: Session };
    let org: string;
    beforeAll(async () => {
      team = await createTeamWithTwoMembers();
      org = team.organizationId;
    });

    it.each(ROLES)(
      'lets the %s delete a company it owns: 204 with no body, then GET answers 404',
      async (role) => {
        const company = await createCompany(team[role], org, { name: `Doomed ${role}` });
        const res = await deleteCompany(team[role], org, company.id);
        expect(res.status).toBe(204);
        expect(res.text).toBe('');
        expectError(await getCompany(team[role], org, company.id), 404, 'NOT_FOUND');
        expect(await dbCompany(company.id)).toBeNull();
        expectError(await deleteCompany(team[role], org, company.id), 404, 'NOT_FOUND');
      },
    );

    it.each(MANAGING_ROLES)("lets the %s delete a member's company", async (role) => {
      const company = await createCompany(team.member, org, { name: `Member's, by ${role}` });
      await deleteCompany(team[role], org, company.id).expect(204);
      expect(await dbCompany(company.id)).toBeNull();
    });

    it("answers 404 NOT_FOUND to a member deleting someone else's company, which stays", async () => {
      for (const other of [team.member2, team.owner, team.manager]) {
        const company = await createCompany(other, org, { name: 'Protected' });
        expectError(await deleteCompany(team.member, org, company.id), 404, 'NOT_FOUND');
        expect(await dbCompany(company.id)).not.toBeNull();
        expect((await getCompany(other, org, company.id)).status).toBe(200);
      }
    });

    it('answers 404 for an unknown id and 400 for an id that is not a UUID', async () => {
      expectError(await deleteCompany(team.owner, org, randomUUID()), 404, 'NOT_FOUND');
      expectValidation(await deleteCompany(team.owner, org, 'not-a-uuid'), 'id');
    });

    it('unlinks its contacts (their companyId becomes null; the contacts stay), leaving other companies alone', async () => {
      const doomed = await createCompany(team.member, org, {
        name: 'Doomed Inc',
        domain: 'doomed.example',
      });
      const survivor = await createCompany(team.owner, org, { name: 'Survivor Inc' });
      const linked = [
        await createContact(team.member, org, { name: 'Linked A', companyId: doomed.id }),
        await createContact(team.owner, org, {
          name: 'Linked B',
          ownerId: team.member2.userId,
          companyId: doomed.id,
        }),
        await createContact(team.manager, org, { name: 'Linked C', companyId: doomed.id }),
      ];
      const other = await createContact(team.owner, org, {
        name: 'Other company',
        companyId: survivor.id,
      });
      const before: { n: number }[] = await t.db.query(
        'SELECT count(*)::int AS n FROM contacts WHERE organization_id = $1',
        [org],
      );

      // a member deletes their own company, even though it has contacts they cannot see
      await deleteCompany(team.member, org, doomed.id).expect(204);

      for (const contact of linked) {
        expect(await dbContactCompany(contact.id)).toBeNull();
        const read = await t.http().get(`${CONTACTS}/${contact.id}`).set(as(team.owner, org));
        expect(read.status).toBe(200);
        expect(read.body).toEqual(
          expect.objectContaining({ id: contact.id, name: contact.name, companyId: null }),
        );
      }
      expect(await dbContactCompany(other.id)).toBe(survivor.id);
      const after: { n: number }[] = await t.db.query(
        'SELECT count(*)::int AS n FROM contacts WHERE organization_id = $1',
        [org],
      );
      expect(after[0].n).toBe(before[0].n);
      const filtered = await t
        .http()
        .get(`${CONTACTS}?companyId=${doomed.id}`)
        .set(as(team.owner, org));
      expect(filtered.body).toEqual(EMPTY_PAGE);
      expectError(await listCompanyContacts(team.owner, org, doomed.id), 404, 'NOT_FOUND');
      // the domain is free again, and a contact cannot be linked to the deleted company
      await createCompany(team.owner, org, { name: 'Reborn', domain: 'doomed.example' });
      expectError(
        await t
          .http()
          .post(CONTACTS)
          .set(as(team.owner, org))
          .send({ name: 'Late', companyId: doomed.id }),
        404,
        'NOT_FOUND',
      );
    });
  });

  // ---------------------------------------------------------------- GET /companies

  describe('GET /companies', () => {
    let team: Team & { member2: Session };
    let org: string;
    /** Every company of the organization, in the default order (createdAt desc, id desc). */
    let all: CompanyBody[];
    const TIE = '2031-01-01T00:00:00.000Z';

    const createdDesc = (a: CompanyBody, b: CompanyBody): number =>
      byCodeUnit(b.createdAt, a.createdAt) || byCodeUnit(b.id, a.id);
    const nameAsc = (a: CompanyBody, b: CompanyBody): number =>
      byCodeUnit(a.name, b.name) || byCodeUnit(a.id, b.id);

    beforeAll(async () => {
      team = await createTeamWithTwoMembers();
      org = team.organizationId;
      const specs: [Session, string, string | null][] = [
        [team.owner, 'Alpha', 'Software'],
        [team.owner, 'Same', 'Software'],
        [team.owner, 'Charlie', 'Retail'],
        [team.admin, 'Same', null],
        [team.admin, 'Delta', 'Software'],
        [team.manager, 'Same', 'Retail'],
        [team.manager, 'Bravo', 'software'],
        [team.member, 'Same', 'Software'],
        [team.member, 'Echo', null],
        [team.member, 'Foxtrot', 'Retail'],
        [team.member2, 'Same', 'Software'],
        [team.member2, 'Golf', 'Retail'],
      ];
      const created: CompanyBody[] = [];
      for (const [s, name, industry] of specs)
        created.push(await createCompany(s, org, { name, industry }));
      for (const [i, c] of created.entries()) {
        const at = c.name === 'Same' ? TIE : new Date(Date.UTC(2030, 0, 1, 0, 0, i)).toISOString();
        await t.db.query('UPDATE companies SET created_at = $2 WHERE id = $1', [c.id, at]);
      }
      all = [];
      for (const c of created)
        all.push((await getCompany(team.owner, org, c.id)).body as CompanyBody);
      all.sort(createdDesc);
      // noise in another organization
      await createCompany(team.outsider, team.outsider.organizationId, {
        name: 'Same',
        industry: 'Software',
      });
    });

    it('answers {items, total, page, pageSize} with Company items, newest first (ties by id), by default', async () => {
      const body = await page(team.owner, org);
      expect(body).toEqual({ items: all, total: 12, page: 1, pageSize: 20 });
      for (const item of body.items) expectCompany(item, { ...item, organizationId: org });
    });

    it.each(MANAGING_ROLES)('shows the %s every company of the organization', async (role) => {
      const body = await page(team[role], org);
      expect(body.total).toBe(12);
      expect(idsOf(body.items)).toEqual(idsOf(all));
    });

    it('shows a member only their own companies, and total counts only theirs', async () => {
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

    it("filters by ownerId; combined with a member's visibility another owner gives an empty list", async () => {
      for (const s of [team.owner, team.admin, team.manager, team.member, team.member2]) {
        const expected = all.filter((c) => c.ownerId === s.userId);
        const body = await page(team.manager, org, `?ownerId=${s.userId}`);
        expect(body.total).toBe(expected.length);
        expect(idsOf(body.items)).toEqual(idsOf(expected));
      }
      expect(await page(team.owner, org, `?ownerId=${team.outsider.userId}`)).toEqual(EMPTY_PAGE);
      expect(await page(team.member, org, `?ownerId=${team.owner.userId}`)).toEqual(EMPTY_PAGE);
      expect(
        (await page(team.member, org, `?ownerId=${team.member.userId.toUpperCase()}`)).total,
      ).toBe(3);
    });

    it('filters by industry: exact value (case-sensitive), surrounding spaces ignored', async () => {
      const software = all.filter((c) => c.industry === 'Software');
      expect(software).toHaveLength(5);
      expect(idsOf((await page(team.owner, org, '?industry=Software')).items)).toEqual(
        idsOf(software),
      );
      expect(idsOf((await page(team.owner, org, '?industry=%20Software%20')).items)).toEqual(
        idsOf(software),
      );
      expect(idsOf((await page(team.owner, org, '?industry=software')).items)).toEqual(
        idsOf(all.filter((c) => c.industry === 'software')),
      );
      expect(await page(team.owner, org, '?industry=Soft')).toEqual(EMPTY_PAGE);
      // with visibility and ownerId
      expect(idsOf((await page(team.member, org, '?industry=Retail')).items)).toEqual(
        idsOf(all.filter((c) => c.industry === 'Retail' && c.ownerId === team.member.userId)),
      );
      expect(
        idsOf(
          (await page(team.owner, org, `?industry=Software&ownerId=${team.owner.userId}`)).items,
        ),
      ).toEqual(idsOf(software.filter((c) => c.ownerId === team.owner.userId)));
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
      const byName = await page(team.owner, org, '?orderBy=name');
      expect(idsOf(byName.items)).toEqual(idsOf([...asc].reverse()));
    });

    it.each([
      ['orderBy=name&order=asc', (list: CompanyBody[]) => [...list].sort(nameAsc)],
      ['orderBy=name&order=desc', (list: CompanyBody[]) => [...list].sort(nameAsc).reverse()],
      ['orderBy=createdAt&order=desc', (list: CompanyBody[]) => [...list].sort(createdDesc)],
    ])('pages with pageSize=1 through %s without repeats or gaps', async (query, expected) => {
      const seen: string[] = [];
      for (let n = 1; n <= 12; n += 1) {
        const body = await page(team.owner, org, `?${query}&pageSize=1&page=${n}`);
        expect(body.total).toBe(12);
        seen.push(...idsOf(body.items));
      }
      expect(seen).toEqual(idsOf(expected(all)));
      expect(await page(team.owner, org, `?${query}&pageSize=1&page=13`)).toEqual({
        items: [],
        total: 12,
        page: 13,
        pageSize: 1,
      });
    });

    it.each([
      ['page=0', 'page'],
      ['pageSize=101', 'pageSize'],
      ['pageSize=abc', 'pageSize'],
      ['order=sideways', 'order'],
      ['orderBy=domain', 'orderBy'],
      ['orderBy=updatedAt', 'orderBy'],
      ['ownerId=not-a-uuid', 'ownerId'],
      [`search=${'s'.repeat(201)}`, 'search'],
      ['search=a&search=b', 'search'],
      [`industry=${'i'.repeat(101)}`, 'industry'],
      ['industry=', 'industry'],
      ['industry=a&industry=b', 'industry'],
      ['foo=bar', 'foo'],
      ['companyId=00000000-0000-4000-8000-000000000000', 'companyId'],
      ['search=a%00b', 'search'],
      ['limit=2&page=1', 'limit'],
      ['cursor=abc&pageSize=2', 'cursor'],
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['cursor=not-a-cursor', 'cursor'],
    ])('answers 400 VALIDATION_FAILED for ?%s', async (query, field) => {
      expectValidation(await listCompanies(team.owner, org, `?${query}`), field);
    });

    describe('keyset pagination (limit, cursor)', () => {
      it('walks every company once with limit=5, in the same order as offset pages, without total', async () => {
        const { ids, pages } = await walk(team.owner, org, 'limit=5');
        expect(pages.map((p) => p.items.length)).toEqual([5, 5, 2]);
        expect(pages[2].nextCursor).toBeNull();
        expect(ids).toEqual(idsOf(all));
        for (const p of pages) for (const item of p.items) expectCompany(item, item);
      });

      it.each([
        ['orderBy=name&order=asc', (list: CompanyBody[]) => [...list].sort(nameAsc)],
        ['orderBy=name&order=desc', (list: CompanyBody[]) => [...list].sort(nameAsc).reverse()],
        ['orderBy=createdAt&order=desc', (list: CompanyBody[]) => [...list].sort(createdDesc)],
        [
          'orderBy=createdAt&order=asc',
          (list: CompanyBody[]) => [...list].sort(createdDesc).reverse(),
        ],
      ])('walks %s with limit=1 across ties without repeats or gaps', async (query, expected) => {
        const { ids, pages } = await walk(team.owner, org, `${query}&limit=1`);
        expect(pages).toHaveLength(12);
        expect(ids).toEqual(idsOf(expected(all)));
      });

      it("walks only a member's own companies, and with the filters", async () => {
        expect((await walk(team.member, org, 'limit=1')).ids).toEqual(
          idsOf(all.filter((c) => c.ownerId === team.member.userId)),
        );
        expect((await walk(team.owner, org, 'limit=2&industry=Software')).ids).toEqual(
          idsOf(all.filter((c) => c.industry === 'Software')),
        );
        expect((await walk(team.owner, org, `limit=1&ownerId=${team.admin.userId}`)).ids).toEqual(
          idsOf(all.filter((c) => c.ownerId === team.admin.userId)),
        );
        expect((await walk(team.owner, org, 'limit=1&search=same&orderBy=name')).ids).toEqual(
          idsOf(
            all
              .filter((c) => c.name === 'Same')
              .sort(nameAsc)
              .reverse(),
          ),
        );
      });

      it('refuses a tampered cursor, and one of another filter, ordering, visibility or endpoint', async () => {
        const cursorOf = async (s: Session, path: string): Promise<string> => {
          const res = await t.http().get(path).set(as(s, org));
          expect(res.status).toBe(200);
          return (res.body as CursorBody).nextCursor!;
        };
        const plain = await cursorOf(team.owner, `${COMPANIES}?limit=1`);
        const bySearch = await cursorOf(team.owner, `${COMPANIES}?limit=1&search=same`);
        const byIndustry = await cursorOf(team.owner, `${COMPANIES}?limit=1&industry=Software`);
        const mine = await cursorOf(team.member, `${COMPANIES}?limit=1`);
        const contacts = await t.http().get(`${CONTACTS}?limit=1`).set(as(team.owner, org));
        await createContact(team.owner, org, { name: 'One' });
        await createContact(team.owner, org, { name: 'Two' });
        const contactCursor = await cursorOf(team.owner, `${CONTACTS}?limit=1`);
        expect(contacts.status).toBe(200);
        const [body, signature] = plain.split('.');
        const cases: [Session, string, string][] = [
          [team.owner, '?limit=1', `${body}.${signature.slice(1)}x`],
          [team.owner, '?limit=1', body],
          [team.owner, '?limit=1&search=alpha', bySearch],
          [team.owner, '?limit=1', bySearch],
          [team.owner, '?limit=1&industry=Retail', byIndustry],
          [team.owner, '?limit=1', byIndustry],
          [team.owner, '?limit=1&industry=Software', plain],
          [team.owner, '?limit=1&orderBy=name', plain],
          [team.owner, '?limit=1&order=asc', plain],
          [team.member, '?limit=1', plain],
          [team.member2, '?limit=1', mine],
          [team.owner, '?limit=1', contactCursor],
        ];
        for (const [s, query, cursor] of cases) {
          expectValidation(
            await listCompanies(s, org, `${query}&cursor=${encodeURIComponent(cursor)}`),
            'cursor',
          );
        }
        // and a companies cursor is refused by the contacts list
        expectValidation(
          await t
            .http()
            .get(`${CONTACTS}?limit=1&cursor=${encodeURIComponent(plain)}`)
            .set(as(team.owner, org)),
          'cursor',
        );
        // the untouched cursor still works
        const next = await listCompanies(
          team.owner,
          org,
          `?limit=1&cursor=${encodeURIComponent(plain)}`,
        );
        expect(idsOf((next.body as CursorBody).items)).toEqual([all[1].id]);
      });
    });
  });

  // ---------------------------------------------------------------- search

  describe('GET /companies?search=', () => {
    let team: Team;
    let org: string;
    let acme: CompanyBody;
    let globex: CompanyBody;
    let initech: CompanyBody;
    let umbrella: CompanyBody;

    beforeAll(async () => {
      team = await createTeam(t);
      org = team.organizationId;
      acme = await createCompany(team.owner, org, {
        name: 'Acme Corporation',
        domain: 'acme-corp.example',
        industry: 'Manufacturing',
      });
      globex = await createCompany(team.admin, org, {
        name: 'Globex',
        domain: 'globex.example',
        phone: '+1 555 0100',
      });
      initech = await createCompany(team.member, org, { name: 'Initech Software' });
      umbrella = await createCompany(team.manager, org, {
        name: 'Umbrella Holdings',
        domain: 'umbrella-corp.test',
      });
      for (const name of ['Acme Corporation', 'Globex', 'Initech Software']) {
        await createCompany(team.outsider, team.outsider.organizationId, {
          name,
          domain: `${name.split(' ')[0].toLowerCase()}.example`,
        });
      }
    });

    const search = async (s: Session, query: string, extra = ''): Promise<string[]> => {
      const body = await page(s, org, `?search=${encodeURIComponent(query)}${extra}`);
      expect(body.total).toBe(body.items.length);
      for (const item of body.items) expect(item.organizationId).toBe(org);
      return idsOf(body.items).sort();
    };
    const named = (): Record<string, CompanyBody> => ({ acme, globex, initech, umbrella });

    it.each([
      ['acme', ['acme']],
      ['ACME corporation', ['acme']],
      ['corporation acme', ['acme']],
      ['orpor', ['acme']],
      ['acme-corp', ['acme']],
      ['acme-corp.example', ['acme']],
      ['corp', ['acme', 'umbrella']],
      ['corp holdings', ['umbrella']],
      ['.test', ['umbrella']],
      ['example', ['acme', 'globex']],
      ['glob EXAMPLE', ['globex']],
      ['tech soft', ['initech']],
      ['  initech   software ', ['initech']],
      ['acme globex', []],
      ['zzz', []],
      // industry and phone are not searched
      ['manufacturing', []],
      ['555', []],
    ])('search=%j finds %j', async (query, names) => {
      const expected = names.map((n) => named()[n].id).sort();
      expect(await search(team.owner, query)).toEqual(expected);
    });

    it('treats an empty or blank search as no filter, and wildcards literally', async () => {
      const everyone = Object.values(named())
        .map((c) => c.id)
        .sort();
      expect(await search(team.owner, '')).toEqual(everyone);
      expect(await search(team.owner, '   ')).toEqual(everyone);
      for (const query of ['%', '_', '\\', 'ac%e', 'gl_bex']) {
        expect({ query, found: await search(team.owner, query) }).toEqual({ query, found: [] });
      }
      const percent = await createCompany(team.owner, org, { name: 'Save 100% Ltd' });
      expect(await search(team.owner, '100%')).toEqual([percent.id]);
      await deleteCompany(team.owner, org, percent.id).expect(204);
    });

    it("combines search with ownerId, industry and a member's visibility", async () => {
      expect(await search(team.owner, 'corp', `&ownerId=${team.manager.userId}`)).toEqual([
        umbrella.id,
      ]);
      expect(await search(team.owner, 'corp', '&industry=Manufacturing')).toEqual([acme.id]);
      expect(await search(team.member, 'initech')).toEqual([initech.id]);
      expect(await search(team.member, 'acme')).toEqual([]);
      expect(await search(team.member, 'e')).toEqual([initech.id]);
    });
  });

  // ---------------------------------------------------------------- GET /companies/{id}/contacts

  describe('GET /companies/{id}/contacts', () => {
    let team: Team & { member2: Session };
    let org: string;
    let company: CompanyBody;
    let membersCompany: CompanyBody;
    let otherCompany: CompanyBody;
    /** The contacts of `company`, newest first (createdAt desc, id desc). */
    let linked: ContactBody[];

    const createdDesc = (a: ContactBody, b: ContactBody): number =>
      byCodeUnit(b.createdAt, a.createdAt) || byCodeUnit(b.id, a.id);
    const nameAsc = (a: ContactBody, b: ContactBody): number =>
      byCodeUnit(a.name, b.name) || byCodeUnit(a.id, b.id);

    const contactsPage = async (
      s: Session,
      id: string,
      query = '',
    ): Promise<PageBody<ContactBody>> => {
      const res = await listCompanyContacts(s, org, id, query);
      expect({ status: res.status, body: res.body as unknown }).toEqual({
        status: 200,
        body: expect.anything(),
      });
      expect(keysOf(res.body)).toEqual(PAGE_KEYS);
      return res.body as PageBody<ContactBody>;
    };

    beforeAll(async () => {
      team = await createTeamWithTwoMembers();
      org = team.organizationId;
      company = await createCompany(team.owner, org, { name: 'Hub Company' });
      membersCompany = await createCompany(team.member, org, { name: "Member's Company" });
      otherCompany = await createCompany(team.owner, org, { name: 'Other Company' });
      const specs: [Session, string][] = [
        [team.owner, 'Carol'],
        [team.admin, 'Same'],
        [team.manager, 'Alice'],
        [team.member, 'Same'],
        [team.member, 'Bob'],
        [team.member2, 'Dave'],
        [team.owner, 'Same'],
      ];
      const created: ContactBody[] = [];
      for (const [s, name] of specs) {
        created.push(
          await createContact(team.owner, org, { name, ownerId: s.userId, companyId: company.id }),
        );
      }
      for (const [i, c] of created.entries()) {
        const at =
          c.name === 'Same'
            ? '2031-01-01T00:00:00.000Z'
            : new Date(Date.UTC(2030, 0, 1, 0, 0, i)).toISOString();
        await t.db.query('UPDATE contacts SET created_at = $2 WHERE id = $1', [c.id, at]);
      }
      linked = [];
      for (const c of created) {
        const res = await t.http().get(`${CONTACTS}/${c.id}`).set(as(team.owner, org));
        linked.push(res.body as ContactBody);
      }
      linked.sort(createdDesc);
      // noise: contacts of another company, without a company, and of the member's company
      await createContact(team.owner, org, { name: 'Elsewhere', companyId: otherCompany.id });
      await createContact(team.owner, org, { name: 'Nowhere' });
      await createContact(team.member, org, { name: 'Member own', companyId: membersCompany.id });
      await createContact(team.owner, org, {
        name: 'Owner in member company',
        companyId: membersCompany.id,
      });
    });

    it.each(MANAGING_ROLES)(
      "answers the %s a page of exactly that company's contacts (Contact shape), newest first",
      async (role) => {
        const body = await contactsPage(team[role], company.id);
        expect(body).toEqual({ items: linked, total: 7, page: 1, pageSize: 20 });
        for (const item of body.items) {
          expect(keysOf(item)).toEqual(CONTACT_KEYS);
          expect(item.companyId).toBe(company.id);
        }
      },
    );

    it('answers 404 NOT_FOUND to a member for a company they do not own, even when they own contacts of it', async () => {
      expect(linked.some((c) => c.ownerId === team.member.userId)).toBe(true);
      expectError(await listCompanyContacts(team.member, org, company.id), 404, 'NOT_FOUND');
      expectError(
        await listCompanyContacts(team.member2, org, membersCompany.id),
        404,
        'NOT_FOUND',
      );
    });

    it('shows a member, on their own company, only the contacts they own', async () => {
      const body = await contactsPage(team.member, membersCompany.id);
      expect(body.total).toBe(1);
      expect(body.items.map((c) => c.name)).toEqual(['Member own']);
      const all = await contactsPage(team.owner, membersCompany.id);
      expect(all.items.map((c) => c.name).sort()).toEqual([
        'Member own',
        'Owner in member company',
      ]);
    });

    it('answers an empty page for a company without contacts', async () => {
      const empty = await createCompany(team.manager, org, { name: 'Lonely' });
      expect(await contactsPage(team.owner, empty.id)).toEqual(EMPTY_PAGE);
    });

    it('pages (offset and keyset) and orders by name with ties, and filters by search and ownerId', async () => {
      const pages: string[] = [];
      for (let n = 1; n <= 4; n += 1) {
        const body = await contactsPage(team.owner, company.id, `?pageSize=2&page=${n}`);
        expect(body.total).toBe(7);
        pages.push(...idsOf(body.items));
      }
      expect(pages).toEqual(idsOf(linked));
      const path = `${COMPANIES}/${company.id}/contacts`;
      const walked = await walkPath<ContactBody>(team.owner, org, path, 'limit=2');
      expect(walked.pages.map((p) => p.items.length)).toEqual([2, 2, 2, 1]);
      expect(walked.ids).toEqual(idsOf(linked));
      const byName = await walkPath<ContactBody>(
        team.admin,
        org,
        path,
        'limit=1&orderBy=name&order=asc',
      );
      expect(byName.ids).toEqual(idsOf([...linked].sort(nameAsc)));
      const asc = await contactsPage(team.owner, company.id, '?orderBy=createdAt&order=asc');
      expect(idsOf(asc.items)).toEqual(idsOf([...linked].reverse()));
      expect(idsOf((await contactsPage(team.owner, company.id, '?search=same')).items)).toEqual(
        idsOf(linked.filter((c) => c.name === 'Same')),
      );
      expect(
        idsOf((await contactsPage(team.owner, company.id, `?ownerId=${team.member.userId}`)).items),
      ).toEqual(idsOf(linked.filter((c) => c.ownerId === team.member.userId)));
    });

    it('binds its cursors to the company and the endpoint', async () => {
      const first = await listCompanyContacts(team.owner, org, company.id, '?limit=1');
      const cursor = (first.body as CursorBody<ContactBody>).nextCursor!;
      const viaContacts = await t
        .http()
        .get(`${CONTACTS}?limit=1&companyId=${company.id}`)
        .set(as(team.owner, org));
      const contactsCursor = (viaContacts.body as CursorBody<ContactBody>).nextCursor!;
      expect(idsOf((viaContacts.body as CursorBody<ContactBody>).items)).toEqual(
        idsOf((first.body as CursorBody<ContactBody>).items),
      );
      // the same listing through /contacts?companyId= has its own cursors
      expectValidation(
        await listCompanyContacts(
          team.owner,
          org,
          company.id,
          `?limit=1&cursor=${encodeURIComponent(contactsCursor)}`,
        ),
        'cursor',
      );
      expectValidation(
        await t
          .http()
          .get(`${CONTACTS}?limit=1&companyId=${company.id}&cursor=${encodeURIComponent(cursor)}`)
          .set(as(team.owner, org)),
        'cursor',
      );
      expectValidation(
        await listCompanyContacts(
          team.owner,
          org,
          otherCompany.id,
          `?limit=1&cursor=${encodeURIComponent(cursor)}`,
        ),
        'cursor',
      );
      const next = await listCompanyContacts(
        team.owner,
        org,
        company.id,
        `?limit=1&cursor=${encodeURIComponent(cursor)}`,
      );
      expect(idsOf((next.body as CursorBody<ContactBody>).items)).toEqual([linked[1].id]);
    });

    it.each([
      ['pageSize=0', 'pageSize'],
      ['orderBy=email', 'orderBy'],
      ['ownerId=x', 'ownerId'],
      ['companyId=00000000-0000-4000-8000-000000000000', 'companyId'],
      ['limit=1&page=1', 'limit'],
      ['foo=1', 'foo'],
    ])('answers 400 VALIDATION_FAILED for ?%s', async (query, field) => {
      expectValidation(await listCompanyContacts(team.owner, org, company.id, `?${query}`), field);
    });

    it('answers 404 for an unknown company, 400 for an id that is not a UUID, and 400 before 404', async () => {
      expectError(await listCompanyContacts(team.owner, org, randomUUID()), 404, 'NOT_FOUND');
      expectValidation(await listCompanyContacts(team.owner, org, 'nope'), 'id');
      expectValidation(
        await listCompanyContacts(team.member, org, company.id, '?pageSize=0'),
        'pageSize',
      );
    });
  });

  // ---------------------------------------------------------------- cross-organization isolation

  describe('cross-organization isolation', () => {
    let team: Team;
    let org: string;
    let orgB: string;
    /** Admin in org B, manager in org A. */
    let both: Session;
    let inA: CompanyBody;
    let inB: CompanyBody;
    let inBOwnedByBoth: CompanyBody;
    let contactInB: ContactBody;

    beforeAll(async () => {
      team = await createTeam(t);
      org = team.organizationId;
      orgB = team.outsider.organizationId;
      both = await register(t, 'both');
      await addMember(team.outsider, orgB, both, 'admin');
      await addMember(team.owner, org, both, 'manager');
      inA = await createCompany(team.owner, org, {
        name: 'Isolated A',
        domain: 'a.iso.example',
        industry: 'Isolation',
      });
      inB = await createCompany(team.outsider, orgB, {
        name: 'Isolated B',
        domain: 'b.iso.example',
        industry: 'Isolation',
        address: { country: 'NO' },
      });
      inBOwnedByBoth = await createCompany(both, orgB, { name: 'Isolated B two' });
      contactInB = await createContact(team.outsider, orgB, {
        name: 'Contact in B',
        companyId: inB.id,
      });
    });

    const untouched = async (): Promise<void> => {
      expect(await dbCompany(inB.id)).toEqual({
        id: inB.id,
        organization_id: orgB,
        owner_id: team.outsider.userId,
        name: 'Isolated B',
        domain: 'b.iso.example',
        industry: 'Isolation',
        phone: null,
        address: { country: 'NO' },
        social_profiles: [],
      });
      expect((await dbCompany(inBOwnedByBoth.id))?.organization_id).toBe(orgB);
      expect(await dbContactCompany(contactInB.id)).toBe(inB.id);
    };

    it.each(ROLES)(
      "answers the %s in org A 404 NOT_FOUND on every endpoint for org B's company; B is untouched",
      async (role) => {
        const s = team[role];
        expectError(await getCompany(s, org, inB.id), 404, 'NOT_FOUND');
        expectError(await listCompanyContacts(s, org, inB.id), 404, 'NOT_FOUND');
        expectError(await patchCompany(s, org, inB.id, { name: 'Hijacked' }), 404, 'NOT_FOUND');
        expectError(
          await patchCompany(s, org, inB.id, { ownerId: s.userId, domain: null }),
          404,
          'NOT_FOUND',
        );
        expectError(await deleteCompany(s, org, inB.id), 404, 'NOT_FOUND');
        await untouched();
      },
    );

    it('a user in both organizations reaches a company only under its own organization header', async () => {
      expect((await getCompany(both, orgB, inB.id)).status).toBe(200);
      expect((await listCompanyContacts(both, orgB, inB.id)).status).toBe(200);
      for (const id of [inB.id, inBOwnedByBoth.id]) {
        expectError(await getCompany(both, org, id), 404, 'NOT_FOUND');
        expectError(await listCompanyContacts(both, org, id), 404, 'NOT_FOUND');
        expectError(await patchCompany(both, org, id, { name: 'Via A' }), 404, 'NOT_FOUND');
        expectError(await deleteCompany(both, org, id), 404, 'NOT_FOUND');
      }
      await untouched();
      expect((await getCompany(both, org, inA.id)).status).toBe(200);
      expectError(await getCompany(both, orgB, inA.id), 404, 'NOT_FOUND');
      expectError(await getCompany(team.outsider, orgB, inA.id), 404, 'NOT_FOUND');
    });

    it("org A's list, with any filter, never contains org B's companies, even for the owner", async () => {
      for (const s of [team.owner, team.admin, team.manager, team.member, both]) {
        for (const query of [
          '',
          '&search=isolated',
          '&search=iso.example',
          '&search=b',
          '&industry=Isolation',
          `&ownerId=${both.userId}`,
          `&ownerId=${team.outsider.userId}`,
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
      expect((await page(team.owner, org, '?industry=Isolation')).total).toBe(1);
      expect((await allVisible(team.outsider, orgB)).sort()).toEqual(
        [inB.id, inBOwnedByBoth.id].sort(),
      );
    });

    it("org A's contact lists never show org B's company contacts", async () => {
      const res = await t.http().get(`${CONTACTS}?companyId=${inB.id}`).set(as(team.owner, org));
      expect(res.body).toEqual(EMPTY_PAGE);
    });

    it('keeps the domain unique per organization only, and refuses ownerId of a user only in org B', async () => {
      // inB's domain is free in org A
      const sameDomain = await createCompany(team.owner, org, {
        name: 'Same domain as B',
        domain: 'B.iso.example',
      });
      expect(sameDomain.domain).toBe('b.iso.example');
      await deleteCompany(team.owner, org, sameDomain.id).expect(204);
      expectError(
        await postCompany(team.owner, org, { name: 'To B', ownerId: team.outsider.userId }),
        422,
        'INVALID_OWNER',
      );
      expectError(
        await patchCompany(team.owner, org, inA.id, { ownerId: team.outsider.userId }),
        422,
        'INVALID_OWNER',
      );
      expect((await dbCompany(inA.id))?.owner_id).toBe(team.owner.userId);
    });
  });

  // ---------------------------------------------------------------- tenant guard and precedence

  describe('authentication, organization header and membership (precedence)', () => {
    let team: Team;
    let org: string;
    let company: CompanyBody;

    beforeAll(async () => {
      team = await createTeam(t);
      org = team.organizationId;
      company = await createCompany(team.owner, org, {
        name: 'Guarded',
        domain: 'guarded.example',
      });
    });

    const routes: {
      label: string;
      call: (headers: Record<string, string>, bad?: boolean) => Test;
    }[] = [
      {
        label: 'GET /companies',
        call: (h, bad) =>
          t
            .http()
            .get(`${COMPANIES}${bad ? '?page=0&foo=1' : ''}`)
            .set(h),
      },
      {
        label: 'POST /companies',
        call: (h, bad) =>
          t
            .http()
            .post(COMPANIES)
            .set(h)
            .send(
              bad ? { name: '', address: { country: 'USA' }, bogus: 1 } : { name: 'Guarded new' },
            ),
      },
      {
        label: 'GET /companies/{id}',
        call: (h, bad) =>
          t
            .http()
            .get(`${COMPANIES}/${bad ? 'nope' : company.id}`)
            .set(h),
      },
      {
        label: 'GET /companies/{id}/contacts',
        call: (h, bad) =>
          t
            .http()
            .get(`${COMPANIES}/${bad ? 'nope' : company.id}/contacts`)
            .set(h),
      },
      {
        label: 'PATCH /companies/{id}',
        call: (h, bad) =>
          t
            .http()
            .patch(`${COMPANIES}/${company.id}`)
            .set(h)
            .send(bad ? { name: null } : { name: 'Guarded changed' }),
      },
      {
        label: 'DELETE /companies/{id}',
        call: (h, bad) =>
          t
            .http()
            .delete(`${COMPANIES}/${bad ? 'nope' : company.id}`)
            .set(h),
      },
    ];

    const expectUntouched = async (): Promise<void> => {
      expect(await dbCompany(company.id)).toEqual(
        expect.objectContaining({ name: 'Guarded', domain: 'guarded.example' }),
      );
      const rows: { n: number }[] = await t.db.query(
        'SELECT count(*)::int AS n FROM companies WHERE organization_id = $1',
        [org],
      );
      expect(rows[0].n).toBe(1);
    };

    it.each(routes)(
      '$label without a valid access token -> 401 UNAUTHENTICATED, even with a bad header or input',
      async ({ call }) => {
        expectError(await call({}), 401, 'UNAUTHENTICATED');
        expectError(await call({}, true), 401, 'UNAUTHENTICATED');
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
      '$label without a valid X-Organization-Id -> 400 INVALID_ORGANIZATION_HEADER, even with bad input',
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
        expectError(await call(as(team.owner, randomUUID()), true), 403, 'NOT_A_MEMBER');
        await expectUntouched();
      },
    );

    it.each(routes)(
      '$label by a member with bad input -> 400 VALIDATION_FAILED (before the 404 of visibility)',
      async ({ call }) => {
        expectError(await call(as(team.member, org), true), 400, 'VALIDATION_FAILED');
        await expectUntouched();
      },
    );

    it('documents every companies operation in the OpenAPI document', async () => {
      const res = await t.http().get('/docs-json');
      expect(res.status).toBe(200);
      const paths = (
        res.body as {
          paths: Record<string, Record<string, { summary?: string; responses: object }>>;
        }
      ).paths;
      const expected: [string, string[]][] = [
        ['/api/v1/companies', ['get', 'post']],
        ['/api/v1/companies/{id}', ['get', 'patch', 'delete']],
        ['/api/v1/companies/{id}/contacts', ['get']],
      ];
      for (const [path, methods] of expected) {
        for (const method of methods) {
          const op = paths[path]?.[method];
          expect({ path, method, summary: typeof op?.summary }).toEqual({
            path,
            method,
            summary: 'string',
          });
        }
      }
      // nested value objects are documented as such
      const schemas = (
        res.body as { components: { schemas: Record<string, { properties: Body }> } }
      ).components.schemas;
      for (const dto of ['CreateCompanyDto', 'UpdateCompanyDto']) {
        expect(schemas[dto].properties.socialProfiles).toEqual(
          expect.objectContaining({
            type: 'array',
            maxItems: 20,
            items: { $ref: '#/components/schemas/SocialProfileInputDto' },
          }),
        );
        expect(JSON.stringify(schemas[dto].properties.address)).toContain(
          '#/components/schemas/AddressInputDto',
        );
      }
      expect(Object.keys(schemas.CompanyDto.properties).sort()).toEqual(COMPANY_KEYS);
      expect(Object.keys(schemas.ContactDto.properties).sort()).toEqual(CONTACT_KEYS);
      expect(Object.keys(paths['/api/v1/companies/{id}'].patch.responses).sort()).toEqual(
        ['200', '400', '401', '403', '404', '409', '412', '415', '422'].sort(),
      );
    });
  });
});
