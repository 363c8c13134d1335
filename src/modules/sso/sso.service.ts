import { createHash } from 'node:crypto';
import { HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import * as oidc from 'openid-client';
import type { Repository } from 'typeorm';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { RequestMeta } from '../../common/http/request-context';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { isUniqueViolation } from '../../database/pg-errors';
import { UnitOfWork } from '../../tenancy/unit-of-work';
import { AuditAction, AuditService } from '../audit/audit.service';
import { AuthService } from '../auth/auth.service';
import type { LoginResponseDto } from '../auth/dto/auth-response.dto';
import { User } from '../users/user.entity';
import { UsersService } from '../users/users.service';
import { SsoLogin } from './sso-login.entity';
import {
  isAllowedRedirect,
  nameOf,
  type ProviderClaims,
  verifiedEmailOf,
  withTokensInFragment,
} from './sso-rules';
import { UserIdentity } from './user-identity.entity';

/** How long a started sign-in may be finished (API.md section 16: state expires). */
export const SSO_LOGIN_TTL_MS = 10 * 60 * 1000;
/** Seconds an HTTP call to the identity provider may take (discovery, token, userinfo). */
const PROVIDER_TIMEOUT_SECONDS = 10;
const SCOPE = 'openid email profile';

type OidcSettings = NonNullable<AppConfig['oidc']>;

/** Why a callback was refused: recorded in the audit log (login_failed, details.reason). */
type Refusal =
  | 'invalid_state'
  | 'provider_error'
  | 'exchange_failed'
  | 'email_missing'
  | 'email_not_verified'
  | 'identity_conflict';

const MESSAGES: Record<Refusal, string> = {
  invalid_state:
    'The sign-in is unknown, expired or already used; start again from /auth/oidc/authorize',
  provider_error: 'The identity provider did not complete the sign-in',
  exchange_failed: "The identity provider's answer could not be verified",
  email_missing: 'The identity provider gave no email address for this account',
  email_not_verified: 'The email address of this account is not verified at the identity provider',
  identity_conflict:
    'This email belongs to an account linked to another identity at the identity provider',
};

class SsoRefused extends Error {
  constructor(
    readonly reason: Refusal,
    readonly details: Record<string, unknown> = {},
    readonly userId: string | null = null,
  ) {
    super(MESSAGES[reason]);
  }
}

/**
 * An error of openid-client for the logs and the audit entry: its message and its cause's
 * (openid-client wraps the precise reason, e.g. `unexpected ID Token "nonce" claim value`).
 */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const parts = [error.message];
  if (error.cause instanceof Error) parts.push(error.cause.message);
  // A token endpoint's error answer (ResponseBodyError): its OAuth error and description.
  const { error: code, error_description: description } = error as {
    error?: unknown;
    error_description?: unknown;
  };
  if (typeof code === 'string') parts.push(code);
  if (typeof description === 'string') parts.push(description);
  return parts.join(': ');
}

/** Text from outside for the audit log (jsonb): no control characters (NUL), well-formed. */
const auditText = (value: string, max: number): string =>
  value
    .slice(0, max)
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
    .replace(/\p{Cc}/gu, '');

const hashState = (state: string): string => createHash('sha256').update(state).digest('hex');

/** What the callback answers: the login body, and where to send it when the flow asked so. */
export interface SsoResult {
  login: LoginResponseDto;
  /** `redirectTo` with the tokens in the fragment; null: answer the login body (200). */
  redirectUrl: string | null;
}

/**
 * Single sign-on with OpenID Connect (API.md section 16): authorization code flow with PKCE
 * (S256), `state` and `nonce`, through openid-client. The pending sign-in lives in `sso_logins`
 * (any copy can finish it, once); a verified email signs in its user, created on first sign-in
 * without a password, and linked to the provider's subject (`user_identities`).
 */
@Injectable()
export class SsoService {
  private readonly logger = new Logger('SingleSignOn');
  /** The provider's configuration, discovered on first use; forgotten when discovery failed. */
  private discovered?: Promise<oidc.Configuration>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly uow: UnitOfWork,
    private readonly users: UsersService,
    private readonly auth: AuthService,
    private readonly audit: AuditService,
  ) {}

  /**
   * Starts a sign-in: stores state, nonce and PKCE verifier (10 minutes), and answers the
   * provider's authorization URL. `redirectTo` must be on OIDC_ALLOWED_REDIRECTS.
   */
  async authorizationUrl(redirectTo: string | undefined): Promise<string> {
    const settings = this.settings();
    if (redirectTo !== undefined && !isAllowedRedirect(redirectTo, settings.allowedRedirects)) {
      throw AppException.validation(
        [
          {
            field: 'redirectTo',
            message: 'redirectTo must be an address on OIDC_ALLOWED_REDIRECTS',
          },
        ],
        'redirectTo is not an allowed address',
      );
    }
    const configuration = await this.configuration(settings);
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const codeChallenge = await oidc.calculatePKCECodeChallenge(codeVerifier);
    await this.uow.system(async (tx) => {
      const logins = tx.repo(SsoLogin);
      await this.deleteExpired(logins);
      await logins.insert({
        stateHash: hashState(state),
        nonce,
        codeVerifier,
        redirectTo: redirectTo ?? null,
        expiresAt: new Date(Date.now() + SSO_LOGIN_TTL_MS),
      });
    });
    return oidc
      .buildAuthorizationUrl(configuration, {
        redirect_uri: settings.redirectUri,
        response_type: 'code',
        scope: SCOPE,
        state,
        nonce,
        code_challenge: codeChallenge,
        code_challenge_method: 'S256',
      })
      .toString();
  }

  /**
   * Finishes a sign-in from the provider's redirect (`query`: the callback's query string). Any
   * failure to verify is 401 UNAUTHENTICATED, audited as login_failed.
   */
  async callback(query: URLSearchParams, meta: RequestMeta): Promise<SsoResult> {
    const settings = this.settings();
    try {
      return await this.finish(settings, query, meta);
    } catch (error) {
      if (!(error instanceof SsoRefused)) throw error;
      await this.audit.recordAlone(
        {
          action: AuditAction.LOGIN_FAILED,
          actorUserId: error.userId,
          details: { method: 'oidc', reason: error.reason, ...error.details },
        },
        meta,
      );
      throw AppException.unauthenticated(error.message);
    }
  }

  private async finish(
    settings: OidcSettings,
    query: URLSearchParams,
    meta: RequestMeta,
  ): Promise<SsoResult> {
    const state = query.get('state');
    // Spent first, whatever follows: a state is good for one callback only.
    const login = state && state.length <= 512 ? await this.consume(state) : null;
    if (!login) throw new SsoRefused('invalid_state');
    const providerError = query.get('error');
    if (providerError !== null) {
      throw new SsoRefused('provider_error', { error: auditText(providerError, 100) });
    }
    const configuration = await this.configuration(settings);
    const claims = await this.exchange(settings, configuration, query, login);
    const verified = verifiedEmailOf(claims);
    const issuer = configuration.serverMetadata().issuer;
    if ('refused' in verified) throw new SsoRefused(verified.refused, { issuer });
    const { userId, created } = await this.linkWithRetry(issuer, claims, verified.email, meta);
    const body = await this.auth.loginVerifiedUser(userId, meta, {
      method: 'oidc',
      issuer,
      ...(created ? { created: true } : {}),
    });
    return {
      login: body,
      redirectUrl: login.redirectTo ? withTokensInFragment(login.redirectTo, body) : null,
    };
  }

  /** Deletes and answers the pending sign-in of `state` if it has not expired (single use). */
  private async consume(state: string): Promise<SsoLogin | null> {
    return this.uow.system(async (tx) => {
      const logins = tx.repo(SsoLogin);
      const deleted = await logins
        .createQueryBuilder()
        .delete()
        .where('state_hash = :hash', { hash: hashState(state) })
        .returning('*')
        .execute();
      await this.deleteExpired(logins);
      const [row] = (deleted.raw ?? []) as {
        nonce: string;
        code_verifier: string;
        redirect_to: string | null;
        expires_at: Date;
      }[];
      if (!row || new Date(row.expires_at).getTime() <= Date.now()) return null;
      return logins.create({
        nonce: row.nonce,
        codeVerifier: row.code_verifier,
        redirectTo: row.redirect_to,
        expiresAt: new Date(row.expires_at),
      });
    });
  }

  /**
   * The code exchange (PKCE verifier, state, nonce, and every check of the ID token by
   * openid-client), then the claims: the ID token's, or the userinfo's (checked to be the same
   * subject) when the ID token carries no email.
   */
  private async exchange(
    settings: OidcSettings,
    configuration: oidc.Configuration,
    query: URLSearchParams,
    login: SsoLogin,
  ): Promise<ProviderClaims> {
    // The redirect URI as registered (not the Host of this request, which a proxy may change),
    // with the provider's parameters.
    const currentUrl = new URL(settings.redirectUri);
    currentUrl.search = query.toString();
    try {
      const tokens = await oidc.authorizationCodeGrant(configuration, currentUrl, {
        pkceCodeVerifier: login.codeVerifier,
        expectedState: query.get('state') ?? undefined,
        expectedNonce: login.nonce,
        idTokenExpected: true,
      });
      const idToken = tokens.claims();
      if (!idToken) throw new Error('no ID token');
      // OpenID Connect Core 2: at most 255 ASCII characters (stored in user_identities).
      if (idToken.sub.length > 255 || /\p{Cc}/u.test(idToken.sub)) {
        throw new Error('the "sub" claim is not a valid subject identifier');
      }
      if (typeof idToken.email === 'string') return idToken;
      const userinfo = await oidc.fetchUserInfo(configuration, tokens.access_token, idToken.sub);
      return { ...userinfo, sub: idToken.sub };
    } catch (error) {
      const message = describeError(error);
      this.logger.warn(`OIDC code exchange refused: ${message}`);
      throw new SsoRefused('exchange_failed', { error: auditText(message, 300) });
    }
  }

  /** `link`, once more when a concurrent first sign-in of the same user won a race. */
  private async linkWithRetry(
    issuer: string,
    claims: ProviderClaims,
    email: string,
    meta: RequestMeta,
  ): Promise<{ userId: string; created: boolean }> {
    try {
      return await this.link(issuer, claims, email, meta);
    } catch (error) {
      const raced =
        isUniqueViolation(error) ||
        (error instanceof AppException && error.code === ErrorCode.EMAIL_TAKEN);
      if (!raced) throw error;
      return this.link(issuer, claims, email, meta);
    }
  }

  /**
   * The user of the provider's account: the one linked to (issuer, subject); else the user with
   * this verified email, now linked; else a new user without a password, linked. A user already
   * linked to another subject of the same issuer is refused (the email moved to another account
   * at the provider).
   */
  private link(
    issuer: string,
    claims: ProviderClaims,
    email: string,
    meta: RequestMeta,
  ): Promise<{ userId: string; created: boolean }> {
    return this.uow.system(async (tx) => {
      const identities = tx.repo(UserIdentity);
      const now = new Date();
      const linked = await identities.findOneBy({ issuer, subject: claims.sub });
      if (linked) {
        await identities.update({ id: linked.id }, { email, lastLoginAt: now });
        return { userId: linked.userId, created: false };
      }
      let user = await tx.repo(User).findOneBy({ email });
      if (user && (await identities.existsBy({ userId: user.id, issuer }))) {
        throw new SsoRefused('identity_conflict', { issuer }, user.id);
      }
      const created = !user;
      if (!user) {
        user = await this.users.create(tx, {
          email,
          name: nameOf(claims, email),
          passwordHash: null,
        });
        await this.audit.record(
          tx,
          {
            action: AuditAction.USER_REGISTERED,
            actorUserId: user.id,
            details: { method: 'oidc', issuer },
          },
          meta,
        );
      }
      await identities.insert({
        userId: user.id,
        issuer,
        subject: claims.sub,
        email,
        lastLoginAt: now,
      });
      return { userId: user.id, created };
    });
  }

  /** Expired sign-ins are deleted by the next flow that starts or ends (no timer needed). */
  private async deleteExpired(logins: Repository<SsoLogin>): Promise<void> {
    await logins.createQueryBuilder().delete().where('expires_at <= now()').execute();
  }

  /** The OIDC settings, or 404 NOT_FOUND when single sign-on is not configured. */
  private settings(): OidcSettings {
    if (!this.config.oidc) {
      throw new AppException(
        HttpStatus.NOT_FOUND,
        ErrorCode.NOT_FOUND,
        'Single sign-on is not configured',
      );
    }
    return this.config.oidc;
  }

  /**
   * The provider's configuration, discovered once (its metadata and keys are cached by
   * openid-client). A failed discovery is not cached: 503 NOT_READY, retried on the next call.
   */
  private configuration(settings: OidcSettings): Promise<oidc.Configuration> {
    this.discovered ??= this.discover(settings).catch((error: unknown) => {
      this.discovered = undefined;
      this.logger.error(`OIDC discovery of ${settings.issuer} failed: ${describeError(error)}`);
      throw new AppException(
        HttpStatus.SERVICE_UNAVAILABLE,
        ErrorCode.NOT_READY,
        'The identity provider cannot be reached; retry shortly',
      );
    });
    return this.discovered;
  }

  private discover(settings: OidcSettings): Promise<oidc.Configuration> {
    const issuer = new URL(settings.issuer);
    // openid-client talks HTTPS only. A plain-http issuer is accepted outside production only
    // (the tests run a provider on http://127.0.0.1); in production it is refused (the
    // discovery fails, 503).
    const insecure = issuer.protocol === 'http:' && !this.config.isProduction;
    return oidc.discovery(
      issuer,
      settings.clientId,
      undefined,
      settings.clientSecret ? oidc.ClientSecretPost(settings.clientSecret) : oidc.None(),
      {
        execute: insecure ? [oidc.allowInsecureRequests] : [],
        timeout: PROVIDER_TIMEOUT_SECONDS,
      },
    );
  }
}
