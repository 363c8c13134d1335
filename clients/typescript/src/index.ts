import createClient, { type Client, type ClientOptions, type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema.js';

// The generated types (npm run client:generate), for code that names the API's shapes.
export type { components, operations, paths } from './schema.js';

/** The API's schemas by name: `Schemas['DealDto']`, `Schemas['ContactInputDto']`. */
export type Schemas = components['schemas'];

/** The body of every error answer (API.md, "Errors"). */
export type ApiErrorBody = Schemas['ErrorResponseDto'];

/** Every error code the API documents (`NOT_FOUND`, `EMAIL_TAKEN`, ...). */
export type ErrorCode = ApiErrorBody['code'];

/** An openapi-fetch client typed with every operation of the document. */
export type CrmClient = Client<paths>;

/**
 * A credential or organization id: the value itself, or a function read before every request
 * (for an application that keeps its tokens in a store and refreshes them).
 */
export type Credential = string | (() => string | undefined | Promise<string | undefined>);

export type CrmClientOptions = ConnectionOptions & Bearer;

interface ConnectionOptions {
  /** The server's origin, e.g. `https://crm.example.com`: the document's paths start with `/api/v1`. */
  baseUrl: string;
  /** Sent as `X-Organization-Id`, which the tenant-scoped routes require (optional with an API key). */
  organizationId?: Credential;
  /** Headers for every request. */
  headers?: ClientOptions['headers'];
  /** A fetch implementation other than the global one (tests, proxies, retries). */
  fetch?: ClientOptions['fetch'];
}

/** Who calls: a user's access token or an API key (or neither, for register and login), never both. */
type Bearer =
  | {
      /** A user's access token (POST /api/v1/auth/login or /register), sent as `Authorization: Bearer`. */
      accessToken?: Credential;
      apiKey?: undefined;
    }
  | {
      /** An API key (`crm_...`, POST /api/v1/api-keys), sent as `Authorization: Bearer` in place of a token. */
      apiKey: Credential;
      accessToken?: undefined;
    };

/**
 * A client for the CRM API. Each call is typed by the document: the path, its parameters and body,
 * and the answer (`{ data }` on success, `{ error }` typed as {@link ApiErrorBody} otherwise):
 *
 *     const { data, error } = await crm.GET('/api/v1/deals/{id}', { params: { path: { id } } });
 *
 * or, with {@link unwrap}, the data itself and a {@link CrmApiError} thrown for an error answer.
 * Headers given to a single call win over the client's credentials.
 */
export function createCrmClient(options: CrmClientOptions): CrmClient {
  const { accessToken, apiKey, organizationId, ...clientOptions } = options;
  if (accessToken !== undefined && apiKey !== undefined) {
    throw new TypeError('createCrmClient: pass accessToken or apiKey, not both');
  }
  const client = createClient<paths>(clientOptions);
  client.use(credentials(accessToken ?? apiKey, organizationId));
  return client;
}

function credentials(bearer?: Credential, organizationId?: Credential): Middleware {
  return {
    async onRequest({ request }) {
      const token = await read(bearer);
      if (token && !request.headers.has('authorization')) {
        request.headers.set('authorization', `Bearer ${token}`);
      }
      const organization = await read(organizationId);
      if (organization && !request.headers.has('x-organization-id')) {
        request.headers.set('x-organization-id', organization);
      }
      return request;
    },
  };
}

async function read(credential?: Credential): Promise<string | undefined> {
  return typeof credential === 'function' ? credential() : credential;
}

/** An error answer of the API, with its body as documented. */
export class CrmApiError extends Error {
  override readonly name = 'CrmApiError';
  /** The HTTP status (also `body.statusCode`). */
  readonly status: number;
  readonly code: ErrorCode;
  /** Present for validation errors: which field, and what is wrong with it. */
  readonly details: ApiErrorBody['details'];
  /** The request's id, as in the server's logs (`X-Request-Id`). */
  readonly requestId: string;

  constructor(
    readonly body: ApiErrorBody,
    readonly response: Response,
  ) {
    super(`${body.code}: ${body.message}`);
    this.status = response.status;
    this.code = body.code;
    this.details = body.details;
    this.requestId = body.requestId;
  }
}

/** Whether `value` is an error answer of the API (with that `code`, when given). */
export function isCrmApiError(value: unknown, code?: ErrorCode): value is CrmApiError {
  return value instanceof CrmApiError && (code === undefined || value.code === code);
}

/** What every call of a {@link CrmClient} resolves to (openapi-fetch's `FetchResponse`). */
type Answer = { data?: unknown; error?: unknown; response: Response };

/** The data of a successful answer (`undefined` for 204), typed by the operation. */
export type SuccessData<A extends Answer> = A extends { error?: never } ? A['data'] : never;

/**
 * The data of a call's successful answer; an error answer is thrown as a {@link CrmApiError}
 * (or as an `Error` when its body is not the API's, e.g. a proxy's HTML page).
 *
 *     const contact = await unwrap(crm.POST('/api/v1/contacts', { body: { name: 'Ada' } }));
 */
export async function unwrap<A extends Answer>(call: Promise<A> | A): Promise<SuccessData<A>> {
  const answer = await call;
  if (answer.error === undefined) return answer.data as SuccessData<A>;
  if (isApiErrorBody(answer.error)) throw new CrmApiError(answer.error, answer.response);
  throw new Error(`HTTP ${answer.response.status} without an API error body`, {
    cause: answer.error,
  });
}

function isApiErrorBody(body: unknown): body is ApiErrorBody {
  const candidate = body as Partial<ApiErrorBody> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.statusCode === 'number' &&
    typeof candidate.code === 'string' &&
    typeof candidate.message === 'string' &&
    typeof candidate.requestId === 'string'
  );
}
