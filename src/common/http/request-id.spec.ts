import type { IncomingMessage } from 'node:http';
import { requestIdFor } from './request-id';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const requestWith = (header: string | string[] | undefined): IncomingMessage =>
  ({ headers: header === undefined ? {} : { 'x-request-id': header } }) as IncomingMessage;

describe('requestIdFor', () => {
  it.each([
    'a',
    'abc-123',
    'A.b_c:d-e',
    '0123456789',
    'x'.repeat(128),
    '3f2a1c52-9e4b-4d3f-8a7e-2b6c1d0e9f11',
  ])('keeps the well-formed client id %j', (id) => {
    expect(requestIdFor(requestWith(id))).toBe(id);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['129 characters', 'x'.repeat(129)],
    ['a space', 'abc 123'],
    ['a leading space', ' abc'],
    ['a trailing newline', 'abc\n'],
    ['unicode', 'réquest-id'],
    ['a slash', 'a/b'],
    ['a log injection attempt', 'abc\r\nX-Injected: 1'],
    ['an array header', ['abc', 'def']],
    ['a single-element array header', ['abc']],
  ])('replaces a client id that is %s by a UUID', (_, header) => {
    const id = requestIdFor(requestWith(header));
    expect(id).toMatch(UUID);
  });

  it('generates a fresh UUID for every request without an id', () => {
    expect(requestIdFor(requestWith(undefined))).not.toBe(requestIdFor(requestWith(undefined)));
  });
});
