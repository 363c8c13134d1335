import { Inject, Injectable } from '@nestjs/common';
import * as bcrypt from 'bcrypt';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';

/**
 * bcrypt through its async API only: hashing runs on libuv's thread pool, never on the event
 * loop. Unknown emails are compared against a dummy hash so that both failures cost the same.
 */
@Injectable()
export class PasswordService {
  private dummyHash?: Promise<string>;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  hash(password: string): Promise<string> {
    return bcrypt.hash(password, this.config.bcryptCost);
  }

  async verify(password: string, hash: string | null): Promise<boolean> {
    if (hash === null) {
      this.dummyHash ??= this.hash('dummy-password-0');
      await bcrypt.compare(password, await this.dummyHash);
      return false;
    }
    return bcrypt.compare(password, hash);
  }
}
