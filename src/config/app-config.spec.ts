import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './app-config';

const ACCESS = 'a-real-access-secret-0123456789-abcdefghijklmnop';
const REFRESH = 'a-real-refresh-secret-0123456789-abcdefghijklmnop';

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'crm-config-spec-'));
  tempDirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** Runs loadConfig and returns the thrown error (failing the test when nothing is thrown). */
function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

/** The variable names of the "  - NAME: message" lines of a ConfigError. */
function problemVariables(error: ConfigError): string[] {
  return [...error.message.matchAll(/^\s+- ([A-Z0-9_]+):/gm)].map((m) => m[1]);
}

/** A valid environment outside production that never touches the working directory. */
function devEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'test',
    JWT_ACCESS_SECRET: ACCESS,
    JWT_REFRESH_SECRET: REFRESH,
    DATA_DIR: tempDir(),
    ...extra,
  };
}

describe('loadConfig', () => {
  describe('defaults', () => {
    it('applies the documented defaults when variables are unset', () => {
      const dataDir = tempDir();
      const config = loadConfig({ DATA_DIR: dataDir });

      expect(config.nodeEnv).toBe('development');
      expect(config.isProduction).toBe(false);
      expect(config.port).toBe(3000);
      expect(config.host).toBe('0.0.0.0');
      expect(config.databaseUrl).toBeNull();
      expect(config.embeddedPg).toEqual({ dir: '.data/postgres', port: 54329 });
      expect(config.db).toEqual({
        poolMin: 5,
        poolMax: 10,
        migrationsRun: true,
        statementTimeoutMs: 15_000,
        readUrls: [],
        readAfterWriteMs: 5_000,
      });
      expect(config.jwt.accessTtlSeconds).toBe(900);
      expect(config.jwt.refreshTtlSeconds).toBe(604_800);
      expect(config.bcryptCost).toBe(12);
      expect(config.bcryptThreads).toBe(availableParallelism());
      expect(config.analyticsCacheTtlSeconds).toBe(60);
      expect(config.listTotalCacheTtlSeconds).toBe(60);
      expect(config.defaultCurrency).toBe('USD');
      expect(config.currencies.has('USD')).toBe(true);
      expect(config.currencies.has('EUR')).toBe(true);
      expect(config.corsOrigins).toEqual([]);
      expect(config.logLevel).toBe('info');
      expect(config.bodyLimitBytes).toBe(1_048_576);
      expect(config.trustProxy).toBe(false);
      expect(config.rateLimit).toEqual({ userPerMinute: 1000, loginPerMinute: 5 });
      expect(config.membershipCacheTtlMs).toBe(5000);
      expect(config.swaggerEnabled).toBe(true);
      expect(config.shutdownTimeoutMs).toBe(10_000);
      expect(config.dataDir).toBe(dataDir);
      expect(config.amqpUrl).toBeNull();
      expect(config.relay).toEqual({ pollMs: 1000, batch: 500 });
    });

    it('reads the RabbitMQ relay settings and refuses a URL that is not amqp://', () => {
      const config = loadConfig({
        DATA_DIR: tempDir(),
        AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
        RELAY_POLL_MS: '250',
        RELAY_BATCH: '100',
      });
      expect(config.amqpUrl).toBe('amqp://guest:guest@127.0.0.1:5672');
      expect(config.relay).toEqual({ pollMs: 250, batch: 100 });
      expect(() => loadConfig({ DATA_DIR: tempDir(), AMQP_URL: 'http://x' })).toThrow(/AMQP_URL/);
      expect(() => loadConfig({ DATA_DIR: tempDir(), RELAY_BATCH: '0' })).toThrow(/RELAY_BATCH/);
    });

    it('reads single sign-on, retention and idempotency settings, and refuses incomplete or unsafe OIDC ones', () => {
      const oidc = {
        OIDC_ISSUER: 'https://login.example.com',
        OIDC_CLIENT_ID: 'crm',
        OIDC_REDIRECT_URI: 'https://crm.example.com/api/v1/auth/oidc/callback',
      };
      const config = loadConfig({
        DATA_DIR: tempDir(),
        ...oidc,
        OIDC_ALLOWED_REDIRECTS: 'https://app.example.com/, https://admin.example.com',
        AUDIT_RETENTION_DAYS: '90',
      });
      expect(config.oidc).toEqual({
        issuer: oidc.OIDC_ISSUER,
        clientId: 'crm',
        clientSecret: null,
        redirectUri: oidc.OIDC_REDIRECT_URI,
        allowedRedirects: ['https://app.example.com/', 'https://admin.example.com'],
      });
      expect(config.retention).toEqual({ auditDays: 90, intervalMs: 3_600_000 });
      expect(config.idempotencyTtlSeconds).toBe(86_400);
      expect(loadConfig({ DATA_DIR: tempDir() }).oidc).toBeNull();
      const bad = (env: Record<string, string>) => () =>
        loadConfig({ DATA_DIR: tempDir(), ...env });
      expect(bad({ OIDC_ISSUER: oidc.OIDC_ISSUER })).toThrow(/OIDC_CLIENT_ID/);
      expect(bad({ ...oidc, OIDC_REDIRECT_URI: `${oidc.OIDC_REDIRECT_URI}?x=1` })).toThrow(
        /query string/,
      );
      expect(
        bad({
          ...oidc,
          NODE_ENV: 'production',
          OIDC_ISSUER: 'http://login.example.com',
          JWT_ACCESS_SECRET: 'a'.repeat(40),
          JWT_REFRESH_SECRET: 'b'.repeat(40),
        }),
      ).toThrow(/https:\/\/ in production/);
    });

    it('treats empty strings as unset', () => {
      const config = loadConfig(devEnv({ PORT: '', BCRYPT_COST: '', DATABASE_URL: '' }));
      expect(config.port).toBe(3000);
      expect(config.bcryptCost).toBe(12);
      expect(config.databaseUrl).toBeNull();
    });
  });

  describe('typed values', () => {
    it('converts numbers, booleans and durations', () => {
      const config = loadConfig(
        devEnv({
          PORT: '8080',
          DB_POOL_MIN: '2',
          DB_POOL_MAX: '2',
          DB_MIGRATIONS_RUN: 'false',
          TRUST_PROXY: 'TRUE',
          SWAGGER_ENABLED: 'False',
          JWT_ACCESS_TTL: '60',
          JWT_REFRESH_TTL: '12h',
          BCRYPT_COST: '4',
          BCRYPT_THREADS: '3',
          LIST_TOTAL_CACHE_TTL_SECONDS: '0',
          MEMBERSHIP_CACHE_TTL_MS: '0',
          DATABASE_URL: 'postgresql://u:p@db:5432/crm',
        }),
      );
      expect(config.port).toBe(8080);
      expect(config.db).toMatchObject({
        poolMin: 2,
        poolMax: 2,
        migrationsRun: false,
        statementTimeoutMs: 15_000,
      });
      expect(config.trustProxy).toBe(true);
      expect(config.swaggerEnabled).toBe(false);
      expect(config.jwt.accessTtlSeconds).toBe(60);
      expect(config.jwt.refreshTtlSeconds).toBe(43_200);
      expect(config.bcryptCost).toBe(4);
      expect(config.bcryptThreads).toBe(3);
      expect(config.listTotalCacheTtlSeconds).toBe(0);
      expect(config.membershipCacheTtlMs).toBe(0);
      expect(config.databaseUrl).toBe('postgresql://u:p@db:5432/crm');
    });

    it('splits DATABASE_READ_URLS on commas; without it, no replica', () => {
      const config = loadConfig(
        devEnv({
          DATABASE_URL: 'postgres://primary/crm',
          DATABASE_READ_URLS: ' postgres://r1/crm , postgresql://r2/crm,',
          DATABASE_READ_AFTER_WRITE_MS: '2500',
        }),
      );
      expect(config.db.readUrls).toEqual(['postgres://r1/crm', 'postgresql://r2/crm']);
      expect(config.db.readAfterWriteMs).toBe(2500);
      expect(loadConfig(devEnv()).db.readUrls).toEqual([]);
    });

    it('splits CORS_ORIGINS on commas, trimming and dropping empty entries', () => {
      const config = loadConfig(
        devEnv({ CORS_ORIGINS: ' https://a.example.com , https://b.example.com,, ' }),
      );
      expect(config.corsOrigins).toEqual(['https://a.example.com', 'https://b.example.com']);
    });

    it('normalises lower-case CURRENCIES and DEFAULT_CURRENCY to upper case', () => {
      const config = loadConfig(devEnv({ CURRENCIES: 'usd, eur ,,gbp', DEFAULT_CURRENCY: 'eur' }));
      expect([...config.currencies].sort()).toEqual(['EUR', 'GBP', 'USD']);
      expect(config.defaultCurrency).toBe('EUR');
    });
  });

  describe('invalid values', () => {
    it.each<[string, NodeJS.ProcessEnv]>([
      ['PORT', { PORT: 'abc' }],
      ['PORT', { PORT: '70000' }],
      ['BCRYPT_COST', { BCRYPT_COST: '3' }],
      ['BCRYPT_COST', { BCRYPT_COST: '16' }],
      ['DB_POOL_MIN', { DB_POOL_MIN: '10', DB_POOL_MAX: '5' }],
      ['DB_POOL_MIN', { DB_POOL_MIN: '21' }],
      ['JWT_ACCESS_TTL', { JWT_ACCESS_TTL: '15x' }],
      ['JWT_REFRESH_TTL', { JWT_REFRESH_TTL: '1w' }],
      ['JWT_ACCESS_TTL', { JWT_ACCESS_TTL: '0' }],
      ['JWT_REFRESH_TTL', { JWT_REFRESH_TTL: '0s' }],
      ['JWT_REFRESH_TTL', { JWT_REFRESH_TTL: '999999999d' }],
      ['DEFAULT_CURRENCY', { DEFAULT_CURRENCY: 'XYZ' }],
      ['CURRENCIES', { CURRENCIES: 'USD,ABC' }],
      ['DEFAULT_CURRENCY', { CURRENCIES: 'EUR,GBP', DEFAULT_CURRENCY: 'USD' }],
      ['DEFAULT_CURRENCY', { CURRENCIES: 'EUR,GBP' }],
      ['NODE_ENV', { NODE_ENV: 'staging' }],
      ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
      ['DATABASE_URL', { DATABASE_URL: 'mysql://x' }],
      ['TRUST_PROXY', { TRUST_PROXY: 'yes' }],
      ['BODY_LIMIT_BYTES', { BODY_LIMIT_BYTES: '100' }],
      ['BCRYPT_THREADS', { BCRYPT_THREADS: '0' }],
      ['LIST_TOTAL_CACHE_TTL_SECONDS', { LIST_TOTAL_CACHE_TTL_SECONDS: '-1' }],
      ['LIST_TOTAL_CACHE_TTL_SECONDS', { LIST_TOTAL_CACHE_TTL_SECONDS: '86401' }],
      ['WEBHOOK_RETRY_SCHEDULE', { WEBHOOK_RETRY_SCHEDULE: '5s,soon' }],
      ['WEBHOOK_RETRY_SCHEDULE', { WEBHOOK_RETRY_SCHEDULE: Array(21).fill('1s').join(',') }],
      ['WEBHOOK_ALLOW_PRIVATE', { WEBHOOK_ALLOW_PRIVATE: 'maybe' }],
      ['WEBHOOK_TIMEOUT_MS', { WEBHOOK_TIMEOUT_MS: '50' }],
      ['SMTP_URL', { SMTP_URL: 'http://mail.example.com' }],
      ['SMS_WEBHOOK_URL', { SMS_WEBHOOK_URL: 'ftp://sms.example.com' }],
      ['PUBLIC_URL', { PUBLIC_URL: 'crm.example.com' }],
      ['DB_STATEMENT_TIMEOUT_MS', { DB_STATEMENT_TIMEOUT_MS: '-1' }],
      ['METRICS_TOKEN', { METRICS_TOKEN: 'short' }],
      ['DATABASE_READ_URLS', { DATABASE_READ_URLS: 'postgres://db:5432/crm' }],
      [
        'DATABASE_READ_URLS',
        { DATABASE_URL: 'postgres://db/crm', DATABASE_READ_URLS: 'postgres://r1/crm,mysql://r2' },
      ],
      ['DATABASE_READ_AFTER_WRITE_MS', { DATABASE_READ_AFTER_WRITE_MS: '-5' }],
    ])('reports %s for %j', (variable, bad) => {
      const error = configError(devEnv(bad));
      expect(error.name).toBe('ConfigError');
      expect(error.message).toMatch(/^Invalid configuration:/);
      const names = problemVariables(error);
      expect(names.length).toBeGreaterThan(0);
      expect(new Set(names)).toEqual(new Set([variable]));
    });

    it('names the unknown codes of CURRENCIES', () => {
      const error = configError(devEnv({ CURRENCIES: 'usd,abc,QQQ' }));
      expect(error.message).toContain('CURRENCIES: not ISO-4217 codes: ABC, QQQ');
    });

    it('reports several problems at once', () => {
      const error = configError(
        devEnv({ PORT: 'abc', BCRYPT_COST: '3', LOG_LEVEL: 'loud', NODE_ENV: 'staging' }),
      );
      expect(new Set(problemVariables(error))).toEqual(
        new Set(['PORT', 'BCRYPT_COST', 'LOG_LEVEL', 'NODE_ENV']),
      );
    });
  });

  describe('JWT secrets in production', () => {
    const prod = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
      NODE_ENV: 'production',
      DATA_DIR: tempDir(),
      ...extra,
    });

    it('accepts two distinct real secrets and writes no secrets file', () => {
      const env = prod({ JWT_ACCESS_SECRET: ACCESS, JWT_REFRESH_SECRET: REFRESH });
      const config = loadConfig(env);
      expect(config.isProduction).toBe(true);
      expect(config.jwt.accessSecret).toBe(ACCESS);
      expect(config.jwt.refreshSecret).toBe(REFRESH);
      expect(existsSync(join(env.DATA_DIR!, 'jwt-secrets.json'))).toBe(false);
    });

    it('refuses missing secrets instead of generating them', () => {
      const env = prod({});
      const error = configError(env);
      expect(error.message).toContain('JWT_ACCESS_SECRET: required in production');
      expect(error.message).toContain('JWT_REFRESH_SECRET: required in production');
      expect(existsSync(join(env.DATA_DIR!, 'jwt-secrets.json'))).toBe(false);
    });

    it('refuses one missing secret', () => {
      const error = configError(prod({ JWT_ACCESS_SECRET: ACCESS }));
      expect(problemVariables(error)).toEqual(['JWT_REFRESH_SECRET']);
    });

    it('refuses a secret shorter than 32 characters', () => {
      const error = configError(
        prod({ JWT_ACCESS_SECRET: 'a'.repeat(10) + 'b'.repeat(21), JWT_REFRESH_SECRET: REFRESH }),
      );
      expect(problemVariables(error)).toEqual(['JWT_ACCESS_SECRET']);
      expect(error.message).toContain('at least 32 characters');
    });

    it.each([
      'changeme',
      'change-me',
      'secret',
      'x'.repeat(40),
      `dev-${'k'.repeat(40)}`,
      `test_${'k'.repeat(40)}`,
    ])('refuses the placeholder secret %j', (placeholder) => {
      const error = configError(
        prod({ JWT_ACCESS_SECRET: ACCESS, JWT_REFRESH_SECRET: placeholder }),
      );
      expect(problemVariables(error)).toEqual(['JWT_REFRESH_SECRET']);
    });

    it('refuses equal access and refresh secrets', () => {
      const error = configError(prod({ JWT_ACCESS_SECRET: ACCESS, JWT_REFRESH_SECRET: ACCESS }));
      expect(error.message).toContain('JWT_REFRESH_SECRET: must differ from JWT_ACCESS_SECRET');
    });
  });

  describe('JWT secrets outside production', () => {
    it('rewrites a corrupt secrets file with mode 0600 even when it existed world-readable', () => {
      const dataDir = tempDir();
      const file = join(dataDir, 'jwt-secrets.json');
      writeFileSync(file, 'garbage', { mode: 0o644 });
      const config = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir });
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
        accessSecret: config.jwt.accessSecret,
        refreshSecret: config.jwt.refreshSecret,
      });
    });

    it('generates missing secrets once into DATA_DIR/jwt-secrets.json and reuses them', () => {
      const dataDir = join(tempDir(), 'nested', 'data');
      const file = join(dataDir, 'jwt-secrets.json');
      const first = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir });

      expect(existsSync(file)).toBe(true);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
      expect(stored).toEqual({
        accessSecret: first.jwt.accessSecret,
        refreshSecret: first.jwt.refreshSecret,
      });
      expect(first.jwt.accessSecret.length).toBeGreaterThanOrEqual(32);
      expect(first.jwt.refreshSecret.length).toBeGreaterThanOrEqual(32);
      expect(first.jwt.accessSecret).not.toBe(first.jwt.refreshSecret);

      const second = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir });
      expect(second.jwt.accessSecret).toBe(first.jwt.accessSecret);
      expect(second.jwt.refreshSecret).toBe(first.jwt.refreshSecret);
    });

    it('uses secrets already stored in the file', () => {
      const dataDir = tempDir();
      writeFileSync(
        join(dataDir, 'jwt-secrets.json'),
        JSON.stringify({ accessSecret: 'stored-access', refreshSecret: 'stored-refresh' }),
      );
      const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir });
      expect(config.jwt.accessSecret).toBe('stored-access');
      expect(config.jwt.refreshSecret).toBe('stored-refresh');
    });

    it('regenerates an unreadable secrets file', () => {
      const dataDir = tempDir();
      const file = join(dataDir, 'jwt-secrets.json');
      writeFileSync(file, 'not json');
      const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir });
      expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
        accessSecret: config.jwt.accessSecret,
        refreshSecret: config.jwt.refreshSecret,
      });
    });

    it('lets explicit env secrets win over generated ones', () => {
      const dataDir = tempDir();
      const generated = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir }).jwt;

      const both = loadConfig({
        NODE_ENV: 'test',
        DATA_DIR: dataDir,
        JWT_ACCESS_SECRET: ACCESS,
        JWT_REFRESH_SECRET: REFRESH,
      }).jwt;
      expect(both.accessSecret).toBe(ACCESS);
      expect(both.refreshSecret).toBe(REFRESH);

      const onlyAccess = loadConfig({
        NODE_ENV: 'test',
        DATA_DIR: dataDir,
        JWT_ACCESS_SECRET: ACCESS,
      }).jwt;
      expect(onlyAccess.accessSecret).toBe(ACCESS);
      expect(onlyAccess.refreshSecret).toBe(generated.refreshSecret);
    });

    it('does not create a secrets file when both secrets are given', () => {
      const env = devEnv();
      loadConfig(env);
      expect(existsSync(join(env.DATA_DIR!, 'jwt-secrets.json'))).toBe(false);
    });

    it('accepts short development secrets outside production', () => {
      const config = loadConfig(
        devEnv({ JWT_ACCESS_SECRET: 'dev-a', JWT_REFRESH_SECRET: 'dev-b' }),
      );
      expect(config.jwt.accessSecret).toBe('dev-a');
    });
  });
});
