import type { Config } from 'jest';

// npm run test:scale: three copies of the built API behind nginx (deploy/scale/stack.ts),
// proven over HTTPS (test/scale/*.scale-spec.ts). Slow (minutes) and it starts real processes
// and nginx: not part of `npm test` (jest.config.ts matches test/**/*.e2e-spec.ts only).
const config: Config = {
  displayName: 'scale',
  testEnvironment: 'node',
  rootDir: '.',
  moduleFileExtensions: ['ts', 'js', 'json'],
  testMatch: ['<rootDir>/test/scale/**/*.scale-spec.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      'ts-jest',
      {
        useESM: true,
        tsconfig: { module: 'esnext', moduleResolution: 'bundler', isolatedModules: true },
      },
    ],
    '/node_modules/.+\\.js$': '<rootDir>/test/support/esm-require.transformer.cjs',
  },
  maxWorkers: 1,
  testTimeout: 600_000,
};

export default config;
