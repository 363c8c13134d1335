import {
  canonicalJson,
  invalidKeyReason,
  keyScope,
  requestFingerprint,
} from './idempotency-request';

describe('Idempotency-Key requests', () => {
  it('accepts 1..255 printable ASCII characters, once', () => {
    expect(invalidKeyReason('a')).toBeUndefined();
    expect(invalidKeyReason(' ~'.repeat(127) + 'x')).toBeUndefined();
    expect(invalidKeyReason('')).toBe('must not be empty');
    expect(invalidKeyReason('k'.repeat(256))).toBe('must be at most 255 characters');
    expect(invalidKeyReason('clé')).toBe('must contain only printable ASCII characters');
    expect(invalidKeyReason('a\tb')).toBe('must contain only printable ASCII characters');
    expect(invalidKeyReason('a\x7fb')).toBe('must contain only printable ASCII characters');
    expect(invalidKeyReason(['a', 'b'])).toBe('must be sent once');
  });

  it('fingerprints method, URL and body, whatever the order of properties', () => {
    const a = requestFingerprint('POST', '/api/v1/deals', {
      b: 1,
      a: { d: [1, { y: 2, x: 1 }], c: null },
    });
    const b = requestFingerprint('POST', '/api/v1/deals', {
      a: { c: null, d: [1, { x: 1, y: 2 }] },
      b: 1,
    });
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(requestFingerprint('POST', '/api/v1/deals', { b: 2 })).not.toBe(
      requestFingerprint('POST', '/api/v1/deals', { b: 1 }),
    );
    expect(requestFingerprint('POST', '/api/v1/deals?x=1', {})).not.toBe(
      requestFingerprint('POST', '/api/v1/deals', {}),
    );
    expect(requestFingerprint('POST', '/api/v1/contacts', {})).not.toBe(
      requestFingerprint('POST', '/api/v1/deals', {}),
    );
  });

  it('writes canonical JSON: sorted keys, undefined dropped, markers named by class', () => {
    class Marker {
      constructor(readonly message: string) {}
    }
    expect(canonicalJson({ b: undefined, a: [undefined, 'x'], c: 1.5 })).toBe(
      '{"a":[null,"x"],"c":1.5}',
    );
    expect(canonicalJson(undefined)).toBe('null');
    expect(canonicalJson(new Marker('bad'))).toBe('Marker{"message":"bad"}');
    expect(canonicalJson(new Marker('bad'))).not.toBe(canonicalJson({ message: 'bad' }));
  });

  it('scopes a key by API key when the request uses one, else by user, and by organization', () => {
    const user = keyScope({ id: 'u1' }, 'o1');
    expect(keyScope({ id: 'u1' }, 'o1')).toBe(user);
    expect(keyScope({ id: 'u2' }, 'o1')).not.toBe(user);
    expect(keyScope({ id: 'u1' }, 'o2')).not.toBe(user);
    expect(keyScope({ id: 'u1' }, undefined)).not.toBe(user);
    const viaKey = keyScope({ id: 'u1', apiKey: { id: 'k1' } }, 'o1');
    expect(viaKey).not.toBe(user);
    expect(keyScope({ id: 'u1', apiKey: { id: 'k2' } }, 'o1')).not.toBe(viaKey);
    // Two keys of one creator are two callers; the key id alone decides.
    expect(keyScope({ id: 'u9', apiKey: { id: 'k1' } }, 'o1')).toBe(viaKey);
  });
});
