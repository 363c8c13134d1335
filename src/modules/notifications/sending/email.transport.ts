import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer, { type SendMailOptions, type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { activeTracing } from '../../../common/tracing/trace-hooks';
import { ChannelError, type ChannelTransport, type OutgoingMessage } from './channel-error';

/** SMTP answers that refuse one message (its recipient or content), not the server. */
const MESSAGE_REFUSED = new Set(['EENVELOPE', 'EMESSAGE']);

/** SMTP timeouts: a dead server must fail an attempt quickly, not hold the worker. */
const CONNECTION_TIMEOUT_MS = 10_000;
const SOCKET_TIMEOUT_MS = 30_000;

interface MailError extends Error {
  code?: string;
  responseCode?: number;
}

/** The domain of MAIL_FROM (`CRM <no-reply@crm.example>` -> `crm.example`), for Message-IDs. */
export function mailDomain(from: string): string {
  const match = /@([^>\s]+)>?\s*$/.exec(from);
  return match ? match[1] : 'crm.localhost';
}

/** The RFC 822 message nodemailer builds for a send (same for SMTP and files). */
function mailOf(from: string, message: OutgoingMessage): SendMailOptions {
  return {
    from,
    to: message.recipient,
    // Header values are one line: a value with a line break cannot add headers.
    subject: (message.subject ?? '').replace(/[\r\n]+/g, ' '),
    html: message.body,
    text: message.textBody ?? undefined,
    // Stable per send: a retry after a lost answer is recognisable as the same message.
    messageId: `<${message.id}@${mailDomain(from)}>`,
    headers: { 'X-CRM-Notification': message.kind },
  };
}

/**
 * Email over SMTP (SMTP_URL: `smtp://user:pass@host:587`, `smtps://...`). One connection per
 * message: sends are sequential per copy and rare enough, and a connection that a restarted
 * server dropped is never reused.
 */
export class SmtpTransport implements ChannelTransport {
  private readonly transporter: Transporter;
  private readonly host: string;
  readonly describe: string;

  constructor(
    url: string,
    private readonly from: string,
  ) {
    this.transporter = nodemailer.createTransport({
      url,
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      greetingTimeout: CONNECTION_TIMEOUT_MS,
      socketTimeout: SOCKET_TIMEOUT_MS,
    } satisfies SMTPTransport.Options);
    const { protocol, host } = new URL(url);
    this.host = host;
    this.describe = `SMTP ${protocol}//${host}`;
  }

  async send(message: OutgoingMessage): Promise<void> {
    const sending = (): Promise<unknown> => this.transporter.sendMail(mailOf(this.from, message));
    const tracing = activeTracing();
    try {
      // With tracing on, each SMTP call is a client span (API.md section 15).
      await (tracing
        ? tracing.inSpan('smtp send', 'client', undefined, { 'server.address': this.host }, sending)
        : sending());
    } catch (error) {
      const { code, responseCode, message: text } = error as MailError;
      const refused = MESSAGE_REFUSED.has(code ?? '') && (responseCode ?? 0) >= 500;
      throw new ChannelError(`SMTP ${code ?? 'error'}: ${text}`.slice(0, 1000), !refused);
    }
  }

  close(): void {
    this.transporter.close();
  }
}

/**
 * Without SMTP_URL: each email as an `.eml` file in DATA_DIR/mail/ (the RFC 822 message
 * nodemailer would have sent, so a developer opens it in a mail client). Named by creation time
 * and send id: a retry rewrites the same file, and a listing sorts oldest first. Written to a
 * temporary name, then renamed: a reader never sees half a file.
 */
export class FileMailTransport implements ChannelTransport {
  private readonly builder = nodemailer.createTransport({ streamTransport: true, buffer: true });
  private ready: Promise<unknown> | null = null;
  readonly describe: string;

  constructor(
    private readonly dir: string,
    private readonly from: string,
  ) {
    this.describe = `.eml files in ${dir}`;
  }

  async send(message: OutgoingMessage): Promise<void> {
    try {
      this.ready ??= mkdir(this.dir, { recursive: true });
      await this.ready;
      const info = (await this.builder.sendMail(mailOf(this.from, message))) as { message: Buffer };
      const stamp = message.createdAt.toISOString().replace(/[-:.]/g, '');
      const path = join(this.dir, `${stamp}-${message.id}.eml`);
      await writeFile(`${path}.tmp`, info.message);
      await rename(`${path}.tmp`, path);
    } catch (error) {
      this.ready = null;
      throw new ChannelError(`mail file: ${(error as Error).message}`.slice(0, 1000), true);
    }
  }

  close(): void {
    this.builder.close();
  }
}
