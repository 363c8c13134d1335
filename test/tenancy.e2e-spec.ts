import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { jest } from '@jest/globals';
import { DataSource, SelectQueryBuilder } from 'typeorm';
import { ENTITIES } from '../src/entities';
import { plainToInstance } from 'class-transformer';
import { Paginator, type ListWindow } from '../src/common/pagination/paginator';
import { selectAs } from '../src/common/pagination/select-as';
import { Contact } from '../src/modules/contacts/contact.entity';
import {
  CONTACT_COLUMNS,
  CONTACT_ORDER,
  CONTACT_ORDER_MATCHES_FIRST,
  ContactsService,
} from '../src/modules/contacts/contacts.service';
import { ContactListQueryDto } from '../src/modules/contacts/dto/contact-input.dto';
import { Deal } from '../src/modules/deals/deal.entity';
import type { Actor } from '../src/tenancy/actor';
import { Organization } from '../src/tenancy/organization.entity';
import { Role } from '../src/tenancy/role';
import { Grants } from '../src/tenancy/permissions';
import { ScopedRepository } from '../src/tenancy/scoped-repository';
import { tenantEntities, tenantPolicyOf } from '../src/tenancy/tenant-entity';
import { UnitOfWork } from '../src/tenancy/unit-of-work';
import { as, createTeam, type Team } from './support/api';
import { createTestApp, type TestApp } from './support/test-app';

/**
 * Tenancy by construction (issue 11, docs/decisions/0026): the layering of src/ and the unit of
 * work as the only way feature modules reach tenant rows, checked on the source and at run time.
 */

// Jest runs from the project root (the ESM test files have no __dirname).
const SRC = join(process.cwd(), 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.spec.ts') ? [path] : [];
  });
}

/** The src/-relative targets of a file's relative imports. */
function importsOf(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  const targets = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) =>
    relative(SRC, join(path, '..', m[1])),
  );
  return targets;
}

const inSrc = (folder: string): string[] => sourceFiles(join(SRC, folder));

describe('Tenancy by construction', () => {
  describe('the structure of src/ (a scan of the source)', () => {
    /** What a floor may not import (arrows point down only: ARCHITECTURE.md "Layout"). */
    const FORBIDDEN: [string, string[]][] = [
      ['common', ['tenancy', 'modules', 'database', 'events']],
      ['config', ['common', 'tenancy', 'modules', 'database']],
      ['database', ['tenancy', 'modules']],
      ['tenancy', ['modules', 'events']],
      ['events', ['modules']],
    ];

    it.each(FORBIDDEN)('src/%s imports nothing from %j', (floor, above) => {
      const offending = inSrc(floor).flatMap((file) =>
        importsOf(file)
          .filter((target) => above.some((dir) => target.startsWith(`${dir}/`)))
          .map((target) => `${relative(SRC, file)} -> ${target}`),
      );
      expect(offending).toEqual([]);
    });

    /** Ways around the unit of work: a feature module must use none of them. */
    const BYPASSES: [string, RegExp][] = [
      ['DataSource', /\bDataSource\b/],
      ['@InjectDataSource', /\bInjectDataSource\b/],
      ['@InjectRepository', /\bInjectRepository\b/],
      ['EntityManager', /\bEntityManager\b/],
      ['QueryRunner', /\bQueryRunner\b|createQueryRunner/],
      ['a transaction of its own', /\.transaction\(/],
      ['getRepository', /\bgetRepository\(/],
      ['visibleTo', /\bvisibleTo\(/],
    ];

    it('no feature module opens a transaction or query runner, or reaches a repository or DataSource itself', () => {
      const offending = inSrc('modules').flatMap((file) => {
        const text = readFileSync(file, 'utf8');
        return BYPASSES.filter(([, pattern]) => pattern.test(text)).map(
          ([what]) => `${relative(SRC, file)}: ${what}`,
        );
      });
      expect(offending).toEqual([]);
    });

    it('the scan sees what it looks for (it would fail on a bypass)', () => {
      const bypass =
        "import { DataSource } from 'typeorm';\nthis.dataSource.transaction(async () => 1);";
      expect(BYPASSES.filter(([, pattern]) => pattern.test(bypass)).map(([w]) => w)).toEqual([
        'DataSource',
        'a transaction of its own',
      ]);
      expect(importsOf(join(SRC, 'common', 'pagination', 'paginator.ts'))).toContain(
        'common/cache/tenant-cache',
      );
    });
  });

  describe('tenant entities', () => {
    let t: TestApp;
    let dataSource: DataSource;
    beforeAll(async () => {
      t = await createTestApp();
      dataSource = t.app.get(DataSource);
    });
    afterAll(() => t.close());

    it('every table with an organization_id column is a @TenantScoped entity, and only those', () => {
      const withTenantColumn = dataSource.entityMetadatas
        .filter((m) => m.columns.some((c) => c.databaseName === 'organization_id'))
        .map((m) => m.target);
      const scoped = ENTITIES.filter((entity) => tenantPolicyOf(entity));
      // The audit log records auth events of users outside any organization: written by the
      // system, its organization_id is a nullable reference, not a tenant scope. The consumers'
      // messages are infrastructure across organizations (like the relay), never served. Webhook
      // deliveries are claimed across organizations by the dispatcher; clients read them only
      // through their own webhook, with the organization in the query. Notification sends are
      // claimed across organizations by the senders of every copy, never served to a client.
      const notScoped = withTenantColumn.filter((entity) => !tenantPolicyOf(entity));
      expect(notScoped.map((e) => (e as { name: string }).name).sort()).toEqual(
        ['AuditLog', 'ConsumerMessage', 'WebhookDelivery', 'NotificationSend'].sort(),
      );
      expect(new Set(tenantEntities())).toEqual(new Set(scoped));
      for (const entity of scoped) expect(withTenantColumn).toContain(entity);
    });

    it('a scoped repository refuses an empty organization id and a non-tenant entity', () => {
      const manager = dataSource.manager;
      expect(() => new ScopedRepository(manager, Contact, '')).toThrow('organizationId');
      expect(
        () => new ScopedRepository(manager, Organization as unknown as typeof Contact, 'x'),
      ).toThrow('not a tenant entity');
    });
  });

  describe('at run time, on the real database', () => {
    let t: TestApp;
    let team: Team;
    let uow: UnitOfWork;
    const actorOf = (organizationId: string, userId: string, role: Role): Actor => ({
      organizationId,
      userId,
      role,
      grants: Grants.of(role),
      requestId: 'test',
      ip: '127.0.0.1',
      userAgent: null,
    });

    beforeAll(async () => {
      t = await createTestApp();
      team = await createTeam(t);
      uow = t.app.get(UnitOfWork);
      for (const [session, org, name] of [
        [team.owner, team.organizationId, 'Ours'],
        [team.member, team.organizationId, 'Member-owned'],
        [team.outsider, team.outsider.organizationId, 'Theirs'],
      ] as const) {
        const res = await t.http().post('/api/v1/contacts').set(as(session, org)).send({ name });
        expect(res.status).toBe(201);
      }
    });
    afterAll(() => t.close());

    it("an unscoped find of every contact through the unit of work sees one organization's rows", async () => {
      const owner = actorOf(team.organizationId, team.owner.userId, Role.OWNER);
      const rows = await uow.read(owner).repo(Contact).findBy({});
      expect(rows.map((r) => r.name).sort()).toEqual(['Member-owned', 'Ours']);
      const outsider = actorOf(team.outsider.organizationId, team.outsider.userId, Role.OWNER);
      expect((await uow.read(outsider).repo(Contact).findBy({})).map((r) => r.name)).toEqual([
        'Theirs',
      ]);
    });

    it('visibility is applied once for every entity: a member sees their own rows, others 404', async () => {
      const member = actorOf(team.organizationId, team.member.userId, Role.MEMBER);
      const visible = await uow.read(member).visible(Contact, 'c').getMany();
      expect(visible.map((c) => c.name)).toEqual(['Member-owned']);
      const [theirs] = await uow
        .read(actorOf(team.organizationId, team.owner.userId, Role.OWNER))
        .repo(Contact)
        .findBy({ name: 'Ours' });
      await expect(uow.read(member).findVisible(Contact, theirs.id)).rejects.toMatchObject({
        status: 404,
        code: 'NOT_FOUND',
      });
      const outsider = actorOf(team.outsider.organizationId, team.outsider.userId, Role.OWNER);
      await expect(uow.read(outsider).findVisible(Contact, theirs.id)).rejects.toMatchObject({
        status: 404,
      });
    });

    it('a read by id generates its SQL once per shape, and each call binds its own organization, viewer and id', async () => {
      const owner = actorOf(team.organizationId, team.owner.userId, Role.OWNER);
      const member = actorOf(team.organizationId, team.member.userId, Role.MEMBER);
      const outsider = actorOf(team.outsider.organizationId, team.outsider.userId, Role.OWNER);
      const byName = async (name: string): Promise<string> =>
        (await uow.read(owner).repo(Contact).findBy({ name }))[0].id;
      const [ours, membersOwn] = [await byName('Ours'), await byName('Member-owned')];
      // Warm both shapes (all / own), then count the SQL generations of many reads.
      await uow.read(owner).findVisible(Contact, ours);
      await uow.read(member).findVisible(Contact, membersOwn);
      const generated = jest.spyOn(SelectQueryBuilder.prototype, 'getQuery');
      try {
        for (let i = 0; i < 3; i += 1) {
          expect((await uow.read(owner).findVisible(Contact, ours)).name).toBe('Ours');
          expect((await uow.read(member).findVisible(Contact, membersOwn)).name).toBe(
            'Member-owned',
          );
          await expect(uow.read(member).findVisible(Contact, ours)).rejects.toMatchObject({
            status: 404,
          });
          await expect(uow.read(outsider).findVisible(Contact, ours)).rejects.toMatchObject({
            status: 404,
          });
        }
        expect(generated).not.toHaveBeenCalled();
      } finally {
        generated.mockRestore();
      }
    });

    it('writes are stamped and scoped: another organization cannot be written, nor its rows touched', async () => {
      const outsider = actorOf(team.outsider.organizationId, team.outsider.userId, Role.OWNER);
      const [ours] = await uow
        .read(actorOf(team.organizationId, team.owner.userId, Role.OWNER))
        .repo(Contact)
        .findBy({ name: 'Ours' });
      const changed = await uow.run(outsider, async (tx) => {
        expect(() =>
          tx.repo(Contact).create({ organizationId: team.organizationId } as never),
        ).toThrow('another organization');
        return tx.repo(Contact).update({ id: ours.id }, { name: 'Hijacked' });
      });
      expect(changed).toBe(0);
      expect(await uow.run(outsider, (tx) => tx.repo(Contact).delete({ id: ours.id }))).toBe(0);
      const [{ name }] = await t.db.query<{ name: string }[]>(
        'SELECT name FROM contacts WHERE id = $1',
        [ours.id],
      );
      expect(name).toBe('Ours');
    });

    it('a transaction that writes tenant rows without recording an event is refused and rolls back', async () => {
      const owner = actorOf(team.organizationId, team.owner.userId, Role.OWNER);
      await expect(
        uow.run(owner, (tx) => tx.repo(Contact).save({ ownerId: owner.userId, name: 'Silent' })),
      ).rejects.toThrow('without recording an event');
      expect(await uow.read(owner).repo(Contact).countBy({ name: 'Silent' })).toBe(0);
    });

    it('events are recorded in the transaction: committed with it, or not at all', async () => {
      const owner = actorOf(team.organizationId, team.owner.userId, Role.OWNER);
      const count = () =>
        t.db.query<{ n: number }[]>(
          `SELECT count(*)::int AS n FROM events WHERE subject = 'contacts/probe'`,
        );
      await expect(
        uow.run(owner, async (tx) => {
          await tx.repo(Contact).save({ ownerId: owner.userId, name: 'Probe' });
          tx.emit('crm.contact.created.v1', 'contacts/probe', { contact: { name: 'Probe' } });
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      expect((await count())[0].n).toBe(0);
      await uow.run(owner, async (tx) => {
        await tx.repo(Contact).save({ ownerId: owner.userId, name: 'Probe' });
        tx.emit('crm.contact.created.v1', 'contacts/probe', { contact: { name: 'Probe' } });
      });
      expect((await count())[0].n).toBe(1);
    });

    it('system work cannot reach a tenant table', async () => {
      await expect(uow.system((tx) => tx.repo(Deal).find())).rejects.toThrow('tenant entity');
    });

    it('a transaction that fails records nothing and runs no after-commit work; a committed one does', async () => {
      const owner = actorOf(team.organizationId, team.owner.userId, Role.OWNER);
      const ran: string[] = [];
      await expect(
        uow.run(owner, async (tx) => {
          await tx.repo(Contact).save({ ownerId: owner.userId, name: 'Rolled back' });
          tx.emit('crm.contact.created.v1', 'contacts/x', {});
          tx.afterCommit(() => void ran.push('failed'));
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      await uow.run(owner, async (tx) => {
        tx.afterCommit(() => void ran.push('committed'));
        return Promise.resolve();
      });
      expect(ran).toEqual(['committed']);
      expect(await uow.read(owner).repo(Contact).countBy({ name: 'Rolled back' })).toBe(0);
    });

    it('a list window (a search tried among the first rows in order) answers exactly the pages of the whole list', async () => {
      // A fresh organization whose contacts are created oldest first, so that some words match
      // only old rows (the window comes back short: asked again) and some recent ones.
      const other = await createTeam(t);
      const names = [
        'Zeta Old',
        'Zeta Older',
        'Alpha One',
        'Beta Two',
        'Alpha Three',
        'Beta Four',
        'Alpha Five',
        'Gamma Six',
        'Alpha Seven',
        'Beta Eight',
      ];
      for (const [i, name] of names.entries()) {
        const session = i % 3 === 2 ? other.member : other.owner;
        const res = await t
          .http()
          .post('/api/v1/contacts')
          .set(as(session, other.organizationId))
          .send({ name });
        expect(res.status).toBe(201);
      }
      const contacts = t.app.get(ContactsService);
      const paginator = t.app.get(Paginator);
      const bounds = jest.spyOn(
        paginator as unknown as { windowBound: () => Promise<string | null> },
        'windowBound',
      );
      const page = async (
        actor: Actor,
        search: string,
        query: Record<string, unknown>,
        window?: ListWindow,
      ): Promise<{ names: string[]; total: number | undefined }> => {
        const reader = uow.read(actor);
        const params = plainToInstance(ContactListQueryDto, query);
        const listed = await reader.list(
          contacts.filtered(reader, { search }).select(selectAs('c', CONTACT_COLUMNS)),
          params,
          CONTACT_ORDER[params.orderBy],
          { endpoint: 'window-test', orderBy: params.orderBy, window },
          (row: Contact) => row.name,
        );
        return { names: listed.items, total: 'total' in listed ? listed.total : undefined };
      };
      const owner = actorOf(other.organizationId, other.owner.userId, Role.OWNER);
      const member = actorOf(other.organizationId, other.member.userId, Role.MEMBER);
      let windowed = 0;
      for (const actor of [owner, member]) {
        for (const search of ['alpha', 'beta', 'zeta', 'a', 'e', 'o', 'nothing']) {
          const queries: { pageSize: number; page?: number; order?: 'asc'; orderBy?: 'name' }[] = [
            { pageSize: 2 },
            { pageSize: 2, page: 2 },
            { pageSize: 3, order: 'asc' },
            { pageSize: 2, orderBy: 'name' },
            { pageSize: 20 },
          ];
          for (const query of queries) {
            const whole = await page(actor, search, query);
            for (const window of [
              { rows: 3 },
              { rows: 4, otherwise: CONTACT_ORDER_MATCHES_FIRST[query.orderBy ?? 'createdAt'] },
              { rows: 1000 },
            ]) {
              const calls = bounds.mock.calls.length;
              expect({
                actor: actor.role,
                search,
                query,
                window,
                ...(await page(actor, search, query, window)),
              }).toEqual({ actor: actor.role, search, query, window, ...whole });
              windowed += bounds.mock.calls.length - calls;
            }
          }
        }
      }
      // Every page was tried in its window first (the bounds are remembered, not recomputed).
      expect(windowed).toBe(2 * 7 * 5 * 3);
      bounds.mockRestore();
    });
  });
});
