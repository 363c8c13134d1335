import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { JwtService } from '@nestjs/jwt';
import { type AppConfig, loadConfig } from '../../config/app-config';
import type { RequestMeta } from '../../common/http/request-context';
import type { SystemTx } from '../../tenancy/unit-of-work';
import { RefreshToken } from './refresh-token.entity';
import { JWT_ISSUER } from './token-claims';
import { hashToken, TokenService } from './token.service';

const ACCESS_SECRET = 'access-secret-for-token-service-tests-0123456789';
const REFRESH_SECRET = 'refresh-secret-for-token-service-tests-0123456789';
const USER = 'a0b1c2d3-0000-4000-8000-000000000001';
const FAMILY = 'f0000000-0000-4000-8000-00000000000f';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const META: RequestMeta = { requestId: 'req-1', ip: '203.0.113.7', userAgent: 'jest' };

type Insert = (target: unknown, row: Record<string, unknown>) => Promise<unknown>;

const b64url = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('TokenService', () => {
  let dataDir: string;
  let config: AppConfig;
  const jwt = new JwtService({});

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'crm-token-spec-'));
    config = loadConfig({
      NODE_ENV: 'test',
      JWT_ACCESS_SECRET: ACCESS_SECRET,
      JWT_REFRESH_SECRET: REFRESH_SECRET,
      JWT_ACCESS_TTL: '5m',
      JWT_REFRESH_TTL: '2d',
      DATA_DIR: dataDir,
    });
  });

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  function setup() {
    const insert = jest.fn<Insert>().mockResolvedValue(undefined);
    // The transaction's repositories: every insert is recorded with the entity it targets.
    const tx = {
      repo: (target: unknown) => ({
        insert: (row: Record<string, unknown>) => insert(target, row),
      }),
    } as unknown as SystemTx;
    return { service: new TokenService(jwt, config), insert, tx };
  }

  it('hashToken is the hex SHA-256 of the token', () => {
    expect(hashToken('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  describe('issue', () => {
    it('returns a Bearer pair whose expiresIn is the configured access TTL', async () => {
      const { service, tx } = setup();
      const { pair, refreshTokenId } = await service.issue(tx, USER, META, FAMILY);
      expect(pair.tokenType).toBe('Bearer');
      expect(pair.expiresIn).toBe(300);
      expect(typeof pair.accessToken).toBe('string');
      expect(typeof pair.refreshToken).toBe('string');
      expect(pair.accessToken).not.toBe(pair.refreshToken);
      expect(refreshTokenId).toMatch(UUID);
    });

    it('signs an HS256 access token with the access secret, typ access and the access TTL', async () => {
      const { service, tx } = setup();
      const { pair } = await service.issue(tx, USER, META, FAMILY);
      const claims = await jwt.verifyAsync<Record<string, unknown>>(pair.accessToken, {
        secret: ACCESS_SECRET,
        algorithms: ['HS256'],
      });
      expect(claims).toMatchObject({ sub: USER, typ: 'access', iss: JWT_ISSUER });
      expect((claims.exp as number) - (claims.iat as number)).toBe(300);
      expect(claims).not.toHaveProperty('fam');
      await expect(jwt.verifyAsync(pair.accessToken, { secret: REFRESH_SECRET })).rejects.toThrow();
    });

    it('signs an HS256 refresh token with the refresh secret, its row id and family', async () => {
      const { service, tx } = setup();
      const { pair, refreshTokenId } = await service.issue(tx, USER, META, FAMILY);
      const decoded = jwt.decode<{ header: { alg: string } }>(pair.refreshToken, {
        complete: true,
      });
      expect(decoded.header.alg).toBe('HS256');
      const claims = await jwt.verifyAsync<Record<string, unknown>>(pair.refreshToken, {
        secret: REFRESH_SECRET,
      });
      expect(claims).toMatchObject({
        sub: USER,
        typ: 'refresh',
        jti: refreshTokenId,
        fam: FAMILY,
        iss: JWT_ISSUER,
      });
      expect((claims.exp as number) - (claims.iat as number)).toBe(2 * 86_400);
    });

    it('stores the SHA-256 of the refresh token, never the token itself', async () => {
      const { service, tx, insert } = setup();
      const before = Date.now();
      const { pair, refreshTokenId } = await service.issue(tx, USER, META, FAMILY);
      const after = Date.now();

      expect(insert).toHaveBeenCalledTimes(1);
      const [target, row] = insert.mock.calls[0];
      expect(target).toBe(RefreshToken);
      expect(row).toMatchObject({
        id: refreshTokenId,
        userId: USER,
        familyId: FAMILY,
        tokenHash: createHash('sha256').update(pair.refreshToken).digest('hex'),
        createdByIp: META.ip,
        userAgent: META.userAgent,
      });
      expect(row.tokenHash).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(row)).not.toContain(pair.refreshToken);
      expect(JSON.stringify(row)).not.toContain(pair.accessToken);

      const expiresAt = (row.expiresAt as Date).getTime();
      expect(expiresAt).toBeGreaterThanOrEqual(before + 2 * 86_400_000);
      expect(expiresAt).toBeLessThanOrEqual(after + 2 * 86_400_000);
    });

    it('starts a new family when none is given', async () => {
      const { service, tx, insert } = setup();
      const first = await service.issue(tx, USER, META);
      const second = await service.issue(tx, USER, META);
      const [firstRow, secondRow] = insert.mock.calls.map(([, row]) => row);
      expect(firstRow.familyId).toMatch(UUID);
      expect(secondRow.familyId).toMatch(UUID);
      expect(firstRow.familyId).not.toBe(secondRow.familyId);
      expect(first.refreshTokenId).not.toBe(second.refreshTokenId);
      expect(first.pair.refreshToken).not.toBe(second.pair.refreshToken);
    });

    it('propagates a failing insert', async () => {
      const { service, tx, insert } = setup();
      insert.mockRejectedValue(new Error('db down'));
      await expect(service.issue(tx, USER, META)).rejects.toThrow('db down');
    });
  });

  describe('readRefreshToken', () => {
    const validClaims = { sub: USER, typ: 'refresh', jti: FAMILY, fam: FAMILY };

    it('accepts its own refresh token', async () => {
      const { service, tx } = setup();
      const { pair, refreshTokenId } = await service.issue(tx, USER, META, FAMILY);
      await expect(service.readRefreshToken(pair.refreshToken)).resolves.toMatchObject({
        sub: USER,
        typ: 'refresh',
        jti: refreshTokenId,
        fam: FAMILY,
      });
    });

    it('rejects its own access token', async () => {
      const { service, tx } = setup();
      const { pair } = await service.issue(tx, USER, META, FAMILY);
      await expect(service.readRefreshToken(pair.accessToken)).resolves.toBeNull();
    });

    it('rejects refresh claims signed with the access secret', async () => {
      const token = jwt.sign(validClaims, {
        secret: ACCESS_SECRET,
        algorithm: 'HS256',
        issuer: JWT_ISSUER,
        expiresIn: 60,
      });
      await expect(setup().service.readRefreshToken(token)).resolves.toBeNull();
    });

    it('rejects access claims even when signed with the refresh secret', async () => {
      const token = jwt.sign(
        { sub: USER, typ: 'access', jti: FAMILY, fam: FAMILY },
        { secret: REFRESH_SECRET, algorithm: 'HS256', issuer: JWT_ISSUER, expiresIn: 60 },
      );
      await expect(setup().service.readRefreshToken(token)).resolves.toBeNull();
    });

    it.each<[string, Record<string, unknown>]>([
      ['no jti', { sub: USER, typ: 'refresh', fam: FAMILY }],
      ['no fam', { sub: USER, typ: 'refresh', jti: FAMILY }],
      ['a numeric sub', { sub: 42, typ: 'refresh', jti: FAMILY, fam: FAMILY }],
    ])('rejects a well-signed token with %s', async (_, claims) => {
      const token = jwt.sign(claims, {
        secret: REFRESH_SECRET,
        algorithm: 'HS256',
        issuer: JWT_ISSUER,
        expiresIn: 60,
      });
      await expect(setup().service.readRefreshToken(token)).resolves.toBeNull();
    });

    it('rejects a token from another issuer', async () => {
      const token = jwt.sign(validClaims, {
        secret: REFRESH_SECRET,
        algorithm: 'HS256',
        issuer: 'someone-else',
        expiresIn: 60,
      });
      await expect(setup().service.readRefreshToken(token)).resolves.toBeNull();
    });

    it('rejects a tampered token', async () => {
      const { service, tx } = setup();
      const { pair } = await service.issue(tx, USER, META, FAMILY);
      const [header, payload, signature] = pair.refreshToken.split('.');
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as object;
      const forged = b64url({ ...claims, sub: 'a0b1c2d3-0000-4000-8000-000000000099' });
      await expect(
        service.readRefreshToken(`${header}.${forged}.${signature}`),
      ).resolves.toBeNull();

      const flipped = signature.startsWith('A')
        ? `B${signature.slice(1)}`
        : `A${signature.slice(1)}`;
      await expect(service.readRefreshToken(`${header}.${payload}.${flipped}`)).resolves.toBeNull();
    });

    it('rejects an expired token', async () => {
      const now = Math.floor(Date.now() / 1000);
      const token = jwt.sign(
        { ...validClaims, iat: now - 120, exp: now - 60 },
        { secret: REFRESH_SECRET, algorithm: 'HS256', issuer: JWT_ISSUER },
      );
      await expect(setup().service.readRefreshToken(token)).resolves.toBeNull();
    });

    it('rejects a token signed with HS512', async () => {
      const token = jwt.sign(validClaims, {
        secret: REFRESH_SECRET,
        algorithm: 'HS512',
        issuer: JWT_ISSUER,
        expiresIn: 60,
      });
      // The same claims and secret under HS256 pass, so only the algorithm is refused.
      const control = jwt.sign(validClaims, {
        secret: REFRESH_SECRET,
        algorithm: 'HS256',
        issuer: JWT_ISSUER,
        expiresIn: 60,
      });
      const { service } = setup();
      await expect(service.readRefreshToken(control)).resolves.not.toBeNull();
      await expect(service.readRefreshToken(token)).resolves.toBeNull();
    });

    it('rejects an unsigned (alg none) token', async () => {
      const now = Math.floor(Date.now() / 1000);
      const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({
        ...validClaims,
        iss: JWT_ISSUER,
        iat: now,
        exp: now + 60,
      })}.`;
      await expect(setup().service.readRefreshToken(token)).resolves.toBeNull();
    });

    it.each(['', 'garbage', 'a.b.c'])('rejects the malformed token %j', async (token) => {
      await expect(setup().service.readRefreshToken(token)).resolves.toBeNull();
    });
  });
});
