import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { as, register, type Session } from './support/api';
import { createTestApp, type TestApp, serve } from './support/test-app';

/*
 * Swagger UI at /docs used as a person exploring the API would, in a real headless Chromium
 * (playwright-core drives the machine's browser): authorize with a token, give the
 * X-Organization-Id header, create a contact with "Try it out", then list the contacts.
 *
 * The browser: CHROMIUM_PATH, else Debian's chromium or Google Chrome (GitHub's hosted runners).
 * Without one the test is skipped with a notice, unless REQUIRE_CHROMIUM=true.
 * UPDATE_SCREENSHOT=1 writes docs/swagger-ui.png (the README's picture) from the list's answer.
 */

const BROWSER = [
  process.env.CHROMIUM_PATH,
  '/usr/bin/chromium',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
].find((path): path is string => !!path && existsSync(path));
if (!BROWSER && process.env.REQUIRE_CHROMIUM === 'true') {
  throw new Error(
    'REQUIRE_CHROMIUM=true but no Chromium (apt-get install chromium, or CHROMIUM_PATH=<binary>)',
  );
}
if (!BROWSER) {
  console.warn(
    'SKIPPED: the Swagger UI test needs Chromium (apt-get install chromium, or CHROMIUM_PATH)',
  );
}
const describeWithBrowser = BROWSER ? describe : describe.skip;

const SCREENSHOT = join(process.cwd(), 'docs', 'swagger-ui.png');
const VERSION = (
  JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as { version: string }
).version;

/** The operation's block in Swagger UI, by method and path as the document names them. */
function operation(page: Page, method: string, path: string): Locator {
  return page.locator(`.opblock-${method}`, {
    has: page.locator(`.opblock-summary-path[data-path="${path}"]`),
  });
}

/** Expands an operation, enables "Try it out" and fills the organization header. */
async function tryOut(block: Locator, organizationId: string): Promise<void> {
  await block.locator('.opblock-summary').first().click();
  await block.getByRole('button', { name: 'Try it out' }).click();
  await block
    .locator('tr[data-param-name="X-Organization-Id"] input[type="text"]')
    .fill(organizationId);
}

/** Clicks Execute and answers the status and body Swagger UI shows for the server's answer. */
async function execute(block: Locator): Promise<{ status: number; body: unknown }> {
  await block.getByRole('button', { name: 'Execute' }).click();
  const live = block.locator('.live-responses-table .response').first();
  await live.waitFor();
  const status = Number((await live.locator('.response-col_status').innerText()).trim());
  const body = (await live.locator('.response-col_description pre').first().innerText()).trim();
  return { status, body: JSON.parse(body) as unknown };
}

describeWithBrowser('Swagger UI (/docs) in headless Chromium', () => {
  let t: TestApp;
  let base: string;
  let browser: Browser;
  let page: Page;
  let owner: Session;
  let organizationId: string;

  beforeAll(async () => {
    t = await createTestApp();
    base = await serve(t);
    // A user with the organization made at sign-up, and a second one created afterwards: the
    // header decides which one the requests in Swagger UI act in.
    owner = await register(t, 'explorer', 'First Org');
    const created = await t
      .http()
      .post('/api/v1/organizations')
      .set(as(owner))
      .send({ name: 'Acme Sales' });
    expect(created.status).toBe(201);
    organizationId = (created.body as { id: string }).id;
    // launch() gives the browser a new, empty profile directory of its own.
    browser = await chromium.launch({
      executablePath: BROWSER,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(15_000);
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('shows the document with the package version', async () => {
    await page.goto(`${base}/docs`);
    await page.locator('.swagger-ui .info .title').getByText('CRM API').waitFor();
    expect(
      (await page.locator('.swagger-ui .info .title .version').first().innerText()).trim(),
    ).toBe(VERSION);
  });

  it('authorizes with the access token', async () => {
    await page.locator('.auth-wrapper button.authorize').click();
    // Two schemes: the access token ("bearer") and API keys ("apiKey").
    const scheme = page.locator('.modal-ux .auth-container', {
      has: page.locator('h4 code', { hasText: /^bearer$/ }),
    });
    await scheme.locator('input[type="text"]').fill(owner.accessToken);
    await scheme.locator('button.authorize').click();
    await scheme.locator('button', { hasText: 'Logout' }).waitFor();
    await scheme.locator('button.btn-done').click();
    // persistAuthorization: the token survives a reload of the page.
    await page.reload();
    await page.locator('.auth-wrapper button.authorize.locked').waitFor();
  });

  it('creates a contact with "Try it out" in the organization of the header (201)', async () => {
    const block = operation(page, 'post', '/api/v1/contacts');
    await tryOut(block, organizationId);
    await block
      .locator('textarea.body-param__text')
      .fill(JSON.stringify({ name: 'Grace Hopper', email: 'grace@example.com' }, null, 2));
    const { status, body } = await execute(block);
    expect(status).toBe(201);
    expect(body).toMatchObject({ name: 'Grace Hopper', email: 'grace@example.com' });
    // The server agrees: the contact is in that organization, not in the user's first one.
    const inHeaderOrg = await t.http().get('/api/v1/contacts').set(as(owner, organizationId));
    const inFirstOrg = await t.http().get('/api/v1/contacts').set(as(owner, owner.organizationId));
    expect((inHeaderOrg.body as { items: { name: string }[] }).items.map((c) => c.name)).toEqual([
      'Grace Hopper',
    ]);
    expect((inFirstOrg.body as { items: unknown[] }).items).toEqual([]);
    // Collapse it, so that the list's answer is what the page shows next.
    await block.locator('.opblock-summary').first().click();
  });

  it('lists the contacts with "Try it out" (200, holding the new contact)', async () => {
    const block = operation(page, 'get', '/api/v1/contacts');
    await tryOut(block, organizationId);
    // "Try it out" fills the parameters with the document's examples: the whole list, unfiltered.
    await block.locator('tr[data-param-name="search"] input[type="text"]').fill('');
    const { status, body } = await execute(block);
    expect(status).toBe(200);
    expect(body).toMatchObject({ items: [{ name: 'Grace Hopper', email: 'grace@example.com' }] });
    if (process.env.UPDATE_SCREENSHOT === '1') {
      // From the organization header given down to the list's answer.
      await block
        .locator('tr[data-param-name="X-Organization-Id"]')
        .evaluate((element) => element.scrollIntoView({ block: 'start' }));
      await page.screenshot({ path: SCREENSHOT });
    }
  });
});
