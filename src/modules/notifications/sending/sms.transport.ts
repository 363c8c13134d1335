import { ChannelError, type ChannelTransport, type OutgoingMessage } from './channel-error';

const TIMEOUT_MS = 10_000;

/** Answers that say the gateway (not this message) has a problem: retry later, count the failure. */
const GATEWAY_TROUBLE = (status: number): boolean =>
  status >= 500 || status === 408 || status === 429;

/**
 * The number as gateways expect it (E.164-like): the digits with their leading `+`, without the
 * spaces, dashes, dots and parentheses the phone rules allow.
 */
export const smsNumber = (phone: string): string =>
  `${phone.trim().startsWith('+') ? '+' : ''}${phone.replace(/\D/g, '')}`;

/**
 * SMS through a gateway's webhook (SMS_WEBHOOK_URL): a JSON POST `{to, body}`; a 2xx answer
 * within 10 s is success, anything else a failure.
 */
export class WebhookSmsTransport implements ChannelTransport {
  readonly describe: string;

  constructor(private readonly url: string) {
    this.describe = `POST ${new URL(url).origin}`;
  }

  async send(message: OutgoingMessage): Promise<void> {
    let status: number;
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'crm-notifications/1' },
        body: JSON.stringify({ to: smsNumber(message.recipient), body: message.body }),
        signal: AbortSignal.timeout(TIMEOUT_MS),
        redirect: 'error',
      });
      status = res.status;
      await res.body?.cancel();
    } catch (error) {
      const cause = (error as Error & { cause?: Error }).cause;
      throw new ChannelError(
        `SMS gateway: ${(error as Error).message}${cause ? ` (${cause.message})` : ''}`,
        true,
      );
    }
    if (status < 200 || status > 299) {
      throw new ChannelError(`SMS gateway answered ${status}`, GATEWAY_TROUBLE(status));
    }
  }

  close(): void {}
}

/** Without SMS_WEBHOOK_URL: the text message is written to the log (development). */
export class LogSmsTransport implements ChannelTransport {
  readonly describe = 'the log (SMS_WEBHOOK_URL is not set)';

  constructor(private readonly write: (fields: Record<string, unknown>, line: string) => void) {}

  send(message: OutgoingMessage): Promise<void> {
    this.write(
      { sendId: message.id, to: smsNumber(message.recipient), body: message.body },
      'sms (not sent: SMS_WEBHOOK_URL is not set)',
    );
    return Promise.resolve();
  }

  close(): void {}
}
