import type { Response, Test } from 'supertest';
import { as, expectError, type Session } from './api';
import type { TestApp } from './test-app';

/** Shared matchers and small helpers used by the resource e2e suites. */
export const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const keysOf = (value: unknown): string[] => Object.keys(value as object).sort();

/** 400 VALIDATION_FAILED with `details` naming `field` (when given). */
export function expectValidation(res: Response, field?: string): void {
  expectError(res, 400, 'VALIDATION_FAILED');
  const details = (res.body as { details?: { field: string; message: string }[] }).details;
  expect(details).toEqual(
    expect.arrayContaining([{ field: field ?? expect.any(String), message: expect.any(String) }]),
  );
}

export interface Resource {
  post(s: Session, organizationId: string, body: unknown): Test;
  get(s: Session, organizationId: string, id: string): Test;
  put(s: Session, organizationId: string, id: string, body: unknown): Test;
  patch(s: Session, organizationId: string, id: string, body: unknown): Test;
  remove(s: Session, organizationId: string, id: string): Test;
  list(s: Session, organizationId: string, query?: string): Test;
}

/**
 * Request helpers for a collection at `path`, authenticated as `s` in `organizationId`.
 * `app` is a getter because suites create their TestApp in `beforeAll`.
 */
export function resource(app: () => TestApp, path: string): Resource {
  return {
    post: (s, organizationId, body) =>
      app()
        .http()
        .post(path)
        .set(as(s, organizationId))
        .send(body as object),
    get: (s, organizationId, id) => app().http().get(`${path}/${id}`).set(as(s, organizationId)),
    put: (s, organizationId, id, body) =>
      app()
        .http()
        .put(`${path}/${id}`)
        .set(as(s, organizationId))
        .send(body as object),
    patch: (s, organizationId, id, body) =>
      app()
        .http()
        .patch(`${path}/${id}`)
        .set(as(s, organizationId))
        .send(body as object),
    remove: (s, organizationId, id) =>
      app().http().delete(`${path}/${id}`).set(as(s, organizationId)),
    list: (s, organizationId, query = '') =>
      app().http().get(`${path}${query}`).set(as(s, organizationId)),
  };
}
