import { afterAll, afterEach } from '@jest/globals';
import { describeMismatches, takeResponseMismatches } from './openapi-responses';

// Runs in every e2e file (jest.config.ts, setupFilesAfterEnv): a test fails when an answer it
// received (or one received by the beforeAll/beforeEach before it) does not match the document.
function failOnMismatches(): void {
  const found = takeResponseMismatches();
  if (found.length) throw new Error(describeMismatches(found));
}

afterEach(failOnMismatches);
// Answers received in afterAll hooks, after the last test.
afterAll(failOnMismatches);
