import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/** What the URL rules of API.md section 13 allow (WEBHOOK_ALLOW_HTTP, WEBHOOK_ALLOW_PRIVATE). */
export interface UrlPolicy {
  allowHttp: boolean;
  allowPrivate: boolean;
}

/** A URL or address the rules refuse; `message` says which rule. */
export class UrlNotAllowedError extends Error {
  override name = 'UrlNotAllowedError';
}

/**
 * Whether an address may be called: only global unicast addresses, unless private ones are
 * allowed. Refused: loopback, private (10/8, 172.16/12, 192.168/16), unique local (fc00::/7),
 * link-local (169.254/16 with the cloud metadata address 169.254.169.254, fe80::/10), carrier-grade
 * NAT, unspecified, multicast, broadcast and reserved ranges; an IPv4-mapped IPv6 address is judged
 * as its IPv4 address.
 */
export function addressAllowed(address: string, policy: Pick<UrlPolicy, 'allowPrivate'>): boolean {
  if (policy.allowPrivate) return true;
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  return parsed.range() === 'unicast';
}

/**
 * The URL rules at creation and update: an absolute http(s) URL (https only unless `allowHttp`),
 * no user name or password in it, and a host whose every address (DNS, now) is allowed.
 * Throws UrlNotAllowedError.
 */
export async function assertUrlAllowed(url: string, policy: UrlPolicy): Promise<void> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UrlNotAllowedError('not an absolute URL');
  }
  if (parsed.protocol !== 'https:' && !(policy.allowHttp && parsed.protocol === 'http:')) {
    throw new UrlNotAllowedError(
      policy.allowHttp ? 'only http and https URLs' : 'only https URLs (WEBHOOK_ALLOW_HTTP is off)',
    );
  }
  if (parsed.username || parsed.password) {
    throw new UrlNotAllowedError('a URL with a user name or password');
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const addresses = isIP(host) ? [host] : await resolveAll(host);
  const refused = addresses.find((address) => !addressAllowed(address, policy));
  if (refused !== undefined) {
    throw new UrlNotAllowedError(
      `${parsed.hostname} resolves to ${refused}, a loopback, private, link-local or reserved address`,
    );
  }
}

function resolveAll(host: string): Promise<string[]> {
  return new Promise((resolve, reject) =>
    dnsLookup(host, { all: true }, (error, addresses: LookupAddress[]) => {
      if (error) reject(new UrlNotAllowedError(`${host} does not resolve (${error.code})`));
      else resolve(addresses.map((a) => a.address));
    }),
  );
}

/**
 * A DNS lookup for the HTTP client that refuses what the rules refuse, at connection time: the
 * address checked is the address connected to (no second resolution a rebinding DNS server could
 * answer differently).
 */
export function guardedLookup(policy: Pick<UrlPolicy, 'allowPrivate'>): LookupFunction {
  return ((hostname: string, options: object, callback: (...args: unknown[]) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error);
      const refused = addresses.find((a) => !addressAllowed(a.address, policy));
      if (refused) {
        return callback(
          new UrlNotAllowedError(
            `${hostname} resolves to ${refused.address}, a loopback, private, link-local or reserved address`,
          ),
        );
      }
      if ((options as { all?: boolean }).all) return callback(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  }) as unknown as LookupFunction;
}
