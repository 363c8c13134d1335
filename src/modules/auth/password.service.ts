import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HttpStatus, Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Piscina } from 'piscina';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';

/** bcrypt tasks that may wait for a thread, per thread; beyond that, 503 (overload). */
export const QUEUED_PER_THREAD = 32;
/** Idle threads end after this long; the pool starts them again on demand. */
const IDLE_TIMEOUT_MS = 60_000;

type PasswordTask =
  | { op: 'hash'; password: string; cost: number }
  | { op: 'compare'; password: string; hash: string };

/**
 * bcrypt (cost BCRYPT_COST) in a pool of worker threads (piscina, BCRYPT_THREADS threads) that
 * run at the lowest CPU priority (nice 19, Linux): logins use every core that is otherwise
 * idle, yet the event loop and PostgreSQL preempt them, so other requests keep their latency
 * while logins run at the machine's bcrypt limit (docs/decisions/0021). The event loop never
 * runs bcrypt. Unknown emails are compared against a dummy hash so that both failures cost the
 * same.
 */
@Injectable()
export class PasswordService implements OnModuleDestroy {
  private dummyHash?: Promise<string>;
  private pool?: Piscina<PasswordTask, string | boolean>;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async hash(password: string): Promise<string> {
    return (await this.run({ op: 'hash', password, cost: this.config.bcryptCost })) as string;
  }

  async verify(password: string, hash: string | null): Promise<boolean> {
    if (hash === null) {
      this.dummyHash ??= this.hash('dummy-password-0');
      await this.run({ op: 'compare', password, hash: await this.dummyHash });
      return false;
    }
    return (await this.run({ op: 'compare', password, hash })) as boolean;
  }

  async onModuleDestroy(): Promise<void> {
    await this.pool?.destroy();
  }

  private async run(task: PasswordTask): Promise<string | boolean> {
    const threads = this.config.bcryptThreads;
    this.pool ??= new Piscina<PasswordTask, string | boolean>({
      filename: workerFile(),
      minThreads: threads,
      maxThreads: threads,
      maxQueue: threads * QUEUED_PER_THREAD,
      idleTimeout: IDLE_TIMEOUT_MS,
    });
    try {
      return await this.pool.run(task);
    } catch (error) {
      if (error instanceof Error && error.message === 'Task queue is at limit') {
        throw new AppException(
          HttpStatus.SERVICE_UNAVAILABLE,
          ErrorCode.NOT_READY,
          'Too many sign-ins in progress; retry shortly',
        );
      }
      throw error;
    }
  }
}

/**
 * The worker script, next to this file: dist/src/modules/auth in the build (CommonJS, where
 * __dirname exists). Jest runs the TypeScript sources as ES modules, without __dirname and
 * always from the repository root: there it is the file in src/.
 */
function workerFile(): string {
  const dir =
    typeof __dirname === 'string' ? __dirname : join(process.cwd(), 'src', 'modules', 'auth');
  const file = join(dir, 'password.worker.cjs');
  if (!existsSync(file)) throw new Error(`bcrypt worker script missing: ${file}`);
  return file;
}
