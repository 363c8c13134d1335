import { Injectable } from '@nestjs/common';
import { AppException } from '../../common/errors/app.exception';
import type { ListQueryDto } from '../../common/pagination/list-query.dto';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { selectAs } from '../../common/pagination/select-as';
import { type Actor, hasRole } from '../../tenancy/actor';
import { ApiKey } from '../../tenancy/api-key.entity';
import { ApiKeyAuthenticator, newApiKey } from '../../tenancy/api-keys';
import { Role } from '../../tenancy/role';
import { grantsOfRole } from '../../tenancy/role-grants';
import { UnitOfWork } from '../../tenancy/unit-of-work';
import { AuditAction, AuditService } from '../audit/audit.service';
import { ApiKeyDto, type CreateApiKeyDto, type CreatedApiKeyDto } from './dto/api-key.dto';

const COLUMNS = [
  'id',
  'organizationId',
  'userId',
  'name',
  'role',
  'prefix',
  'expiresAt',
  'lastUsedAt',
  'revokedAt',
  'createdAt',
] as const;

/**
 * API keys (API.md section 16): created with one of the organization's roles, never granting
 * more than the creator holds; shown once and stored as a SHA-256; revoked at once on every copy
 * (ApiKeyAuthenticator.revoked). Creation and revocation are audited.
 */
@Injectable()
export class ApiKeysService {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly authenticator: ApiKeyAuthenticator,
    private readonly audit: AuditService,
  ) {}

  list(actor: Actor, query: ListQueryDto): Promise<ListResult<ApiKeyDto>> {
    const reader = this.uow.read(actor);
    return reader.list(
      reader.query(ApiKey, 'k').select(selectAs('k', COLUMNS)),
      query,
      { column: 'k.created_at', type: 'timestamptz', id: 'k.id' },
      // lastUsedAt changes outside the organization's writes.
      { endpoint: 'api-keys', orderBy: 'createdAt', fresh: true },
      (row: ApiKey) => ApiKeyDto.from(row),
    );
  }

  async create(actor: Actor, input: CreateApiKeyDto): Promise<CreatedApiKeyDto> {
    const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
    if (expiresAt && expiresAt.getTime() <= Date.now()) {
      throw AppException.validation([
        { field: 'expiresAt', message: 'expiresAt must be in the future' },
      ]);
    }
    return this.audit.audited(actor, 'api_key', async (tx, audit) => {
      const grants = await grantsOfRole(tx, input.role);
      if (!grants) {
        throw AppException.validation([
          { field: 'role', message: "role must be one of the organization's roles" },
        ]);
      }
      if (
        !grants.within(actor.grants) ||
        (hasRole(input, Role.OWNER) && !hasRole(actor, Role.OWNER))
      ) {
        throw AppException.forbidden('An API key cannot grant what your role lacks');
      }
      const { key, hash, prefix } = newApiKey();
      const keys = tx.repo(ApiKey);
      const saved = await keys.save(
        keys.create({
          userId: actor.userId,
          name: input.name,
          role: input.role,
          prefix,
          keyHash: hash,
          expiresAt,
        }),
      );
      await audit(AuditAction.API_KEY_CREATED, saved.id, { role: saved.role, name: saved.name });
      return {
        id: saved.id,
        name: saved.name,
        role: saved.role,
        prefix: saved.prefix,
        key,
        expiresAt: saved.expiresAt?.toISOString() ?? null,
        createdAt: saved.createdAt.toISOString(),
      };
    });
  }

  async revoke(actor: Actor, id: string): Promise<void> {
    await this.audit.audited(actor, 'api_key', async (tx, audit) => {
      const key = await tx
        .query(ApiKey, 'k')
        .andWhere('k.id = :id', { id })
        .setLock('pessimistic_write')
        .getOne();
      if (!key) throw AppException.notFound('API key');
      if (key.revokedAt) return;
      await tx.repo(ApiKey).update({ id }, { revokedAt: new Date() });
      await audit(AuditAction.API_KEY_REVOKED, key.id, { name: key.name });
      tx.afterCommit(() => this.authenticator.revoked(id));
    });
  }
}
