import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config/app-config';
import { AppException } from '../errors/app.exception';
import { CursorCodec } from './cursor.codec';

const codec = (secret = 'cursor-spec-access-secret-0123456789-abcdef'): CursorCodec =>
  new CursorCodec(
    loadConfig({
      NODE_ENV: 'test',
      JWT_ACCESS_SECRET: secret,
      JWT_REFRESH_SECRET: 'cursor-spec-refresh-secret-0123456789-abcdef',
      DATA_DIR: mkdtempSync(join(tmpdir(), 'crm-cursor-spec-')),
    }),
  );

const position = {
  key: '2026-11-21 10:00:00.123456+00',
  id: '5d1f3f7e-8a37-4a51-9f0a-1e2b3c4d5e6f',
};

function rejection(fn: () => unknown): AppException {
  try {
    fn();
  } catch (e) {
    return e as AppException;
  }
  throw new Error('expected a rejection');
}

describe('CursorCodec', () => {
  it('round-trips a position within its scope, including a null key', () => {
    const c = codec();
    expect(
      c.decode('members:a:createdAt:desc', c.encode('members:a:createdAt:desc', position)),
    ).toEqual(position);
    const nullKey = { key: null, id: position.id };
    expect(c.decode('s', c.encode('s', nullKey))).toEqual(nullKey);
  });

  it.each([
    [
      'another scope',
      (c: CursorCodec) =>
        c.decode('members:b:createdAt:desc', c.encode('members:a:createdAt:desc', position)),
    ],
    [
      'a tampered body',
      (c: CursorCodec) => {
        const [, sig] = c.encode('s', position).split('.');
        const forged = Buffer.from(
          JSON.stringify({ scope: 's', key: 'x', id: position.id }),
        ).toString('base64url');
        return c.decode('s', `${forged}.${sig}`);
      },
    ],
    [
      'a missing signature',
      (c: CursorCodec) => c.decode('s', c.encode('s', position).split('.')[0]),
    ],
    ['extra segments', (c: CursorCodec) => c.decode('s', `${c.encode('s', position)}.x`)],
    ['garbage', (c: CursorCodec) => c.decode('s', 'garbage')],
    [
      'a cursor signed with another secret',
      (c: CursorCodec) =>
        c.decode('s', codec('another-secret-0123456789-0123456789-abcdef').encode('s', position)),
    ],
  ])('refuses %s with 400 VALIDATION_FAILED on the cursor field', (_, run) => {
    const error = rejection(() => run(codec()));
    expect(error).toBeInstanceOf(AppException);
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details).toEqual([expect.objectContaining({ field: 'cursor' })]);
  });
});
