import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { type AppConfig, loadConfig } from '../../config/app-config';
import { readdirSync, readFileSync } from 'node:fs';
import { AppException } from '../../common/errors/app.exception';
import { PasswordService, QUEUED_PER_THREAD } from './password.service';

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

  /** Nice values of this process's threads (Linux: /proc/self/task/<tid>/stat, field 19). */
  function threadNiceValues(): number[] {
    return readdirSync('/proc/self/task').map((tid) => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    });
  }

  (process.platform === 'linux' ? it : it.skip)(
    'runs bcrypt in BCRYPT_THREADS worker threads at nice 19, the rest of the process untouched',
    async () => {
      const before = threadNiceValues().filter((n) => n === 19).length;
      const service = new PasswordService(config({ BCRYPT_COST: '4', BCRYPT_THREADS: '3' }));
      try {
        const hash = await service.hash('s3cret-Passw0rd');
        await Promise.all([1, 2, 3].map(() => service.verify('s3cret-Passw0rd', hash)));
        expect(threadNiceValues().filter((n) => n === 19).length - before).toBe(3);
        expect(threadNiceValues().filter((n) => n === 0).length).toBeGreaterThan(0);
      } finally {
        await service.onModuleDestroy();
      }
    },
  );

  it('answers 503 NOT_READY once more than QUEUED_PER_THREAD tasks per thread wait', async () => {
    const service = new PasswordService(config({ BCRYPT_COST: '8', BCRYPT_THREADS: '1' }));
    try {
      const hash = await service.hash('s3cret-Passw0rd');
      const outcomes = await Promise.allSettled(
        Array.from({ length: QUEUED_PER_THREAD + 6 }, () => service.verify('guess-123', hash)),
      );
      const rejected = outcomes.filter((o) => o.status === 'rejected');
      // One running, QUEUED_PER_THREAD waiting: the remaining 5 are refused at once.
      expect(rejected).toHaveLength(5);
      for (const r of rejected) {
        const error = r.reason as AppException;
        expect(error).toBeInstanceOf(AppException);
        expect({ status: error.status, code: error.code }).toEqual({
          status: 503,
          code: 'NOT_READY',
        });
      }
      expect(outcomes.filter((o) => o.status === 'fulfilled' && o.value === false)).toHaveLength(
        QUEUED_PER_THREAD + 1,
      );
    } finally {
      await service.onModuleDestroy();
    }
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
