import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface JwtSecrets {
  accessSecret: string;
  refreshSecret: string;
}

/**
 * Outside production, missing JWT secrets are generated once and kept in a file (mode 0600)
 * so that tokens survive restarts. Values already present in the file win over new ones.
 */
export function loadOrCreateDevSecrets(file: string): JwtSecrets {
  try {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<JwtSecrets>;
    if (stored.accessSecret && stored.refreshSecret) {
      return { accessSecret: stored.accessSecret, refreshSecret: stored.refreshSecret };
    }
  } catch {
    // missing or unreadable: generate below
  }
  const secrets: JwtSecrets = {
    accessSecret: randomBytes(48).toString('base64url'),
    refreshSecret: randomBytes(48).toString('base64url'),
  };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  chmodSync(file, 0o600); // `mode` applies only when the file is created
  return secrets;
}
