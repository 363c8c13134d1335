import { isAllowedRedirect, nameOf, verifiedEmailOf, withTokensInFragment } from './sso-rules';

describe('single sign-on rules', () => {
  describe('isAllowedRedirect', () => {
    const allowed = ['https://app.example.com/sso', 'http://localhost:5173', 'https://x.test/a/'];

    it.each([
      'https://app.example.com/sso',
      'https://app.example.com/sso/',
      'https://app.example.com/sso/done?x=1',
      'https://APP.example.com:443/sso',
      'http://localhost:5173',
      'http://localhost:5173/anything',
      'https://x.test/a/b',
    ])('admits %s', (target) => {
      expect(isAllowedRedirect(target, allowed)).toBe(true);
    });

    it.each([
      'https://app.example.com/ssox',
      'https://app.example.com/',
      'https://app.example.com/sso/../admin',
      'https://app.example.com/sso%2F..%2Fadmin',
      'https://app.example.com.evil.test/sso',
      'https://evil.test/https://app.example.com/sso',
      'https://app.example.com@evil.test/sso',
      'https://user:pw@app.example.com/sso',
      'http://app.example.com/sso',
      'https://app.example.com:8443/sso',
      'http://localhost:5174/',
      'https://x.test/a',
      'https://app.example.com/sso#frag',
      'https://app.example.com/sso#',
      '/sso',
      '//app.example.com/sso',
      'javascript:alert(1)',
      'data:text/html,x',
      '',
    ])('refuses %s', (target) => {
      expect(isAllowedRedirect(target, allowed)).toBe(false);
    });

    it('refuses everything when the list is empty, and ignores unparsable entries', () => {
      expect(isAllowedRedirect('https://app.example.com/sso', [])).toBe(false);
      expect(isAllowedRedirect('https://app.example.com/sso', ['app.example.com', '*'])).toBe(
        false,
      );
    });
  });

  it('puts the token pair in the fragment, keeping the query', () => {
    const url = withTokensInFragment('https://app.example.com/sso?x=1', {
      accessToken: 'a.b.c',
      refreshToken: 'd+e/f',
      tokenType: 'Bearer',
      expiresIn: 900,
    });
    expect(url).toBe(
      'https://app.example.com/sso?x=1#accessToken=a.b.c&refreshToken=d%2Be%2Ff&tokenType=Bearer&expiresIn=900',
    );
  });

  describe('verifiedEmailOf', () => {
    it('answers the trimmed, lower-cased email when email_verified is true', () => {
      expect(
        verifiedEmailOf({ sub: 's', email: ' Ada@Example.COM ', email_verified: true }),
      ).toEqual({ email: 'ada@example.com' });
    });

    it.each([
      [{ email: 'a@b.c', email_verified: false }, 'email_not_verified'],
      [{ email: 'a@b.c', email_verified: 'true' }, 'email_not_verified'],
      [{ email: 'a@b.c' }, 'email_not_verified'],
      [{ email_verified: true }, 'email_missing'],
      [{ email: 'not-an-email', email_verified: true }, 'email_missing'],
      [{ email: 'a\u0000@b.c', email_verified: true }, 'email_missing'],
      [{ email: `${'a'.repeat(250)}@b.cd`, email_verified: true }, 'email_missing'],
      [{ email: 42, email_verified: true }, 'email_missing'],
    ])('refuses %j: %s', (claims, refused) => {
      expect(verifiedEmailOf({ sub: 's', ...claims })).toEqual({ refused });
    });
  });

  describe('nameOf', () => {
    it('takes the name claim, trimmed, without control characters, at most 200 characters', () => {
      expect(nameOf({ sub: 's', name: ' Grace\u0000 Hopper ' }, 'g@x.test')).toBe('Grace Hopper');
      expect(nameOf({ sub: 's', name: '😀'.repeat(250) }, 'g@x.test')).toBe('😀'.repeat(200));
    });

    it("falls back to the email's local part", () => {
      expect(nameOf({ sub: 's' }, 'grace.hopper@x.test')).toBe('grace.hopper');
      expect(nameOf({ sub: 's', name: '  ' }, 'g@x.test')).toBe('g');
      expect(nameOf({ sub: 's', name: 7 }, 'g@x.test')).toBe('g');
    });
  });
});
