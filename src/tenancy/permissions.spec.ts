import { Grants, builtInPermissions, isBuiltInRole } from './permissions';
import { Role } from './role';

describe('the permission model', () => {
  it('keeps the built-in roles of sections 4-11', () => {
    const member = Grants.of(Role.MEMBER);
    expect(member.scope('contacts', 'update')).toBe('own');
    expect(member.scope('pipelines', 'read')).toBe('all');
    expect(member.allows('pipelines', 'update')).toBe(false);
    expect(member.allows('organization', 'update')).toBe(false);
    const manager = Grants.of(Role.MANAGER);
    expect(manager.scope('deals', 'delete')).toBe('all');
    expect(manager.allows('webhooks', 'read')).toBe(false);
    expect(manager.allows('members', 'create')).toBe(false);
    for (const role of [Role.OWNER, Role.ADMIN]) {
      expect(Grants.of(role).seesAll).toBe(true);
      expect(Grants.of(role).allows('api_keys', 'delete')).toBe(true);
    }
    expect(member.seesAll).toBe(false);
    expect(isBuiltInRole('admin')).toBe(true);
    expect(isBuiltInRole('support')).toBe(false);
    expect(isBuiltInRole('constructor')).toBe(false);
  });

  it('lists permissions one line per resource and scope, actions in order', () => {
    const grants = new Grants([
      { resource: 'contacts', actions: ['update', 'read'], scope: 'own' },
      { resource: 'contacts', actions: ['create'], scope: 'all' },
    ]);
    expect(grants.list()).toEqual([
      { resource: 'contacts', actions: ['read', 'update'], scope: 'own' },
      { resource: 'contacts', actions: ['create'], scope: 'all' },
    ]);
    expect(builtInPermissions(Role.MEMBER)).toEqual(Grants.of(Role.MEMBER).list());
  });

  it('compares grants: within, intersect, fingerprint', () => {
    const readAll = new Grants([{ resource: 'contacts', actions: ['read'], scope: 'all' }]);
    const readOwn = new Grants([{ resource: 'contacts', actions: ['read'], scope: 'own' }]);
    expect(readOwn.within(readAll)).toBe(true);
    expect(readAll.within(readOwn)).toBe(false);
    expect(readAll.within(Grants.of(Role.MANAGER))).toBe(true);
    expect(Grants.of(Role.MANAGER).within(readAll)).toBe(false);
    expect(Grants.of(Role.OWNER).within(Grants.of(Role.ADMIN))).toBe(true);
    expect(readAll.intersect(Grants.of(Role.MEMBER)).scope('contacts', 'read')).toBe('own');
    expect(readAll.intersect(Grants.of(Role.MEMBER)).allows('contacts', 'update')).toBe(false);
    expect(readAll.fingerprint).not.toBe(readOwn.fingerprint);
    expect(new Grants(readAll.list()).fingerprint).toBe(readAll.fingerprint);
  });
});
