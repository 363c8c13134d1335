import { Inject, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { OrganizationMember } from './organization-member.entity';
import { Role } from './role';

interface CachedRole {
  role: Role | null;
  expiresAt: number;
}

/**
 * Answers "which role does this user have in this organization?" for the OrganizationGuard on
 * every tenant-scoped request. Answers are cached for MEMBERSHIP_CACHE_TTL_MS (0 disables the
 * cache); every membership change in this process invalidates its entry at once. Other app
 * copies see a change after at most the TTL (the cache is per process; see docs/decisions).
 */
@Injectable()
export class MembershipService {
  private readonly cache = new Map<string, CachedRole>();
  private static readonly MAX_ENTRIES = 50_000;
  /**
   * Bumped by every invalidate(). A lookup that was in flight while an invalidation happened
   * may have read the old row, so its answer is returned but not cached (otherwise a member
   * removed or re-roled during a concurrent request of theirs kept the old role for a TTL).
   */
  private generation = 0;

  constructor(
    @InjectRepository(OrganizationMember) private readonly members: Repository<OrganizationMember>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Pass the transaction's `manager` when calling from inside one: the lookup then uses the
   * transaction's connection instead of waiting for a second one from the pool.
   */
  async roleOf(
    userId: string,
    organizationId: string,
    manager?: EntityManager,
  ): Promise<Role | null> {
    const key = `${organizationId}:${userId}`;
    const ttl = this.config.membershipCacheTtlMs;
    const hit = this.cache.get(key);
    if (hit && hit.expiresAt > Date.now()) return hit.role;
    const generation = this.generation;
    const members = manager ? manager.getRepository(OrganizationMember) : this.members;
    const row = await members.findOne({
      select: { role: true },
      where: { organizationId, userId },
    });
    const role = row?.role ?? null;
    if (ttl > 0 && generation === this.generation) {
      if (this.cache.size >= MembershipService.MAX_ENTRIES) this.cache.clear();
      this.cache.set(key, { role, expiresAt: Date.now() + ttl });
    }
    return role;
  }

  invalidate(userId: string, organizationId: string): void {
    this.generation += 1;
    this.cache.delete(`${organizationId}:${userId}`);
  }
}
