import { loginAttempts } from '../../common/metrics/metrics';
import { HttpStatus, Injectable } from '@nestjs/common';
import { IsNull } from 'typeorm';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { RequestMeta } from '../../common/http/request-context';
import { type SystemTx, UnitOfWork } from '../../tenancy/unit-of-work';
import { AuditAction, AuditService } from '../audit/audit.service';
import { emitEvent } from '../../events/record';
import { OrganizationsService } from '../organizations/organizations.service';
import { UserDto } from '../users/dto/user.dto';
import type { User } from '../users/user.entity';
import { emailTaken, UsersService } from '../users/users.service';
import { LoginDto, RegisterDto } from './dto/auth-input.dto';
import { LoginResponseDto, RegisterResponseDto, TokenPairDto } from './dto/auth-response.dto';
import { PasswordService } from './password.service';
import { RefreshToken } from './refresh-token.entity';
import { RefreshClaims } from './token-claims';
import { hashToken, TokenService } from './token.service';

const invalidCredentials = (): AppException =>
  new AppException(
    HttpStatus.UNAUTHORIZED,
    ErrorCode.INVALID_CREDENTIALS,
    'Invalid email or password',
  );
const invalidRefreshToken = (): AppException =>
  new AppException(
    HttpStatus.UNAUTHORIZED,
    ErrorCode.INVALID_REFRESH_TOKEN,
    'Refresh token is unknown, expired, revoked or already used',
  );

/** Registration, sign-in and token rotation: non-tenant work, in `uow.system` transactions. */
@Injectable()
export class AuthService {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly users: UsersService,
    private readonly organizations: OrganizationsService,
    private readonly passwords: PasswordService,
    private readonly tokens: TokenService,
    private readonly audit: AuditService,
  ) {}

  /**
   * User + organization + owner membership + first token pair, in one transaction, which records
   * `crm.user.registered.v1`, `crm.organization.created.v1` and `crm.member.added.v1` in the new
   * organization.
   */
  async register(input: RegisterDto, meta: RequestMeta): Promise<RegisterResponseDto> {
    if (await this.users.findByEmail(input.email)) throw emailTaken();
    const passwordHash = await this.passwords.hash(input.password);
    return this.uow.system(async (tx) => {
      // A concurrent registration that won the race: 409 EMAIL_TAKEN as well.
      const user = await this.users.create(tx, {
        email: input.email,
        name: input.name,
        passwordHash,
      });
      const organization = await this.organizations.createWithOwner(
        tx,
        user,
        { name: input.organizationName },
        meta,
        (tenant) =>
          emitEvent(tenant, 'crm.user.registered.v1', 'users', user.id, {
            user: UserDto.from(user),
          }),
      );
      await this.audit.record(
        tx,
        {
          action: AuditAction.USER_REGISTERED,
          actorUserId: user.id,
          organizationId: organization.id,
        },
        meta,
      );
      const { pair } = await this.tokens.issue(tx, user.id, meta);
      return { user: UserDto.from(user), organization, ...pair };
    });
  }

  async login(input: LoginDto, meta: RequestMeta): Promise<LoginResponseDto> {
    const user = await this.users.findCredentials(input.email);
    // An unknown email and a user without a password (created by single sign-on) both compare
    // against the dummy hash and fail: same answer, same time as a wrong password.
    const ok = await this.passwords.verify(input.password, user?.passwordHash ?? null);
    if (!user || !ok) {
      loginAttempts.inc({ result: 'failure' });
      await this.audit.recordAlone(
        {
          action: AuditAction.LOGIN_FAILED,
          actorUserId: user?.id ?? null,
          details: { email: input.email },
        },
        meta,
      );
      throw invalidCredentials();
    }
    return this.signIn(user, meta);
  }

  /**
   * The login body of section 2 for a user whose identity was verified elsewhere (single
   * sign-on): a new token pair, `login_succeeded` in the audit log with `details`.
   */
  async loginVerifiedUser(
    userId: string,
    meta: RequestMeta,
    details: Record<string, unknown>,
  ): Promise<LoginResponseDto> {
    return this.signIn(await this.users.get(userId), meta, details);
  }

  private async signIn(
    user: User,
    meta: RequestMeta,
    details?: Record<string, unknown>,
  ): Promise<LoginResponseDto> {
    const pair = await this.uow.system(async (tx) => {
      const issued = await this.tokens.issue(tx, user.id, meta);
      await this.audit.record(
        tx,
        {
          action: AuditAction.LOGIN_SUCCEEDED,
          actorUserId: user.id,
          target: { type: 'refresh_token_family', id: issued.refreshTokenId },
          ...(details ? { details } : {}),
        },
        meta,
      );
      return issued.pair;
    });
    loginAttempts.inc({ result: 'success' });
    const organizations = await this.organizations.listMine(user.id);
    return { user: UserDto.from(user), organizations, ...pair };
  }

  /**
   * Rotation: the presented token is marked used (atomically: of two concurrent refreshes with
   * one token, exactly one wins) and a new pair of the same family is issued. A token that was
   * already used is treated as stolen: its whole family is revoked.
   */
  async refresh(refreshToken: string, meta: RequestMeta): Promise<TokenPairDto> {
    const claims = await this.tokens.readRefreshToken(refreshToken);
    if (!claims) throw invalidRefreshToken();
    const pair = await this.uow.system(async (tx) => {
      const tokens = tx.repo(RefreshToken);
      const rotated = await tokens
        .createQueryBuilder()
        .update()
        .set({ usedAt: () => 'now()' })
        .where('id = :id AND token_hash = :hash', { id: claims.jti, hash: hashToken(refreshToken) })
        .andWhere('used_at IS NULL AND revoked_at IS NULL AND expires_at > now()')
        .execute();
      if (rotated.affected !== 1) return null;
      const issued = await this.tokens.issue(tx, claims.sub, meta, claims.fam);
      await tokens.update({ id: claims.jti }, { replacedById: issued.refreshTokenId });
      await this.audit.record(
        tx,
        {
          action: AuditAction.TOKEN_REFRESHED,
          actorUserId: claims.sub,
          target: { type: 'refresh_token_family', id: claims.fam },
        },
        meta,
      );
      return issued.pair;
    });
    if (pair) return pair;
    await this.detectReuse(claims, refreshToken, meta);
    throw invalidRefreshToken();
  }

  /** Revokes the chain the token belongs to. The token must be the caller's and still valid. */
  async logout(userId: string, refreshToken: string, meta: RequestMeta): Promise<void> {
    const claims = await this.tokens.readRefreshToken(refreshToken);
    if (!claims || claims.sub !== userId) throw invalidRefreshToken();
    const loggedOut = await this.uow.system(async (tx) => {
      const token = await tx.repo(RefreshToken).findOne({
        where: {
          id: claims.jti,
          tokenHash: hashToken(refreshToken),
          usedAt: IsNull(),
          revokedAt: IsNull(),
        },
        lock: { mode: 'pessimistic_write' },
      });
      if (!token || token.expiresAt <= new Date()) return false;
      await this.revokeFamily(tx, claims.fam);
      await this.audit.record(
        tx,
        {
          action: AuditAction.LOGGED_OUT,
          actorUserId: userId,
          target: { type: 'refresh_token_family', id: claims.fam },
        },
        meta,
      );
      return true;
    });
    if (loggedOut) return;
    await this.detectReuse(claims, refreshToken, meta);
    throw invalidRefreshToken();
  }

  /** A genuine token (hash matches) that was already exchanged: revoke its family, audit it. */
  private async detectReuse(
    claims: RefreshClaims,
    refreshToken: string,
    meta: RequestMeta,
  ): Promise<void> {
    await this.uow.system(async (tx) => {
      const used = await tx.repo(RefreshToken).findOneBy({
        id: claims.jti,
        tokenHash: hashToken(refreshToken),
      });
      if (!used?.usedAt) return;
      const revoked = await this.revokeFamily(tx, claims.fam);
      await this.audit.record(
        tx,
        {
          action: AuditAction.REFRESH_TOKEN_REUSED,
          actorUserId: claims.sub,
          target: { type: 'refresh_token_family', id: claims.fam },
          details: { tokenId: claims.jti, revokedTokens: revoked },
        },
        meta,
      );
    });
  }

  private async revokeFamily(tx: SystemTx, familyId: string): Promise<number> {
    const result = await tx
      .repo(RefreshToken)
      .update({ familyId, revokedAt: IsNull() }, { revokedAt: () => 'now()' });
    return result.affected ?? 0;
  }
}
