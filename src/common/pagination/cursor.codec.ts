import { createHmac, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { AppException } from '../errors/app.exception';

/** Where a keyset page ended: the sort value (as PostgreSQL text) and the id of the last row. */
export interface CursorPosition {
  key: string | null;
  id: string;
}

interface CursorPayload extends CursorPosition {
  /** The listing the cursor belongs to: endpoint, ordering and filters. */
  scope: string;
}

const invalidCursor = (): AppException =>
  AppException.validation(
    [
      {
        field: 'cursor',
        message: 'cursor is invalid, or belongs to another endpoint, ordering or filter set',
      },
    ],
    'Invalid cursor',
  );

/**
 * Opaque, tamper-proof list cursors: base64url(JSON) + "." + HMAC-SHA256. The HMAC key is
 * derived from the access-token secret, so every app copy accepts every other copy's cursors.
 */
@Injectable()
export class CursorCodec {
  private readonly key: Buffer;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.key = createHmac('sha256', config.jwt.accessSecret)
      .update('crm-api list cursor v1')
      .digest();
  }

  encode(scope: string, position: CursorPosition): string {
    const body = Buffer.from(
      JSON.stringify({ scope, key: position.key, id: position.id }),
    ).toString('base64url');
    return `${body}.${this.sign(body)}`;
  }

  /** The position, or 400 VALIDATION_FAILED when tampered with or from another listing. */
  decode(scope: string, cursor: string): CursorPosition {
    const [body, signature, extra] = cursor.split('.');
    if (!body || !signature || extra !== undefined) throw invalidCursor();
    const expected = Buffer.from(this.sign(body));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given))
      throw invalidCursor();
    let payload: CursorPayload;
    try {
      payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as CursorPayload;
    } catch {
      throw invalidCursor();
    }
    if (payload.scope !== scope || typeof payload.id !== 'string') throw invalidCursor();
    return { key: payload.key, id: payload.id };
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
