import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { freePort } from './database';

/** A message the capture server received, parsed (subject, html, text, addresses). */
export interface CapturedMail {
  /** The envelope's recipients (RCPT TO), lower-case. */
  to: string[];
  from: string;
  subject: string;
  html: string;
  text: string;
  messageId: string;
  headers: ParsedMail['headers'];
}

/**
 * A capture SMTP server for the tests (smtp-server + mailparser) on 127.0.0.1: no TLS, no
 * authentication, every message accepted and kept. `stop()` then `start()` again takes the same
 * port, so an app configured with `url` sees its SMTP server go down and come back.
 */
export class CaptureSmtp {
  readonly messages: CapturedMail[] = [];
  /** Connection errors (resets by clients that went away); kept for a test to look at. */
  readonly connectionErrors: Error[] = [];
  private server: SMTPServer | undefined;
  private readonly listeners = new Set<() => void>();

  private constructor(readonly port: number) {}

  /** A server on a free port, started. */
  static async start(): Promise<CaptureSmtp> {
    const smtp = new CaptureSmtp(await freePort());
    await smtp.start();
    return smtp;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  start(): Promise<void> {
    if (this.server) return Promise.resolve();
    const server = new SMTPServer({
      secure: false,
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      // Connections still open when the test stops the server are cut after this.
      closeTimeout: 100,
      onData: (stream, session, callback) => {
        simpleParser(stream)
          .then((mail) => {
            this.messages.push({
              to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              subject: mail.subject ?? '',
              html: typeof mail.html === 'string' ? mail.html : '',
              text: mail.text ?? '',
              messageId: mail.messageId ?? '',
              headers: mail.headers,
            });
            for (const listener of [...this.listeners]) listener();
            callback();
          })
          .catch((error: Error) => callback(error));
      },
    });
    // A client that dies mid-conversation (an app process killed by a test) resets its
    // connection; smtp-server emits that as 'error', which would throw without a listener.
    server.on('error', (error: Error) => this.connectionErrors.push(error));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  /** Stops listening (new connections are refused); open ones are cut after closeTimeout. */
  stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  /** The messages sent to `address`. */
  to(address: string): CapturedMail[] {
    return this.messages.filter((m) => m.to.includes(address.toLowerCase()));
  }

  /**
   * Waits until `predicate` holds for the messages received so far (checked on every new
   * message), or fails after `timeoutMs` naming `what`.
   */
  waitFor(
    what: string,
    predicate: (messages: CapturedMail[]) => boolean,
    timeoutMs = 15_000,
  ): Promise<CapturedMail[]> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (!predicate(this.messages)) return false;
        cleanup();
        resolve(this.messages);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what} (received ${this.messages.length})`));
      }, timeoutMs);
      const listener = (): void => void check();
      const cleanup = (): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      this.listeners.add(listener);
      check();
    });
  }

  /** Waits for the first message to `address` whose subject matches, and returns it. */
  async message(
    address: string,
    subject: RegExp | string,
    timeoutMs?: number,
  ): Promise<CapturedMail> {
    const matches = (m: CapturedMail): boolean =>
      m.to.includes(address.toLowerCase()) &&
      (typeof subject === 'string' ? m.subject === subject : subject.test(m.subject));
    await this.waitFor(
      `a message to ${address} with subject ${String(subject)}`,
      (all) => all.some(matches),
      timeoutMs,
    );
    return this.messages.find(matches)!;
  }
}
