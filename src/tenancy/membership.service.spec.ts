import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import type { Repository } from 'typeorm';
import { type AppConfig, loadConfig } from '../config/app-config';
import { InvalidationBus } from '../common/cache/invalidation-bus';
import { MembershipService } from './membership.service';
import type { OrganizationMember } from './organization-member.entity';
import { Role } from './role';

const USER = 'a0b1c2d3-0000-4000-8000-000000000001';
const OTHER_USER = 'a0b1c2d3-0000-4000-8000-000000000002';
const ORG = '6f1c1c1e-1111-4222-8333-944455556666';
const OTHER_ORG = '6f1c1c1e-1111-4222-8333-944455557777';

describe('MembershipService', () => {
  let dataDir: string;
  let findOne: ReturnType<
    typeof jest.fn<(options: unknown) => Promise<Pick<OrganizationMember, 'role'> | null>>
  >;

  const configWithTtl = (ttlMs: number): AppConfig =>
    loadConfig({
      NODE_ENV: 'test',
      JWT_ACCESS_SECRET: 'access-secret-for-membership-tests',
      JWT_REFRESH_SECRET: 'refresh-secret-for-membership-tests',
      DATA_DIR: dataDir,
      MEMBERSHIP_CACHE_TTL_MS: String(ttlMs),
    });

  const serviceWithTtl = (ttlMs: number): MembershipService =>
    new MembershipService(
      { findOne } as unknown as Repository<OrganizationMember>,
      configWithTtl(ttlMs),
      new InvalidationBus(configWithTtl(ttlMs)),
    );

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'crm-membership-spec-'));
  });

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  beforeEach(() => {
    jest.useFakeTimers({ now: new Date('2030-01-01T00:00:00.000Z') });
    findOne = jest.fn<(options: unknown) => Promise<Pick<OrganizationMember, 'role'> | null>>();
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('reads the role of the user in the organization', async () => {
    findOne.mockResolvedValue({ role: Role.ADMIN });
    await expect(serviceWithTtl(5000).roleOf(USER, ORG)).resolves.toBe(Role.ADMIN);
    expect(findOne).toHaveBeenCalledWith({
      select: { role: true },
      where: { organizationId: ORG, userId: USER },
    });
  });

  it('answers a second lookup within the TTL from the cache', async () => {
    findOne.mockResolvedValue({ role: Role.MANAGER });
    const service = serviceWithTtl(5000);
    await expect(service.roleOf(USER, ORG)).resolves.toBe(Role.MANAGER);
    jest.advanceTimersByTime(4999);
    await expect(service.roleOf(USER, ORG)).resolves.toBe(Role.MANAGER);
    expect(findOne).toHaveBeenCalledTimes(1);
  });

  it('caches negative answers', async () => {
    findOne.mockResolvedValue(null);
    const service = serviceWithTtl(5000);
    await expect(service.roleOf(USER, ORG)).resolves.toBeNull();
    await expect(service.roleOf(USER, ORG)).resolves.toBeNull();
    expect(findOne).toHaveBeenCalledTimes(1);
  });

  it('keeps one entry per (user, organization)', async () => {
    findOne
      .mockResolvedValueOnce({ role: Role.OWNER })
      .mockResolvedValueOnce({ role: Role.MEMBER })
      .mockResolvedValueOnce(null);
    const service = serviceWithTtl(5000);
    await expect(service.roleOf(USER, ORG)).resolves.toBe(Role.OWNER);
    await expect(service.roleOf(OTHER_USER, ORG)).resolves.toBe(Role.MEMBER);
    await expect(service.roleOf(USER, OTHER_ORG)).resolves.toBeNull();
    await expect(service.roleOf(USER, ORG)).resolves.toBe(Role.OWNER);
    await expect(service.roleOf(OTHER_USER, ORG)).resolves.toBe(Role.MEMBER);
    expect(findOne).toHaveBeenCalledTimes(3);
  });

  it('reloads after invalidate()', async () => {
    findOne
      .mockResolvedValueOnce({ role: Role.MEMBER })
      .mockResolvedValueOnce({ role: Role.ADMIN });
    const service = serviceWithTtl(5000);
    await expect(service.roleOf(USER, ORG)).resolves.toBe(Role.MEMBER);
    service.invalidate(USER, ORG);
    await expect(service.roleOf(USER, ORG)).resolves.toBe(Role.ADMIN);
    expect(findOne).toHaveBeenCalledTimes(2);
  });

  it('invalidates only the given (user, organization)', async () => {
    findOne.mockResolvedValue({ role: Role.MEMBER });
    const service = serviceWithTtl(5000);
    await service.roleOf(USER, ORG);
    await service.roleOf(OTHER_USER, ORG);
    service.invalidate(USER, ORG);
    await service.roleOf(OTHER_USER, ORG);
    expect(findOne).toHaveBeenCalledTimes(2);
    await service.roleOf(USER, ORG);
    expect(findOne).toHaveBeenCalledTimes(3);
  });

  it('reloads a cached negative answer after invalidate() (user just added)', async () => {
    findOne.mockResolvedValueOnce(null).mockResolvedValueOnce({ role: Role.MEMBER });
    const service = serviceWithTtl(5000);
    await expect(service.roleOf(USER, ORG)).resolves.toBeNull();
    service.invalidate(USER, ORG);
    await expect(service.roleOf(USER, ORG)).resolves.toBe(Role.MEMBER);
  });

  it('does not cache a lookup that was in flight while the entry was invalidated', async () => {
    let finishStaleRead!: (row: { role: Role }) => void;
    findOne
      .mockImplementationOnce(() => new Promise((resolve) => (finishStaleRead = resolve)))
      .mockResolvedValueOnce(null);
    const service = serviceWithTtl(5000);
    const inFlight = service.roleOf(USER, ORG); // reads the row before the removal commits
    service.invalidate(USER, ORG); // the member is removed meanwhile
    finishStaleRead({ role: Role.ADMIN });
    await expect(inFlight).resolves.toBe(Role.ADMIN);
    // The next request must see the removal, not the stale answer for a whole TTL.
    await expect(service.roleOf(USER, ORG)).resolves.toBeNull();
    expect(findOne).toHaveBeenCalledTimes(2);
  });

  it('does not cache when the TTL is 0', async () => {
    findOne.mockResolvedValueOnce({ role: Role.OWNER }).mockResolvedValueOnce(null);
    const service = serviceWithTtl(0);
    await expect(service.roleOf(USER, ORG)).resolves.toBe(Role.OWNER);
    await expect(service.roleOf(USER, ORG)).resolves.toBeNull();
    expect(findOne).toHaveBeenCalledTimes(2);
  });

  it('reloads an entry once the TTL has passed', async () => {
    findOne
      .mockResolvedValueOnce({ role: Role.ADMIN })
      .mockResolvedValueOnce({ role: Role.MEMBER });
    const service = serviceWithTtl(5000);
    await expect(service.roleOf(USER, ORG)).resolves.toBe(Role.ADMIN);
    jest.advanceTimersByTime(5000);
    await expect(service.roleOf(USER, ORG)).resolves.toBe(Role.MEMBER);
    expect(findOne).toHaveBeenCalledTimes(2);
    // The reloaded answer is cached again for a full TTL.
    jest.advanceTimersByTime(4999);
    await expect(service.roleOf(USER, ORG)).resolves.toBe(Role.MEMBER);
    expect(findOne).toHaveBeenCalledTimes(2);
  });
});
