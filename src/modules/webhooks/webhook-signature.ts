import { randomBytes } from 'node:crypto';
import { Webhook as StandardWebhook } from 'standardwebhooks';

/** A new signing secret: `whsec_` + base64 of 32 random bytes (API.md section 13). */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/**
 * The headers of a webhook request per the Standard Webhooks specification (the reference
 * implementation, `standardwebhooks`, signs): `webhook-id` (the event id), `webhook-timestamp`
 * (unix seconds), `webhook-signature` (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one
 * per valid secret, space-separated, while a rotated secret still signs).
 */
export function signedHeaders(
  secrets: string[],
  messageId: string,
  body: string,
  at: Date = new Date(),
): Record<string, string> {
  const timestamp = new Date(Math.floor(at.getTime() / 1000) * 1000);
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(timestamp.getTime() / 1000),
    'webhook-signature': secrets
      .map((secret) => new StandardWebhook(secret).sign(messageId, timestamp, body))
      .join(' '),
    'content-type': 'application/json',
    'user-agent': 'crm-webhooks/1',
  };
}

/** The secrets that sign now: the current one, and the previous one until it expires. */
export function signingSecrets(
  webhook: { secret: string; previousSecret: string | null; previousSecretExpiresAt: Date | null },
  now: Date = new Date(),
): string[] {
  const previousValid =
    webhook.previousSecret !== null &&
    webhook.previousSecretExpiresAt !== null &&
    webhook.previousSecretExpiresAt.getTime() > now.getTime();
  return previousValid ? [webhook.secret, webhook.previousSecret!] : [webhook.secret];
}
