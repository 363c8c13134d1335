import { HttpStatus, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, IsNull } from 'typeorm';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { RequestMeta } from '../../common/http/request-context';
import { isUniqueViolation } from '../../database/pg-errors';
import { AuditAction, AuditService } from '../audit/audit.service';
import { OrganizationsService } from '../organizations/organizations.service';
import { UserDto } from '../users/dto/user.dto';
import { User } from '../users/user.entity';
import { UsersService } from '../users/users.service';
import { LoginDto, RegisterDto } from './dto/auth-input.dto';
import { LoginResponseDto, RegisterResponseDto, TokenPairDto } from './dto/auth-response.dto';
import { PasswordService } from './password.service';
import { RefreshToken } from './refresh-token.entity';
import { RefreshClaims } from './token-claims';
import { hashToken, TokenService } from './token.service';

const emailTaken = (): AppException =>
  AppException.conflict(ErrorCode.EMAIL_TAKEN, 'An account with this email already exists');
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

@Injectable()
export class AuthService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly users: UsersService,
    private readonly organizations: OrganizationsService,
    private readonly passwords: PasswordService,
    private readonly tokens: TokenService,
    private readonly audit: AuditService,
  ) {}

  /** User + organization + owner membership + first token pair, in one transaction. */
  async register(input: RegisterDto, meta: RequestMeta): Promise<RegisterResponseDto> {
    if (await this.users.findByEmail(input.email)) throw emailTaken();
    const passwordHash = await this.passwords.hash(input.password);
    return this.dataSource.transaction(async (manager) => {
      let user: User;
      try {
        user = await manager.save(
          manager.create(User, { email: input.email, name: input.name, passwordHash }),
        );
      } catch (e) {
        if (isUniqueViolation(e)) throw emailTaken(); // a concurrent registration won the race
        throw e;
      }
      const organization = await this.organizations.createWithOwner(
        manager,
        user.id,
        { name: input.organizationName },
        meta,
      );
      await this.audit.record(
        {
          action: AuditAction.USER_REGISTERED,
          actorUserId: user.id,
          organizationId: organization.id,
        },
        meta,
        manager,
      );
      const { pair } = await this.tokens.issue(manager, user.id, meta);
      return { user: UserDto.from(user), organization, ...pair };
    });
  }

  async login(input: LoginDto, meta: RequestMeta): Promise<LoginResponseDto> {
    const user = await this.users.findCredentials(input.email);
    const ok = await this.passwords.verify(input.password, user?.passwordHash ?? null);
    if (!user || !ok) {
      await this.audit.record(
        {
          action: AuditAction.LOGIN_FAILED,
          actorUserId: user?.id ?? null,
          details: { email: input.email },
        },
        meta,
      );
      throw invalidCredentials();
    }
    const pair = await this.dataSource.transaction(async (manager) => {
      const issued = await this.tokens.issue(manager, user.id, meta);
      await this.audit.record(
        {
          action: AuditAction.LOGIN_SUCCEEDED,
          actorUserId: user.id,
          target: { type: 'refresh_token_family', id: issued.refreshTokenId },
        },
        meta,
        manager,
      );
      return issued.pair;
    });
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
    const pair = await this.dataSource.transaction(async (manager) => {
      const rotated = await manager
        .createQueryBuilder()
        .update(RefreshToken)
        .set({ usedAt: () => 'now()' })
        .where('id = :id AND token_hash = :hash', { id: claims.jti, hash: hashToken(refreshToken) })
        .andWhere('used_at IS NULL AND revoked_at IS NULL AND expires_at > now()')
        .execute();
      if (rotated.affected !== 1) return null;
      const issued = await this.tokens.issue(manager, claims.sub, meta, claims.fam);
      await manager.update(
        RefreshToken,
        { id: claims.jti },
        { replacedById: issued.refreshTokenId },
      );
      await this.audit.record(
        {
          action: AuditAction.TOKEN_REFRESHED,
          actorUserId: claims.sub,
          target: { type: 'refresh_token_family', id: claims.fam },
        },
        meta,
        manager,
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
    const loggedOut = await this.dataSource.transaction(async (manager) => {
      const token = await manager.findOne(RefreshToken, {
        where: {
          id: claims.jti,
          tokenHash: hashToken(refreshToken),
          usedAt: IsNull(),
          revokedAt: IsNull(),
        },
        lock: { mode: 'pessimistic_write' },
      });
      if (!token || token.expiresAt <= new Date()) return false;
      await this.revokeFamily(manager, claims.fam);
      await this.audit.record(
        {
          action: AuditAction.LOGGED_OUT,
          actorUserId: userId,
          target: { type: 'refresh_token_family', id: claims.fam },
        },
        meta,
        manager,
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
    await this.dataSource.transaction(async (manager) => {
      const used = await manager.findOneBy(RefreshToken, {
        id: claims.jti,
        tokenHash: hashToken(refreshToken),
      });
      if (!used?.usedAt) return;
      const revoked = await this.revokeFamily(manager, claims.fam);
      await this.audit.record(
        {
          action: AuditAction.REFRESH_TOKEN_REUSED,
          actorUserId: claims.sub,
          target: { type: 'refresh_token_family', id: claims.fam },
          details: { tokenId: claims.jti, revokedTokens: revoked },
        },
        meta,
        manager,
      );
    });
  }

  private async revokeFamily(manager: EntityManager, familyId: string): Promise<number> {
    const result = await manager.update(
      RefreshToken,
      { familyId, revokedAt: IsNull() },
      { revokedAt: () => 'now()' },
    );
    return result.affected ?? 0;
  }
}
