import { expect, it } from '@jest/globals';
import {
  createCrmClient,
  CrmApiError,
  isCrmApiError,
  unwrap,
  type CrmClient,
  type Schemas,
} from '../../clients/typescript/src/index';

/*
 * A newcomer's whole scenario through the typed client (clients/typescript), as an application
 * would write it: every path, parameter, body and answer below is typed by the generated schema.
 * This module imports nothing of the server, so that a type check of it alone (test/client/
 * tsconfig.json, run by test/client.e2e-spec.ts) is quick; the `@ts-expect-error` lines prove the
 * types refuse what the server refuses, and fail that check if the types ever grow loose.
 */

const NOT_A_DEAL = '00000000-0000-4000-8000-000000000000';

/** The steps, in order (each uses what the previous ones created), against the server at `baseUrl()`. */
export function clientScenario(baseUrl: () => string): void {
  const email = 'ada@example.com';
  const password = 'analytical-engine-1843';
  let anonymous: CrmClient;
  let accessToken: string;
  let crm: CrmClient;
  let organization: Schemas['OrganizationWithRoleDto'];
  let contact: Schemas['ContactDto'];
  let deal: Schemas['DealDto'];

  it('registers and signs in', async () => {
    anonymous = createCrmClient({ baseUrl: baseUrl() });
    const registered = await unwrap(
      anonymous.POST('/api/v1/auth/register', {
        body: { email, password, name: 'Ada Lovelace', organizationName: 'Ada Consulting' },
      }),
    );
    expect(registered.user.email).toBe(email);
    expect(registered.organization.role).toBe('owner');
    expect(registered.tokenType).toBe('Bearer');

    const { data, error, response } = await anonymous.POST('/api/v1/auth/login', {
      body: { email, password },
    });
    expect(error).toBeUndefined();
    expect(response.status).toBe(200);
    expect(data?.organizations.map((o) => o.id)).toEqual([registered.organization.id]);
    accessToken = data!.accessToken;
  });

  it('creates an organization, whose id the client then sends as X-Organization-Id', async () => {
    // A getter: the client reads the token before every request, as after a refresh.
    const signedIn = createCrmClient({ baseUrl: baseUrl(), accessToken: () => accessToken });
    organization = await unwrap(
      signedIn.POST('/api/v1/organizations', {
        body: { name: 'Analytical Engines Ltd', defaultCurrency: 'EUR' },
      }),
    );
    expect(organization).toMatchObject({ role: 'owner', defaultCurrency: 'EUR' });

    crm = createCrmClient({
      baseUrl: baseUrl(),
      accessToken: () => accessToken,
      organizationId: organization.id,
    });
    const current = await unwrap(crm.GET('/api/v1/organizations/current'));
    expect(current.id).toBe(organization.id);
    expect(current.name).toBe('Analytical Engines Ltd');
  });

  it('creates a contact; the types and the server both refuse one without a name', async () => {
    contact = await unwrap(
      crm.POST('/api/v1/contacts', {
        body: { name: 'Charles Babbage', email: 'charles@example.com', phone: '+44 20 7946 0000' },
      }),
    );
    expect(contact).toMatchObject({
      organizationId: organization.id,
      name: 'Charles Babbage',
      email: 'charles@example.com',
    });

    // @ts-expect-error a contact needs a name (ContactInputDto.name is required)
    const { error, response } = await crm.POST('/api/v1/contacts', { body: { email: 'x@y.io' } });
    expect(response.status).toBe(400);
    expect(error?.code).toBe('VALIDATION_FAILED');
    expect(error?.details?.map((d) => d.field)).toContain('name');
  });

  it('creates a deal without a status (the server defaults it to new), moves it on and wins it', async () => {
    deal = await unwrap(
      crm.POST('/api/v1/deals', {
        body: { contactId: contact.id, title: 'Difference engine', amount: 1500 },
      }),
    );
    expect(deal).toMatchObject({
      contactId: contact.id,
      status: 'new',
      amount: '1500.00',
      currency: 'EUR',
    });

    const started = await unwrap(
      crm.PATCH('/api/v1/deals/{id}', {
        params: { path: { id: deal.id } },
        body: { status: 'in_progress', stage: 'proposal' },
      }),
    );
    expect(started).toMatchObject({ status: 'in_progress', stage: 'proposal' });

    const won = await unwrap(
      crm.POST('/api/v1/deals/{id}/win', { params: { path: { id: deal.id } } }),
    );
    expect(won).toMatchObject({ id: deal.id, status: 'won', stage: 'closed' });
  });

  it('reads the analytics summary, which counts the won deal', async () => {
    const summary = await unwrap(
      crm.GET('/api/v1/analytics/deals/summary', { params: { query: { days: 30 } } }),
    );
    expect(summary.byStatus.won).toEqual({ count: 1, amounts: { EUR: '1500.00' } });
    expect(summary.byStatus.new.count).toBe(0);
    expect(summary.wonAverageAmount).toEqual({ EUR: '1500.00' });
    expect(summary.newDealsInPeriod).toBe(1);
    expect(summary.periodDays).toBe(30);
  });

  it('answers a missing deal with a 404 typed as the API error', async () => {
    const missing = { params: { path: { id: NOT_A_DEAL } } };
    const { data, error, response } = await crm.GET('/api/v1/deals/{id}', missing);
    expect(data).toBeUndefined();
    expect(response.status).toBe(404);
    expect(error).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
    expect(error?.requestId).toBe(response.headers.get('x-request-id'));
    // @ts-expect-error NOT_FUND is no documented error code: the comparison does not compile
    expect(error?.code === 'NOT_FUND').toBe(false);

    const thrown = await unwrap(crm.GET('/api/v1/deals/{id}', missing)).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(CrmApiError);
    expect(isCrmApiError(thrown, 'NOT_FOUND')).toBe(true);
    if (!isCrmApiError(thrown)) return;
    expect(thrown.status).toBe(404);
    expect(thrown.body.statusCode).toBe(404);
    expect(thrown.requestId).toBe(thrown.response.headers.get('x-request-id'));

    // The won deal exists, but not in the organization the registration created.
    const elsewhere = createCrmClient({
      baseUrl: baseUrl(),
      accessToken: () => accessToken,
      organizationId: (await unwrap(crm.GET('/api/v1/organizations/me'))).find(
        (o) => o.id !== organization.id,
      )?.id,
    });
    const hidden = await elsewhere.GET('/api/v1/deals/{id}', { params: { path: { id: deal.id } } });
    expect(hidden.error?.code).toBe('NOT_FOUND');
  });

  it('answers a second registration of the email with a 409 typed as the API error', async () => {
    const again = anonymous.POST('/api/v1/auth/register', {
      body: { email: 'ADA@example.com', password, name: 'Ada', organizationName: 'Again' },
    });
    await expect(unwrap(again)).rejects.toMatchObject({
      name: 'CrmApiError',
      status: 409,
      code: 'EMAIL_TAKEN',
    });

    const { error, response } = await crm.POST('/api/v1/contacts', {
      body: { name: 'Charles again', email: 'CHARLES@example.com' },
    });
    expect(response.status).toBe(409);
    expect(error?.code).toBe('CONTACT_EMAIL_TAKEN');
  });

  it('works with an API key in place of a token, the organization implied by the key', async () => {
    const created = await unwrap(
      crm.POST('/api/v1/api-keys', { body: { name: 'reporting', role: 'manager' } }),
    );
    const withKey = createCrmClient({ baseUrl: baseUrl(), apiKey: created.key });
    const deals = await unwrap(withKey.GET('/api/v1/deals'));
    expect(deals).toMatchObject({ total: 1, items: [{ id: deal.id, status: 'won' }] });

    // @ts-expect-error a token and a key at once is ambiguous: refused by the types and at run time
    expect(() => createCrmClient({ baseUrl: baseUrl(), accessToken, apiKey: created.key })).toThrow(
      TypeError,
    );
  });
}
