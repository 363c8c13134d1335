import { randomUUID } from 'node:crypto';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';
import { ACCESS_KEY, type AccessRule } from '../src/tenancy/access/access.decorator';
import { Grants, type Permission } from '../src/tenancy/permissions';
import { Role } from '../src/tenancy/role';
import { as, createTeam, register, type Session, type Team } from './support/api';
import { createTestApp, type TestApp } from './support/test-app';

/**
 * The role-by-permission matrix (issue 16), generated from the permission model: every
 * tenant-scoped route of the application x the four built-in roles and sample custom roles.
 * The expectation of each cell comes from the role's grants (src/tenancy/permissions.ts) and
 * the route's declared permissions, never from a hand-written table:
 * - not granted: 403 FORBIDDEN, before anything else;
 * - granted, a read of a list: 2xx;
 * - granted, a read of a record the owner owns: 2xx with scope `all`, 404 with scope `own`
 *   (invisible, never 403);
 * - granted, a write: anything but 403 FORBIDDEN (the write itself runs on a record id that does
 *   not exist or an empty body, so the fixtures stay; the suites of each resource test the 2xx).
 */

interface TenantRoute {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  permissions: { resource: string; action: string }[];
}

function tenantRoutes(t: TestApp): TenantRoute[] {
  const routes: TenantRoute[] = [];
  for (const module of t.app.get(ModulesContainer).values()) {
    for (const { metatype } of module.controllers.values()) {
      if (typeof metatype !== 'function') continue;
      const base = (Reflect.getMetadata(PATH_METADATA, metatype) as string | undefined) ?? '';
      const prototype = metatype.prototype as Record<string, unknown>;
      for (const key of Object.getOwnPropertyNames(prototype)) {
        const handler = prototype[key];
        if (key === 'constructor' || typeof handler !== 'function') continue;
        const path = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
        if (path === undefined) continue;
        const rule =
          (Reflect.getMetadata(ACCESS_KEY, handler) as AccessRule | undefined) ??
          (Reflect.getMetadata(ACCESS_KEY, metatype) as AccessRule | undefined);
        if (rule?.kind !== 'tenant') continue;
        const method = RequestMethod[
          Reflect.getMetadata(METHOD_METADATA, handler) as number
        ].toLowerCase() as TenantRoute['method'];
        const full = ['/api/v1', base, path].filter(Boolean).join('/').replace(/\/+/g, '/');
        routes.push({ method, path: full.replace(/\/$/, ''), permissions: [...rule.permissions] });
      }
    }
  }
  return routes.sort((a, b) => `${a.path} ${a.method}`.localeCompare(`${b.path} ${b.method}`));
}

const CUSTOM: Record<string, Permission[]> = {
  support: [
    { resource: 'contacts', actions: ['read'], scope: 'all' },
    { resource: 'deals', actions: ['read'], scope: 'all' },
  ],
  sdr: [{ resource: 'leads', actions: ['read', 'create', 'update', 'delete'], scope: 'own' }],
  analyst: [
    { resource: 'deals', actions: ['read'], scope: 'all' },
    { resource: 'analytics', actions: ['read'], scope: 'all' },
    { resource: 'export', actions: ['read'], scope: 'all' },
    { resource: 'events', actions: ['read'], scope: 'all' },
    { resource: 'audit', actions: ['read'], scope: 'all' },
    { resource: 'pipelines', actions: ['read'], scope: 'all' },
    { resource: 'webhooks', actions: ['read'], scope: 'all' },
  ],
};

describe('Role x permission matrix, generated from the permission model (API.md section 16)', () => {
  let t: TestApp;
  let team: Team;
  let org: string;
  const sessions: Record<string, Session> = {};
  const grants: Record<string, Grants> = {};
  /** Records the owner owns, by the first path segment of their routes. */
  const fixtures: Record<string, string> = {};

  beforeAll(async () => {
    t = await createTestApp();
    team = await createTeam(t);
    org = team.organizationId;
    for (const role of [Role.OWNER, Role.ADMIN, Role.MANAGER, Role.MEMBER]) {
      sessions[role] = team[role];
      grants[role] = Grants.of(role);
    }
    for (const [key, permissions] of Object.entries(CUSTOM)) {
      const res = await t
        .http()
        .post('/api/v1/roles')
        .set(as(team.owner, org))
        .send({ key, name: key, permissions });
      expect(res.status).toBe(201);
      const session = await register(t, key);
      const added = await t
        .http()
        .post('/api/v1/organizations/current/members')
        .set(as(team.owner, org))
        .send({ email: session.email, role: key });
      expect(added.status).toBe(201);
      sessions[key] = session;
      grants[key] = new Grants(permissions);
    }
    const post = async (path: string, body: object): Promise<string> => {
      const res = await t.http().post(`/api/v1/${path}`).set(as(team.owner, org)).send(body);
      expect({ path, status: res.status }).toEqual({ path, status: 201 });
      return (res.body as { id: string }).id;
    };
    fixtures.contacts = await post('contacts', { name: 'Matrix contact' });
    fixtures.companies = await post('companies', { name: 'Matrix company' });
    fixtures.leads = await post('leads', { name: 'Matrix lead' });
    fixtures.deals = await post('deals', { contactId: fixtures.contacts, title: 'Matrix deal' });
    fixtures.tasks = await post('tasks', {
      dealId: fixtures.deals,
      title: 'Matrix task',
      dueDate: new Date(Date.now() + 86_400_000).toISOString().slice(0, 10),
    });
    const pipelines = await t.http().get('/api/v1/pipelines').set(as(team.owner, org));
    fixtures.pipelines = (pipelines.body as { items: { id: string }[] }).items[0].id;
  });
  afterAll(() => t.close());

  /** The path with its parameters filled: the owner's records for reads, unknown ids for writes. */
  function concrete(route: TenantRoute): { path: string; record: boolean } {
    const segment = route.path.split('/')[3];
    let record = false;
    const path = route.path.replace(/:([A-Za-z]+)/g, (_, name: string) => {
      if (name === 'dealId') return fixtures.deals;
      if (name === 'id' && route.method === 'get' && fixtures[segment]) {
        record = true;
        return fixtures[segment];
      }
      if (name === 'key') return 'no_such_role';
      if (name === 'kind') return 'deal.won';
      if (name === 'channel') return 'email';
      return randomUUID();
    });
    return { path, record: record && !/\/:id\/./.test(route.path) };
  }

  it('covers every tenant-scoped route', () => {
    const routes = tenantRoutes(t);
    expect(routes.length).toBeGreaterThan(60);
    // Every permission a route names exists in the model.
    const owner = Grants.of(Role.OWNER);
    for (const route of routes) {
      for (const { resource, action } of route.permissions) {
        expect({
          route: route.path,
          allowed: owner.allows(resource as never, action as never),
        }).toEqual({
          route: route.path,
          allowed: true,
        });
      }
    }
  });

  it.each(['owner', 'admin', 'manager', 'member', 'support', 'sdr', 'analyst'])(
    'answers every route as the model says for the role %s',
    async (role) => {
      const mismatches: string[] = [];
      for (const route of tenantRoutes(t)) {
        const { path, record } = concrete(route);
        const granted = route.permissions.every(({ resource, action }) =>
          grants[role].allows(resource as never, action as never),
        );
        const first = route.permissions[0];
        const scope = first
          ? grants[role].scope(first.resource as never, first.action as never)
          : 'all';
        const res = await t.http()[route.method](path).set(as(sessions[role], org)).send({});
        const code = (res.body as { code?: string } | undefined)?.code;
        const cell = `${role} ${route.method.toUpperCase()} ${route.path} -> ${res.status} ${code ?? ''}`;
        if (!granted) {
          if (res.status !== 403 || code !== 'FORBIDDEN') mismatches.push(`${cell} (expected 403)`);
        } else if (route.method === 'get' && record) {
          const expected =
            scope === 'own' &&
            ['contacts', 'companies', 'leads', 'deals', 'tasks'].includes(path.split('/')[3])
              ? 404
              : 200;
          if (res.status !== expected) mismatches.push(`${cell} (expected ${expected})`);
        } else if (route.method === 'get' && !route.path.includes(':')) {
          if (res.status < 200 || res.status > 299) mismatches.push(`${cell} (expected 2xx)`);
        } else if (res.status === 403 && code === 'FORBIDDEN') {
          mismatches.push(`${cell} (expected it to pass the permission check)`);
        }
      }
      expect(mismatches).toEqual([]);
    },
  );
});
