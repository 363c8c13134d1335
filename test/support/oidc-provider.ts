import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
// @ts-expect-error -- oidc-provider ships no type declarations (and there is no @types package)
import ProviderModule from 'oidc-provider';

/** The part of oidc-provider's API used here. */
interface OidcProvider {
  callback: () => (req: IncomingMessage, res: ServerResponse) => void;
  on: (event: 'grant.error', listener: (ctx: unknown, error: ProviderError) => void) => void;
}
interface ProviderError extends Error {
  error_detail?: string;
}
type ProviderConstructor = new (issuer: string, configuration: object) => OidcProvider;
const Provider = ProviderModule as unknown as ProviderConstructor;

/** What an account of the test provider says about its user (OpenID Connect claims). */
export interface TestAccount {
  email?: string;
  email_verified?: boolean;
  name?: string;
}

export interface TestOidcProvider {
  /** `http://127.0.0.1:<port>`: OIDC_ISSUER. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The app's callback as registered for the client: OIDC_REDIRECT_URI. */
  redirectUri: string;
  /**
   * Why the token endpoint refused each refused code exchange, in order (the provider's own
   * reason, which its answer only calls `invalid_grant`).
   */
  grantErrors: string[];
  /** The accounts, by subject (the login name at the provider's login form); change at will. */
  accounts: Map<string, TestAccount>;
  /**
   * Plays a browser from the app's authorization redirect (`authorizationUrl`) through the
   * provider's login form (as `accountId`) and consent, with a fresh cookie jar (a new browser),
   * up to the provider's redirect to the app: answers that URL (redirectUri?code=&state=&iss=).
   * `abort`: the user cancels at the login form instead (the provider answers error=access_denied).
   */
  signIn: (
    authorizationUrl: string,
    accountId: string,
    options?: { abort?: boolean },
  ) => Promise<URL>;
  close: () => Promise<void>;
}

/** A browser's cookies for one host: name -> value (paths are ignored: one flow at a time). */
class CookieJar {
  private readonly cookies = new Map<string, string>();

  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      const expired = attributes.some(
        (a) => /^\s*expires=/i.test(a) && new Date(a.split('=')[1]).getTime() < Date.now(),
      );
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

/**
 * A real OpenID Connect provider (oidc-provider) on 127.0.0.1:<free port>, in the test process,
 * with one confidential client registered for `redirectUri` (client_secret_post, authorization
 * code, PKCE required) and the dev login/consent forms, which `signIn` drives over plain HTTP.
 * Email claims come from the userinfo endpoint (the provider's default for the code flow keeps
 * them out of the ID token).
 */
export async function startOidcProvider(
  redirectUri = 'http://localhost:3000/api/v1/auth/oidc/callback',
): Promise<TestOidcProvider> {
  const accounts = new Map<string, TestAccount>();
  const clientId = 'crm-api';
  const clientSecret = 'crm-api-test-secret-0123456789';
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Its own signing key and lifetimes, so the provider prints no notice about its defaults.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const quiet = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!String(args[0]).includes('quick start development-only')) quiet(...args);
  };
  const provider = new Provider(issuer, {
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test', use: 'sig' }] },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      Grant: 3600,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
    },
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['oidc-test-cookie-key-0123456789'] },
    findAccount: (_ctx: unknown, sub: string) => {
      const account = accounts.get(sub);
      if (!account) return undefined;
      return { accountId: sub, claims: () => ({ sub, ...account }) };
    },
  });
  console.warn = quiet;
  const grantErrors: string[] = [];
  provider.on('grant.error', (_ctx, error) => {
    const cause = error.cause instanceof Error ? error.cause.message : undefined;
    grantErrors.push(cause ?? error.error_detail ?? error.message);
  });
  server.on('request', provider.callback());

  async function signIn(
    authorizationUrl: string,
    accountId: string,
    options: { abort?: boolean } = {},
  ): Promise<URL> {
    const jar = new CookieJar();
    const go = async (url: string, form?: Record<string, string>): Promise<Response> => {
      const res = await fetch(url, {
        method: form ? 'POST' : 'GET',
        redirect: 'manual',
        headers: {
          cookie: jar.header(),
          ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        body: form ? new URLSearchParams(form).toString() : undefined,
      });
      jar.store(res);
      return res;
    };
    let url = authorizationUrl;
    for (let step = 0; step < 12; step += 1) {
      if (url.startsWith(redirectUri)) return new URL(url);
      const res = await go(url);
      let next = res.headers.get('location');
      if (res.status === 200 && new URL(url).pathname.startsWith('/interaction/')) {
        // The login or consent form: submit it as the user would.
        const html = await res.text();
        const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
        if (prompt === 'login' && options.abort) {
          next = (await go(`${url}/abort`)).headers.get('location');
        } else if (prompt === 'login') {
          next = (await go(url, { prompt, login: accountId, password: 'any' })).headers.get(
            'location',
          );
        } else if (prompt === 'consent') {
          next = (await go(url, { prompt })).headers.get('location');
        } else {
          throw new Error(`unexpected interaction page at ${url}`);
        }
      } else {
        await res.text();
      }
      if (!next) throw new Error(`the provider answered ${res.status} at ${url} without redirect`);
      url = new URL(next, url).toString();
    }
    throw new Error('too many redirects at the provider');
  }

  return {
    issuer,
    clientId,
    clientSecret,
    redirectUri,
    grantErrors,
    accounts,
    signIn,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
