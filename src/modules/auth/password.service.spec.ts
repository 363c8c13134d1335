import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { type AppConfig, loadConfig } from '../../config/app-config';
import { PasswordService } from './password.service';

describe('PasswordService', () => {
  let dataDir: string;
  const config = (extra: NodeJS.ProcessEnv = {}): AppConfig =>
    loadConfig({
      NODE_ENV: 'test',
      JWT_ACCESS_SECRET: 'access-secret-for-password-tests',
      JWT_REFRESH_SECRET: 'refresh-secret-for-password-tests',
      DATA_DIR: dataDir,
      ...extra,
    });

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'crm-password-spec-'));
  });

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  afterEach(() => jest.restoreAllMocks());

  it('hashes with bcrypt at the configured default cost of 12', async () => {
    const hash = await new PasswordService(config()).hash('correct horse battery staple');
    expect(hash).toMatch(/^\$2b\$12\$[./A-Za-z0-9]{53}$/);
    expect(hash).not.toContain('correct horse');
  });

  it('spends about as long on a missing hash as on a wrong password (no user enumeration)', async () => {
    const service = new PasswordService(config({ BCRYPT_COST: '8' }));
    const hash = await service.hash('s3cret-Passw0rd');
    await service.verify('warm-up', null); // computes the dummy hash once
    const elapsed = async (fn: () => Promise<boolean>): Promise<number> => {
      const start = process.hrtime.bigint();
      await expect(fn()).resolves.toBe(false);
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    const missing = Math.max(
      await elapsed(() => service.verify('guess', null)),
      await elapsed(() => service.verify('guess', null)),
    );
    const wrong = Math.min(
      await elapsed(() => service.verify('guess', hash)),
      await elapsed(() => service.verify('guess', hash)),
    );
    // A real bcrypt comparison happens in both cases; without it `missing` would be ~0 ms.
    expect(missing).toBeGreaterThan(wrong * 0.25);
  });

  describe('at a low cost', () => {
    let service: PasswordService;
    let hash: string;

    beforeAll(async () => {
      service = new PasswordService(config({ BCRYPT_COST: '4' }));
      hash = await service.hash('s3cret-Passw0rd');
    });

    it('uses BCRYPT_COST', () => {
      expect(hash.startsWith('$2b$04$')).toBe(true);
    });

    it('salts every hash', async () => {
      expect(await service.hash('s3cret-Passw0rd')).not.toBe(hash);
    });

    it('verifies the right password', async () => {
      await expect(service.verify('s3cret-Passw0rd', hash)).resolves.toBe(true);
    });

    it.each(['wrong', 's3cret-passw0rd', 's3cret-Passw0rd ', ''])(
      'rejects the wrong password %j',
      async (password) => {
        await expect(service.verify(password, hash)).resolves.toBe(false);
      },
    );

    it('answers false without a hash, after a comparison against one dummy hash', async () => {
      const hashSpy = jest.spyOn(service, 'hash');
      await expect(service.verify('s3cret-Passw0rd', null)).resolves.toBe(false);
      // Even the dummy hash's own password does not match a missing hash.
      await expect(service.verify('dummy-password-0', null)).resolves.toBe(false);
      expect(hashSpy).toHaveBeenCalledTimes(1);
    });
  });
});
