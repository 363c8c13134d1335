import { randomBytes } from 'node:crypto';
import {
  type BeforeApplicationShutdown,
  HttpStatus,
  Inject,
  Injectable,
  Logger,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { AuthUser, RequestMeta } from '../../common/http/request-context';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { type SystemTx, UnitOfWork } from '../../tenancy/unit-of-work';
import { AuditAction, AuditService } from '../audit/audit.service';
import { DEFAULT_TEMPLATES } from '../notifications/default-templates';
import { NotificationSend } from '../notifications/notification-send.entity';
import { NotificationSender } from '../notifications/sending/notification-sender';
import { htmlToText, renderTemplate } from '../notifications/template-engine';
import { AccountService } from '../users/account.service';
import type { ChangePasswordDto, DeleteAccountDto } from '../users/dto/account.dto';
import type { User } from '../users/user.entity';
import { UsersService } from '../users/users.service';
import { isTheEmail, PASSWORD_RULES, type ResetPasswordDto } from './dto/password-reset.dto';
import { PasswordResetToken } from './password-reset-token.entity';
import { PasswordService } from './password.service';
import { RefreshToken } from './refresh-token.entity';
import { hashToken, TokenService } from './token.service';

/** How long a reset token works (API.md section 16). */
export const RESET_TOKEN_TTL_MINUTES = 60;

/** The answer of every POST /auth/password/forgot, whether an account exists or not. */
export const FORGOT_ANSWER = {
  message: 'If an account exists for this email, a password reset link has been sent to it.',
};

/**
 * The email: the shipped `password.reset` template of the notifications (API.md section 14),
 * plus the token itself, for a client that asks for it rather than opening the link. Rendered by
 * the notifications' template engine (Handlebars, values HTML-escaped in the body).
 */
const EMAIL = DEFAULT_TEMPLATES['password.reset'].email;
const EMAIL_BODY =
  EMAIL.body +
  '<p>If the link does not open, paste this token into the password reset form: ' +
  '<code>{{token}}</code></p>';

const invalidCredentials = (message = 'Invalid password'): AppException =>
  new AppException(HttpStatus.UNAUTHORIZED, ErrorCode.INVALID_CREDENTIALS, message);

const invalidResetToken = (): AppException =>
  AppException.validation(
    [{ field: 'token', message: 'token is unknown, already used or expired' }],
    'The password reset token is unknown, already used or expired',
  );

const passwordIsEmail = (field: string): AppException =>
  AppException.validation([{ field, message: PASSWORD_RULES }]);

const noKeys = (user: AuthUser): void => {
  if (user.apiKey) throw AppException.forbidden('An API key may not change the account itself');
};

/**
 * Password reset and account self-service (API.md section 16):
 * - `forgot` answers at once, the same whatever the email, and does the work afterwards: for an
 *   existing account (with or without a password: a single sign-on user may set one this way)
 *   a single-use token valid one hour (only its SHA-256 is stored) and the email, written as a
 *   notification_sends row in the same transaction: the notification sender delivers it (SMTP
 *   or .eml files) with its retries, so an email survives a restart. Earlier unexpired tokens
 *   stay valid until one of them is used.
 * - `reset` spends the token, sets the password, spends the user's other outstanding tokens and
 *   revokes every refresh token of the user, in one transaction, audited `password_reset`.
 * - `changePassword` checks the current password, sets the new one, spends outstanding reset
 *   tokens and revokes the refresh tokens of every other session (the session is the access
 *   token's `sid`: its refresh token family), audited `password_changed`.
 * - `deleteAccount` checks the password, then erases the account (AccountService).
 * Access tokens already issued stay valid until they expire (at most 15 minutes): they are not
 * stored, so they cannot be revoked.
 */
@Injectable()
export class PasswordResetService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('PasswordReset');
  /** Reset requests answered and still being worked on (awaited on shutdown). */
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly uow: UnitOfWork,
    private readonly users: UsersService,
    private readonly account: AccountService,
    private readonly passwords: PasswordService,
    private readonly tokens: TokenService,
    private readonly audit: AuditService,
    private readonly moduleRef: ModuleRef,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * POST /auth/password/forgot: starts the work and returns without waiting for it, so the
   * answer and its timing do not depend on whether the account exists (no enumeration).
   */
  forgot(email: string, meta: RequestMeta): typeof FORGOT_ANSWER {
    const work: Promise<void> = this.requestReset(email, meta)
      .catch((error: unknown) =>
        this.logger.error(`password reset request failed: ${(error as Error).message}`),
      )
      .finally(() => this.pending.delete(work));
    this.pending.add(work);
    return FORGOT_ANSWER;
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  /** The work of `forgot`: a token and its email for an existing account, an audit entry. */
  async requestReset(email: string, meta: RequestMeta): Promise<void> {
    const user = await this.users.findByEmail(email);
    if (!user) {
      await this.audit.recordAlone(
        { action: AuditAction.PASSWORD_RESET_REQUESTED, actorUserId: null, details: { email } },
        meta,
      );
      return;
    }
    const token = randomBytes(32).toString('base64url');
    await this.uow.system(async (tx) => {
      const { identifiers } = await tx.repo(PasswordResetToken).insert({
        userId: user.id,
        tokenHash: hashToken(token),
        // The database's clock, as the check in `reset` (copies' clocks may differ).
        expiresAt: () => `now() + interval '${RESET_TOKEN_TTL_MINUTES} minutes'`,
      });
      const tokenId = (identifiers[0] as { id: string }).id;
      await this.writeEmail(tx, user, token, tokenId, meta);
      await this.audit.record(
        tx,
        {
          action: AuditAction.PASSWORD_RESET_REQUESTED,
          actorUserId: user.id,
          target: { type: 'password_reset_token', id: tokenId },
        },
        meta,
      );
    });
    this.wakeSender();
  }

  /** POST /auth/password/reset. */
  async reset(input: ResetPasswordDto, meta: RequestMeta): Promise<void> {
    const tokenHash = hashToken(input.token);
    const found = await this.uow
      .systemRead()
      .repo(PasswordResetToken)
      .createQueryBuilder('t')
      .where('t.token_hash = :tokenHash', { tokenHash })
      .andWhere('t.used_at IS NULL AND t.expires_at > now()')
      .getOne();
    if (!found) throw invalidResetToken();
    const user = await this.users.findCredentialsById(found.userId);
    if (!user) throw invalidResetToken();
    if (isTheEmail(input.password, user.email)) throw passwordIsEmail('password');
    const passwordHash = await this.passwords.hash(input.password);
    await this.uow.system(async (tx) => {
      // Spent atomically: of two concurrent resets with one token, exactly one wins.
      const spent = await tx
        .repo(PasswordResetToken)
        .createQueryBuilder()
        .update()
        .set({ usedAt: () => 'now()' })
        .where('id = :id AND used_at IS NULL AND expires_at > now()', { id: found.id })
        .execute();
      if (spent.affected !== 1) throw invalidResetToken();
      await this.users.setPasswordHash(tx, user.id, passwordHash);
      const otherTokens = await this.spendResetTokens(tx, user.id);
      const revoked = await this.revokeRefreshTokens(tx, user.id, null);
      await this.audit.record(
        tx,
        {
          action: AuditAction.PASSWORD_RESET,
          actorUserId: user.id,
          target: { type: 'user', id: user.id },
          details: {
            resetTokenId: found.id,
            revokedRefreshTokens: revoked,
            spentResetTokens: otherTokens,
          },
        },
        meta,
      );
    });
  }

  /** POST /users/me/password. `accessToken`: the caller's, whose session is kept. */
  async changePassword(
    caller: AuthUser,
    accessToken: string | null,
    input: ChangePasswordDto,
    meta: RequestMeta,
  ): Promise<void> {
    noKeys(caller);
    const user = await this.credentialsOf(caller.id);
    if (isTheEmail(input.newPassword, user.email)) throw passwordIsEmail('newPassword');
    const verified = user.passwordHash ?? null;
    if (!(await this.passwords.verify(input.currentPassword, verified))) throw invalidCredentials();
    const session = accessToken ? await this.tokens.sessionOf(accessToken) : null;
    const passwordHash = await this.passwords.hash(input.newPassword);
    await this.uow.system(async (tx) => {
      const locked = await this.users.findCredentialsById(caller.id, tx, true);
      // Changed since it was verified (a concurrent change or reset): the current one is another.
      if (!locked || (locked.passwordHash ?? null) !== verified) throw invalidCredentials();
      await this.users.setPasswordHash(tx, caller.id, passwordHash);
      const spent = await this.spendResetTokens(tx, caller.id);
      const revoked = await this.revokeRefreshTokens(tx, caller.id, session);
      await this.audit.record(
        tx,
        {
          action: AuditAction.PASSWORD_CHANGED,
          actorUserId: caller.id,
          target: { type: 'user', id: caller.id },
          details: {
            keptSession: session,
            revokedRefreshTokens: revoked,
            spentResetTokens: spent,
          },
        },
        meta,
      );
    });
  }

  /** DELETE /users/me. */
  async deleteAccount(caller: AuthUser, input: DeleteAccountDto, meta: RequestMeta): Promise<void> {
    noKeys(caller);
    const user = await this.credentialsOf(caller.id);
    // A user without a password (single sign-on) is refused like a wrong password: they set one
    // through the reset flow first.
    const verified = user.passwordHash ?? null;
    if (!(await this.passwords.verify(input.password, verified))) throw invalidCredentials();
    await this.account.erase(caller.id, verified, meta);
  }

  private async credentialsOf(userId: string): Promise<User> {
    const user = await this.users.findCredentialsById(userId);
    if (!user) throw AppException.unauthenticated('The account of this token does not exist');
    return user;
  }

  /** Renders the reset email and writes its send row (delivered by the notification sender). */
  private async writeEmail(
    tx: SystemTx,
    user: User,
    token: string,
    tokenId: string,
    meta: RequestMeta,
  ): Promise<void> {
    const resetUrl = `${this.config.publicUrl}/reset-password?token=${encodeURIComponent(token)}`;
    const values = {
      recipientName: user.name,
      organizationName: null,
      appUrl: this.config.publicUrl,
      resetUrl,
      expiresInMinutes: String(RESET_TOKEN_TTL_MINUTES),
      token,
    };
    const subject = renderTemplate(EMAIL.subject ?? '', values, false);
    const body = renderTemplate(EMAIL_BODY, values, true);
    await tx.repo(NotificationSend).insert({
      organizationId: null,
      userId: user.id,
      kind: 'password.reset',
      channel: 'email',
      dedupeKey: `password.reset:${tokenId}`,
      recipient: user.email,
      subject: subject.replace(/[\r\n]+/g, ' ').trim(),
      body,
      textBody: htmlToText(body),
      eventId: null,
      requestId: meta.requestId || null,
    });
  }

  /**
   * The sender of this copy looks at its rows at once (otherwise within its idle poll). It
   * belongs to the notifications module, which does not export it.
   */
  private wakeSender(): void {
    try {
      this.moduleRef.get(NotificationSender, { strict: false }).wakeUp();
    } catch {
      // No sender in this application: the rows wait for one.
    }
  }

  /** Spends every outstanding reset token of the user; how many there were. */
  private async spendResetTokens(tx: SystemTx, userId: string): Promise<number> {
    const result = await tx
      .repo(PasswordResetToken)
      .createQueryBuilder()
      .update()
      .set({ usedAt: () => 'now()' })
      .where('user_id = :userId AND used_at IS NULL', { userId })
      .execute();
    return result.affected ?? 0;
  }

  /** Revokes the user's live refresh tokens, but those of the family `keep`; how many. */
  private async revokeRefreshTokens(
    tx: SystemTx,
    userId: string,
    keep: string | null,
  ): Promise<number> {
    const query = tx
      .repo(RefreshToken)
      .createQueryBuilder()
      .update()
      .set({ revokedAt: () => 'now()' })
      .where('user_id = :userId AND revoked_at IS NULL', { userId });
    if (keep) query.andWhere('family_id <> :keep', { keep });
    return (await query.execute()).affected ?? 0;
  }
}
