import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  validateSync,
} from 'class-validator';
import { ISO_4217_CODES } from './currencies';
import { parseDurationListMs, parseDurationSeconds } from './duration';
import { loadOrCreateDevSecrets } from './secrets';

const DURATION = /^\d+[smhd]?$/;
const toBool = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string'
    ? (({ true: true, false: false } as Record<string, boolean>)[value.toLowerCase()] ?? value)
    : value;
const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Secrets that must never reach production. */
const PLACEHOLDER_SECRET =
  /^(change[-_ ]?me|changeme|secret|placeholder|dev[-_].*|test[-_].*|x+)$/i;

/** The raw environment, validated field by field. Defaults live here and only here. */
class Environment {
  @IsIn(['development', 'production', 'test'])
  NODE_ENV = 'development';

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 3000;

  @IsString()
  HOST = '0.0.0.0';

  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/.+/, { message: 'DATABASE_URL must be a postgres:// URL' })
  DATABASE_URL?: string;

  @IsString()
  @MinLength(1)
  EMBEDDED_PG_DIR = '.data/postgres';

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(65535)
  EMBEDDED_PG_PORT = 54329;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(1000)
  DB_POOL_MIN = 5;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000)
  DB_POOL_MAX = 10;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(3_600_000)
  DB_STATEMENT_TIMEOUT_MS = 15_000;

  @Transform(toBool)
  @IsBoolean()
  DB_MIGRATIONS_RUN = true;

  /** Comma-separated postgres:// URLs of streaming replicas (checked in loadConfig). */
  @IsOptional()
  @IsString()
  DATABASE_READ_URLS?: string;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(3_600_000)
  DATABASE_READ_AFTER_WRITE_MS = 5_000;

  @IsOptional()
  @IsString()
  JWT_ACCESS_SECRET?: string;

  @IsOptional()
  @IsString()
  JWT_REFRESH_SECRET?: string;

  @Matches(DURATION, { message: 'JWT_ACCESS_TTL must look like 900, 900s, 15m, 12h or 7d' })
  JWT_ACCESS_TTL = '15m';

  @Matches(DURATION, { message: 'JWT_REFRESH_TTL must look like 900, 900s, 15m, 12h or 7d' })
  JWT_REFRESH_TTL = '7d';

  @Transform(toInt)
  @IsInt()
  @Min(4)
  @Max(15)
  BCRYPT_COST = 12;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(256)
  BCRYPT_THREADS?: number;

  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.toUpperCase() : value,
  )
  @IsIn(ISO_4217_CODES, { message: 'DEFAULT_CURRENCY must be an ISO-4217 code' })
  DEFAULT_CURRENCY = 'USD';

  @IsOptional()
  @IsString()
  CURRENCIES?: string;

  @IsString()
  CORS_ORIGINS = '';

  @IsIn(LOG_LEVELS)
  LOG_LEVEL: (typeof LOG_LEVELS)[number] = 'info';

  @Transform(toInt)
  @IsInt()
  @Min(1024)
  BODY_LIMIT_BYTES = 1_048_576;

  @Transform(toBool)
  @IsBoolean()
  TRUST_PROXY = false;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  RATE_LIMIT_USER_PER_MINUTE = 1000;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  RATE_LIMIT_LOGIN_PER_MINUTE = 5;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  MEMBERSHIP_CACHE_TTL_MS = 5000;

  @Transform(toBool)
  @IsBoolean()
  SWAGGER_ENABLED = true;

  @IsOptional()
  @Matches(/^rediss?:\/\/.+/, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  REDIS_URL?: string;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(86_400)
  ANALYTICS_CACHE_TTL_SECONDS = 60;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(86_400)
  LIST_TOTAL_CACHE_TTL_SECONDS = 60;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3650)
  EVENTS_RETENTION_DAYS = 30;

  @IsOptional()
  @Matches(/^amqps?:\/\/.+/, { message: 'AMQP_URL must be an amqp:// or amqps:// URL' })
  AMQP_URL?: string;

  @Matches(/^[a-z][a-z0-9-]{0,39}$/, {
    message: 'AMQP_NAMESPACE must be lower-case letters, digits and dashes (at most 40)',
  })
  AMQP_NAMESPACE = 'crm';

  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(3_600_000)
  RELAY_POLL_MS = 1000;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(10_000)
  RELAY_BATCH = 500;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(20)
  EVENT_MAX_ATTEMPTS = 5;

  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(3_600_000)
  EVENT_RETRY_BASE_MS = 1000;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  SHUTDOWN_TIMEOUT_MS = 10_000;

  @IsString()
  @MinLength(1)
  DATA_DIR = '.data';

  // Webhooks (API.md section 13).
  @Transform(toBool)
  @IsBoolean()
  WEBHOOK_ALLOW_HTTP = false;

  @Transform(toBool)
  @IsBoolean()
  WEBHOOK_ALLOW_PRIVATE = false;

  @IsString()
  WEBHOOK_RETRY_SCHEDULE = '5s,5m,30m,2h,5h,10h,10h';

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(10_000)
  WEBHOOK_DISABLE_AFTER = 50;

  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(60_000)
  WEBHOOK_TIMEOUT_MS = 10_000;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000)
  WEBHOOK_CONCURRENCY = 32;

  // Notifications (API.md section 14).
  @IsOptional()
  @Matches(/^smtps?:\/\/.+/, { message: 'SMTP_URL must be an smtp:// or smtps:// URL' })
  SMTP_URL?: string;

  @IsString()
  @MinLength(3)
  MAIL_FROM = 'CRM <no-reply@crm.localhost>';

  @IsOptional()
  @Matches(/^https?:\/\/.+/, { message: 'SMS_WEBHOOK_URL must be an http(s):// URL' })
  SMS_WEBHOOK_URL?: string;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(20)
  NOTIFY_MAX_ATTEMPTS = 5;

  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(3_600_000)
  NOTIFY_RETRY_BASE_MS = 2000;

  @Matches(/^https?:\/\/[^/]+(\/.*)?$/, { message: 'PUBLIC_URL must be an http(s):// URL' })
  PUBLIC_URL = 'http://localhost:3000';

  // Operations (API.md section 15).
  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'METRICS_TOKEN must be at least 16 characters' })
  METRICS_TOKEN?: string;

  // Identity and access (API.md section 16).
  @IsOptional()
  @Matches(/^https?:\/\/[^/]+(\/.*)?$/, { message: 'OIDC_ISSUER must be an http(s):// URL' })
  OIDC_ISSUER?: string;

  @IsOptional()
  @IsString()
  OIDC_CLIENT_ID?: string;

  @IsOptional()
  @IsString()
  OIDC_CLIENT_SECRET?: string;

  @IsOptional()
  @Matches(/^https?:\/\/[^/]+(\/.*)?$/, { message: 'OIDC_REDIRECT_URI must be an http(s):// URL' })
  OIDC_REDIRECT_URI?: string;

  /** Comma-separated origins or URL prefixes `redirectTo` may point to. */
  @IsString()
  OIDC_ALLOWED_REDIRECTS = '';

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3650)
  AUDIT_RETENTION_DAYS = 365;

  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(86_400_000)
  RETENTION_INTERVAL_MS = 3_600_000;

  @Transform(toInt)
  @IsInt()
  @Min(60)
  @Max(7 * 86_400)
  IDEMPOTENCY_TTL_SECONDS = 86_400;
}

export interface AppConfig {
  nodeEnv: 'development' | 'production' | 'test';
  isProduction: boolean;
  port: number;
  host: string;
  /** Set when an external PostgreSQL is used; null means "start the embedded one". */
  databaseUrl: string | null;
  embeddedPg: { dir: string; port: number };
  /**
   * `statementTimeoutMs`: every SQL statement of the app's pool is canceled after it (0: never);
   * exports and migrations are exempt.
   */
  /**
   * `readUrls`: streaming replicas that serve the requests' reads (lists, search, analytics,
   * exports, reads by id); `readAfterWriteMs`: for this long after a user's write, that user's
   * reads go to the primary (docs/decisions/0040).
   */
  db: {
    poolMin: number;
    poolMax: number;
    migrationsRun: boolean;
    statementTimeoutMs: number;
    readUrls: string[];
    readAfterWriteMs: number;
  };
  jwt: {
    accessSecret: string;
    refreshSecret: string;
    accessTtlSeconds: number;
    refreshTtlSeconds: number;
  };
  bcryptCost: number;
  /** Threads of the bcrypt pool (default: the number of CPUs). */
  bcryptThreads: number;
  defaultCurrency: string;
  currencies: ReadonlySet<string>;
  corsOrigins: string[];
  logLevel: (typeof LOG_LEVELS)[number];
  bodyLimitBytes: number;
  trustProxy: boolean;
  rateLimit: { userPerMinute: number; loginPerMinute: number };
  membershipCacheTtlMs: number;
  swaggerEnabled: boolean;
  /** Shared cache (analytics, list totals) when set; in-memory per process otherwise. */
  redisUrl: string | null;
  /** 0 disables the analytics cache. */
  analyticsCacheTtlSeconds: number;
  /** 0 counts every offset list page's `total` afresh. */
  listTotalCacheTtlSeconds: number;
  /** Domain events older than this many days are purged (API.md section 12). */
  eventsRetentionDays: number;
  /** RabbitMQ: when set, a relay publishes the outbox to the exchange `crm.events`. */
  amqpUrl: string | null;
  /** The prefix of the exchange and queue names: `crm` gives `crm.events` (API.md section 12). */
  amqpNamespace: string;
  /** The relay: how often it looks for unpublished events, and how many it publishes at once. */
  relay: { pollMs: number; batch: number };
  /** In-app event consumers: attempts before a message is dead-lettered, the first retry's delay. */
  consumers: { maxAttempts: number; retryBaseMs: number };
  shutdownTimeoutMs: number;
  dataDir: string;
  webhooks: {
    allowHttp: boolean;
    allowPrivate: boolean;
    /** Delay before each retry, in milliseconds (its length is the number of retries). */
    retryScheduleMs: number[];
    /** Consecutive failed deliveries after which an endpoint is disabled. */
    disableAfter: number;
    timeoutMs: number;
    /** Deliveries in flight per copy (each to another endpoint). */
    concurrency: number;
  };
  notifications: {
    /** null: emails are written as .eml files to `<dataDir>/mail/`. */
    smtpUrl: string | null;
    mailFrom: string;
    /** null: text messages are written to the log. */
    smsWebhookUrl: string | null;
    maxAttempts: number;
    retryBaseMs: number;
  };
  /** The address of the API as users reach it (links in emails). */
  publicUrl: string;
  /** null: `/metrics` is open (to be protected by the network); else its Bearer token. */
  metricsToken: string | null;
  /** Single sign-on (API.md section 16); null when OIDC_ISSUER is not set. */
  oidc: {
    issuer: string;
    clientId: string;
    clientSecret: string | null;
    redirectUri: string;
    allowedRedirects: string[];
  } | null;
  retention: {
    auditDays: number;
    /** How often each retention job runs (one copy at a time). */
    intervalMs: number;
  };
  /** How long a completed Idempotency-Key answer is kept (API.md section 17: 24 h). */
  idempotencyTtlSeconds: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Reads, validates and types the configuration. Throws a ConfigError naming every bad
 * variable, so the process stops at boot with a clear message instead of failing later.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const present = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v !== ''),
  );
  const raw = plainToInstance(Environment, present, { exposeDefaultValues: true });
  const problems = validateSync(raw, { whitelist: false }).flatMap((e) =>
    Object.values(e.constraints ?? {}).map((m) => `${e.property}: ${m}`),
  );

  const currencies = raw.CURRENCIES
    ? raw.CURRENCIES.split(',')
        .map((c) => c.trim().toUpperCase())
        .filter(Boolean)
    : [...ISO_4217_CODES];
  const unknown = currencies.filter((c) => !ISO_4217_CODES.includes(c));
  if (unknown.length) problems.push(`CURRENCIES: not ISO-4217 codes: ${unknown.join(', ')}`);
  if (!currencies.includes(raw.DEFAULT_CURRENCY)) {
    problems.push('DEFAULT_CURRENCY: must be one of CURRENCIES');
  }
  if (raw.DB_POOL_MIN > raw.DB_POOL_MAX) problems.push('DB_POOL_MIN: must not exceed DB_POOL_MAX');
  const readUrls = (raw.DATABASE_READ_URLS ?? '')
    .split(',')
    .map((url) => url.trim())
    .filter(Boolean);
  if (readUrls.some((url) => !/^postgres(ql)?:\/\/.+/.test(url))) {
    problems.push('DATABASE_READ_URLS: must be comma-separated postgres:// URLs');
  }
  if (readUrls.length && !raw.DATABASE_URL) {
    problems.push('DATABASE_READ_URLS: needs DATABASE_URL (the primary they replicate)');
  }
  const accessTtlSeconds = ttl('JWT_ACCESS_TTL', raw.JWT_ACCESS_TTL, problems);
  const retryScheduleMs = parseDurationListMs(raw.WEBHOOK_RETRY_SCHEDULE) ?? [];
  if (!retryScheduleMs.length || retryScheduleMs.length > 20) {
    problems.push(
      'WEBHOOK_RETRY_SCHEDULE: must be 1 to 20 comma-separated durations (e.g. 5s,5m,30m,2h)',
    );
  }
  const refreshTtlSeconds = ttl('JWT_REFRESH_TTL', raw.JWT_REFRESH_TTL, problems);

  const isProduction = raw.NODE_ENV === 'production';
  let { JWT_ACCESS_SECRET: accessSecret, JWT_REFRESH_SECRET: refreshSecret } = raw;
  if (isProduction) {
    for (const [name, value] of [
      ['JWT_ACCESS_SECRET', accessSecret],
      ['JWT_REFRESH_SECRET', refreshSecret],
    ] as const) {
      if (!value) problems.push(`${name}: required in production`);
      else if (value.length < 32 || PLACEHOLDER_SECRET.test(value)) {
        problems.push(`${name}: must be a real secret of at least 32 characters in production`);
      }
    }
    if (accessSecret && accessSecret === refreshSecret) {
      problems.push('JWT_REFRESH_SECRET: must differ from JWT_ACCESS_SECRET');
    }
  }
  if (raw.OIDC_ISSUER && (!raw.OIDC_CLIENT_ID || !raw.OIDC_REDIRECT_URI)) {
    problems.push('OIDC_ISSUER: needs OIDC_CLIENT_ID and OIDC_REDIRECT_URI');
  }
  if (raw.NODE_ENV === 'production' && raw.OIDC_ISSUER?.startsWith('http://')) {
    problems.push('OIDC_ISSUER: must be https:// in production');
  }
  // openid-client rebuilds the redirect URI without its query: one with a query never matches.
  if (raw.OIDC_REDIRECT_URI?.includes('?')) {
    problems.push('OIDC_REDIRECT_URI: must not have a query string');
  }
  if (problems.length) {
    throw new ConfigError(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
  if (!accessSecret || !refreshSecret) {
    const generated = loadOrCreateDevSecrets(join(raw.DATA_DIR, 'jwt-secrets.json'));
    accessSecret ??= generated.accessSecret;
    refreshSecret ??= generated.refreshSecret;
  }

  return {
    nodeEnv: raw.NODE_ENV as AppConfig['nodeEnv'],
    isProduction,
    port: raw.PORT,
    host: raw.HOST,
    databaseUrl: raw.DATABASE_URL ?? null,
    embeddedPg: { dir: raw.EMBEDDED_PG_DIR, port: raw.EMBEDDED_PG_PORT },
    db: {
      poolMin: raw.DB_POOL_MIN,
      poolMax: raw.DB_POOL_MAX,
      migrationsRun: raw.DB_MIGRATIONS_RUN,
      statementTimeoutMs: raw.DB_STATEMENT_TIMEOUT_MS,
      readUrls,
      readAfterWriteMs: raw.DATABASE_READ_AFTER_WRITE_MS,
    },
    jwt: {
      accessSecret,
      refreshSecret,
      accessTtlSeconds,
      refreshTtlSeconds,
    },
    bcryptCost: raw.BCRYPT_COST,
    bcryptThreads: raw.BCRYPT_THREADS ?? availableParallelism(),
    defaultCurrency: raw.DEFAULT_CURRENCY,
    currencies: new Set(currencies),
    corsOrigins: raw.CORS_ORIGINS.split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    logLevel: raw.LOG_LEVEL,
    bodyLimitBytes: raw.BODY_LIMIT_BYTES,
    trustProxy: raw.TRUST_PROXY,
    rateLimit: {
      userPerMinute: raw.RATE_LIMIT_USER_PER_MINUTE,
      loginPerMinute: raw.RATE_LIMIT_LOGIN_PER_MINUTE,
    },
    membershipCacheTtlMs: raw.MEMBERSHIP_CACHE_TTL_MS,
    swaggerEnabled: raw.SWAGGER_ENABLED,
    redisUrl: raw.REDIS_URL ?? null,
    analyticsCacheTtlSeconds: raw.ANALYTICS_CACHE_TTL_SECONDS,
    listTotalCacheTtlSeconds: raw.LIST_TOTAL_CACHE_TTL_SECONDS,
    eventsRetentionDays: raw.EVENTS_RETENTION_DAYS,
    amqpUrl: raw.AMQP_URL ?? null,
    amqpNamespace: raw.AMQP_NAMESPACE,
    relay: { pollMs: raw.RELAY_POLL_MS, batch: raw.RELAY_BATCH },
    consumers: { maxAttempts: raw.EVENT_MAX_ATTEMPTS, retryBaseMs: raw.EVENT_RETRY_BASE_MS },
    shutdownTimeoutMs: raw.SHUTDOWN_TIMEOUT_MS,
    dataDir: raw.DATA_DIR,
    webhooks: {
      allowHttp: raw.WEBHOOK_ALLOW_HTTP,
      allowPrivate: raw.WEBHOOK_ALLOW_PRIVATE,
      retryScheduleMs,
      disableAfter: raw.WEBHOOK_DISABLE_AFTER,
      timeoutMs: raw.WEBHOOK_TIMEOUT_MS,
      concurrency: raw.WEBHOOK_CONCURRENCY,
    },
    notifications: {
      smtpUrl: raw.SMTP_URL ?? null,
      mailFrom: raw.MAIL_FROM,
      smsWebhookUrl: raw.SMS_WEBHOOK_URL ?? null,
      maxAttempts: raw.NOTIFY_MAX_ATTEMPTS,
      retryBaseMs: raw.NOTIFY_RETRY_BASE_MS,
    },
    publicUrl: raw.PUBLIC_URL.replace(/\/+$/, ''),
    metricsToken: raw.METRICS_TOKEN ?? null,
    oidc: raw.OIDC_ISSUER
      ? {
          issuer: raw.OIDC_ISSUER,
          clientId: raw.OIDC_CLIENT_ID!,
          clientSecret: raw.OIDC_CLIENT_SECRET ?? null,
          redirectUri: raw.OIDC_REDIRECT_URI!,
          allowedRedirects: raw.OIDC_ALLOWED_REDIRECTS.split(',')
            .map((entry) => entry.trim())
            .filter(Boolean),
        }
      : null,
    retention: { auditDays: raw.AUDIT_RETENTION_DAYS, intervalMs: raw.RETENTION_INTERVAL_MS },
    idempotencyTtlSeconds: raw.IDEMPOTENCY_TTL_SECONDS,
  };
}

const MAX_TTL_SECONDS = 366 * 86_400;

/** A token lifetime: more than zero, at most a year (a Date must hold now + TTL). */
function ttl(name: string, value: string, problems: string[]): number {
  const seconds = parseDurationSeconds(value);
  if (seconds !== null && seconds <= MAX_TTL_SECONDS) return seconds;
  if (DURATION.test(value)) problems.push(`${name}: must be more than 0 and at most 366d`);
  return 0;
}

/** Injection token for the AppConfig object. */
export const APP_CONFIG = Symbol('APP_CONFIG');
