import { Inject, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import { InvalidationBus } from '../common/cache/invalidation-bus';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { CustomRole } from './custom-role.entity';
import { OrganizationMember } from './organization-member.entity';
import { Grants, isBuiltInRole } from './permissions';

/** A member's role in an organization and what it grants. */
export interface Access {
  role: string;
  grants: Grants;
}

interface Cached<T> {
  value: T;
  expiresAt: number;
}

const MEMBERSHIP = 'membership';
const ORGANIZATION = 'organization-roles';

/**
 * Answers "which role, granting what, does this user have in this organization?" for the
 * OrganizationGuard on every tenant-scoped request (API.md section 16: permissions are cached per
 * membership). Answers are cached for MEMBERSHIP_CACHE_TTL_MS (0 disables the cache). A change of
 * a membership or of a custom role's permissions is published on the InvalidationBus, so every
 * copy drops the entries at once; while the bus is not live (Redis unreachable) the cache is
 * bypassed rather than trusted.
 */
@Injectable()
export class MembershipService {
  private readonly memberships = new Map<string, Cached<Access | null>>();
  private readonly roles = new Map<string, Cached<Grants | null>>();
  private readonly intersections = new Map<string, Grants>();
  private static readonly MAX_ENTRIES = 50_000;
  /**
   * Bumped by every invalidation. A lookup that was in flight while an invalidation happened
   * may have read the old row, so its answer is returned but not cached (otherwise a member
   * removed or re-roled during a concurrent request of theirs kept the old role for a TTL).
   */
  private generation = 0;

  constructor(
    @InjectRepository(OrganizationMember) private readonly members: Repository<OrganizationMember>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly bus: InvalidationBus,
  ) {
    bus.on(MEMBERSHIP, (key) => this.drop(this.memberships, key));
    bus.on(ORGANIZATION, (organizationId) => {
      const prefix = organizationId === null ? null : `${organizationId}:`;
      this.drop(this.memberships, prefix, true);
      this.drop(this.roles, prefix, true);
    });
  }

  /**
   * The user's role and grants in the organization, or null when they are not a member. Pass the
   * transaction's `manager` when calling from inside one.
   */
  accessOf(
    userId: string,
    organizationId: string,
    manager?: EntityManager,
  ): Promise<Access | null> {
    return this.cached(this.memberships, `${organizationId}:${userId}`, async () => {
      const members = manager ? manager.getRepository(OrganizationMember) : this.members;
      const row = await members.findOne({
        select: { role: true },
        where: { organizationId, userId },
      });
      if (!row) return null;
      const grants = await this.loadGrants(organizationId, row.role, manager);
      return { role: row.role, grants: grants ?? new Grants([]) };
    });
  }

  /** The user's role in the organization, or null when they are not a member. */
  async roleOf(
    userId: string,
    organizationId: string,
    manager?: EntityManager,
  ): Promise<string | null> {
    return (await this.accessOf(userId, organizationId, manager))?.role ?? null;
  }

  /** What a role of the organization grants (built-in or custom), or null when there is no such role. */
  grantsOf(organizationId: string, role: string, manager?: EntityManager): Promise<Grants | null> {
    if (isBuiltInRole(role)) return Promise.resolve(Grants.of(role));
    return this.cached(this.roles, `${organizationId}:${role}`, () =>
      this.loadGrants(organizationId, role, manager),
    );
  }

  /**
   * What an API key may do: what its role grants, within what its creator holds now (the
   * narrower scope of the two). Grants are immutable and named by their fingerprints, so the
   * result is kept per pair rather than computed on every request.
   */
  keyGrants(keyRole: Grants, creator: Grants): Grants {
    const pair = `${keyRole.fingerprint}|${creator.fingerprint}`;
    let grants = this.intersections.get(pair);
    if (!grants) {
      if (this.intersections.size >= 1000) this.intersections.clear();
      grants = keyRole.intersect(creator);
      this.intersections.set(pair, grants);
    }
    return grants;
  }

  /** A membership changed (added, re-roled, removed): every copy forgets it. */
  invalidate(userId: string, organizationId: string): void {
    this.generation += 1;
    void this.bus.publish(MEMBERSHIP, `${organizationId}:${userId}`);
  }

  /** A custom role of the organization changed: every copy forgets its memberships and roles. */
  invalidateOrganization(organizationId: string): void {
    this.generation += 1;
    void this.bus.publish(ORGANIZATION, organizationId);
  }

  private async loadGrants(
    organizationId: string,
    role: string,
    manager?: EntityManager,
  ): Promise<Grants | null> {
    if (isBuiltInRole(role)) return Grants.of(role);
    const roles = manager
      ? manager.getRepository(CustomRole)
      : this.members.manager.getRepository(CustomRole);
    const row = await roles.findOne({
      select: { permissions: true },
      where: { organizationId, key: role },
    });
    return row ? new Grants(row.permissions) : null;
  }

  private async cached<T>(
    cache: Map<string, Cached<T>>,
    key: string,
    load: () => Promise<T>,
  ): Promise<T> {
    const ttl = this.config.membershipCacheTtlMs;
    const live = ttl > 0 && this.bus.live;
    const hit = live ? cache.get(key) : undefined;
    if (hit && hit.expiresAt > Date.now()) return hit.value;
    const generation = this.generation;
    const value = await load();
    if (live && generation === this.generation) {
      if (cache.size >= MembershipService.MAX_ENTRIES) cache.clear();
      cache.set(key, { value, expiresAt: Date.now() + ttl });
    }
    return value;
  }

  /** Drops `key` (or, with `prefix`, every key starting with it; null: everything). */
  private drop<T>(cache: Map<string, Cached<T>>, key: string | null, prefix = false): void {
    this.generation += 1;
    if (key === null) return cache.clear();
    if (!prefix) {
      cache.delete(key);
      return;
    }
    for (const entry of cache.keys()) if (entry.startsWith(key)) cache.delete(entry);
  }
}
