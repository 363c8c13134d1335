import { createHash } from 'node:crypto';
import { Role } from './role';

/**
 * The permission model (API.md section 16): a role grants actions on resources, each with a
 * scope. Built-in and custom roles are both expressed in it, and the guards, the visibility of
 * records and the cache keys of lists and analytics all read it (docs/decisions/0041).
 */

/** What a custom role may be granted (API.md section 16). */
export const RESOURCES = [
  'contacts',
  'companies',
  'leads',
  'deals',
  'tasks',
  'activities',
  'pipelines',
  'analytics',
  'import',
  'export',
  'webhooks',
  'members',
  'events',
  'audit',
] as const;
export type Resource = (typeof RESOURCES)[number];

/**
 * What only the built-in owner and admin roles hold and no custom role can be given: the
 * organization's settings, its roles, its API keys and its notification templates.
 */
export const ADMINISTRATION = ['organization', 'roles', 'api_keys', 'templates'] as const;
export type Administration = (typeof ADMINISTRATION)[number];

export type PermissionResource = Resource | Administration;

export const ACTIONS = ['read', 'create', 'update', 'delete'] as const;
export type Action = (typeof ACTIONS)[number];

/** `own`: records whose ownerId is the caller (as for members); `all`: the organization's. */
export const SCOPES = ['own', 'all'] as const;
export type Scope = (typeof SCOPES)[number];

/** One line of a role's permissions, as the API reads and writes it. */
export interface Permission {
  resource: PermissionResource;
  actions: Action[];
  scope: Scope;
}

/** A permission a route requires: `resource:action`. */
export interface Requirement {
  resource: PermissionResource;
  action: Action;
}

const CRM_RECORDS: Resource[] = ['contacts', 'companies', 'leads', 'deals', 'tasks', 'activities'];
const EVERYTHING: PermissionResource[] = [...RESOURCES, ...ADMINISTRATION];

function grantAll(resources: PermissionResource[], scope: Scope): Permission[] {
  return resources.map((resource) => ({ resource, actions: [...ACTIONS], scope }));
}

/**
 * The four built-in roles, exactly as sections 4-11 describe them: owners and admins do
 * everything (what distinguishes them, who may manage owners and admins, is a rule of the
 * members endpoints); managers work on every record but administer nothing; members work on
 * the records they own and read the pipelines and the member list.
 */
const BUILT_IN: Record<Role, Permission[]> = {
  [Role.OWNER]: grantAll(EVERYTHING, 'all'),
  [Role.ADMIN]: grantAll(EVERYTHING, 'all'),
  [Role.MANAGER]: [
    ...grantAll(CRM_RECORDS, 'all'),
    { resource: 'pipelines', actions: ['read'], scope: 'all' },
    { resource: 'analytics', actions: ['read'], scope: 'all' },
    { resource: 'import', actions: ['create'], scope: 'all' },
    { resource: 'export', actions: ['read'], scope: 'all' },
    { resource: 'members', actions: ['read'], scope: 'all' },
  ],
  [Role.MEMBER]: [
    ...grantAll(CRM_RECORDS, 'own'),
    { resource: 'pipelines', actions: ['read'], scope: 'all' },
    { resource: 'analytics', actions: ['read'], scope: 'own' },
    { resource: 'import', actions: ['create'], scope: 'own' },
    { resource: 'export', actions: ['read'], scope: 'own' },
    { resource: 'members', actions: ['read'], scope: 'all' },
  ],
};

export function isBuiltInRole(key: string): key is Role {
  return Object.prototype.hasOwnProperty.call(BUILT_IN, key);
}

/**
 * What a role grants, resolved for lookups: for each resource and action, the scope (absent:
 * not granted). Immutable; built from a role's permission list.
 */
export class Grants {
  private readonly scopes = new Map<string, Scope>();
  /** Every scope is `all`: the holder sees the whole organization wherever it may look. */
  readonly seesAll: boolean;
  /** Short and stable for equal grants: cache keys and cursors of a limited view include it. */
  readonly fingerprint: string;

  constructor(permissions: readonly Permission[]) {
    for (const { resource, actions, scope } of permissions) {
      for (const action of actions) {
        const key = `${resource}:${action}`;
        // Two lines for the same resource and action: the broader scope wins.
        if (this.scopes.get(key) !== 'all') this.scopes.set(key, scope);
      }
    }
    this.seesAll = [...this.scopes].every(([, scope]) => scope === 'all');
    const canonical = [...this.scopes]
      .map(([key, scope]) => `${key}=${scope}`)
      .sort()
      .join(',');
    this.fingerprint = createHash('sha256').update(canonical).digest('base64url').slice(0, 12);
  }

  static of(role: Role): Grants {
    return BUILT_IN_GRANTS[role];
  }

  /** The scope of `resource:action`, or null when it is not granted. */
  scope(resource: PermissionResource, action: Action): Scope | null {
    return this.scopes.get(`${resource}:${action}`) ?? null;
  }

  allows(resource: PermissionResource, action: Action): boolean {
    return this.scopes.has(`${resource}:${action}`);
  }

  /** True when every grant here is also granted by `other`, with a scope at least as broad. */
  within(other: Grants): boolean {
    for (const [key, scope] of this.scopes) {
      const theirs = other.scopes.get(key);
      if (!theirs || (scope === 'all' && theirs === 'own')) return false;
    }
    return true;
  }

  /** What both grant, each with the narrower scope (an API key acting for its creator). */
  intersect(other: Grants): Grants {
    const permissions: Permission[] = [];
    for (const [key, scope] of this.scopes) {
      const theirs = other.scopes.get(key);
      if (!theirs) continue;
      const [resource, action] = key.split(':') as [PermissionResource, Action];
      permissions.push({ resource, actions: [action], scope: scope === 'all' ? theirs : 'own' });
    }
    return new Grants(permissions);
  }

  /**
   * The same grants with `resource:action` limited to `limit` (`own` narrows an `all`; `all`
   * changes nothing): an export reads its resource within the scope of `export:read` too.
   */
  narrowed(resource: PermissionResource, action: Action, limit: Scope | null): Grants {
    if (limit === 'all' || this.scope(resource, action) !== 'all') return this;
    const permissions = this.list().map((line) =>
      line.resource === resource && line.scope === 'all' && line.actions.includes(action)
        ? { ...line, actions: line.actions.filter((a) => a !== action) }
        : line,
    );
    permissions.push({ resource, actions: [action], scope: 'own' });
    return new Grants(permissions.filter((line) => line.actions.length));
  }

  /** The permissions as the API lists them: one line per resource and scope, actions in order. */
  list(): Permission[] {
    const lines = new Map<string, Permission>();
    for (const resource of EVERYTHING) {
      for (const action of ACTIONS) {
        const scope = this.scope(resource, action);
        if (!scope) continue;
        const key = `${resource}:${scope}`;
        const line = lines.get(key) ?? { resource, actions: [], scope };
        line.actions.push(action);
        lines.set(key, line);
      }
    }
    return [...lines.values()];
  }
}

const BUILT_IN_GRANTS = Object.fromEntries(
  Object.entries(BUILT_IN).map(([role, permissions]) => [role, new Grants(permissions)]),
) as Record<Role, Grants>;

/** The permission list of a built-in role. */
export function builtInPermissions(role: Role): Permission[] {
  return BUILT_IN_GRANTS[role].list();
}
