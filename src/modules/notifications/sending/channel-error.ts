/**
 * A failed send. `channelDown`: the channel itself failed (no connection, timeout, server error,
 * authentication): it counts toward opening the channel's circuit breaker. Otherwise this one
 * message was refused (a rejected recipient): the attempt counts against the message only.
 */
export class ChannelError extends Error {
  override name = 'ChannelError';

  constructor(
    message: string,
    readonly channelDown: boolean,
  ) {
    super(message);
  }
}

/** A message to send, as the worker claimed it. */
export interface OutgoingMessage {
  id: string;
  kind: string;
  recipient: string;
  subject: string | null;
  body: string;
  textBody: string | null;
  createdAt: Date;
}

/** One channel's way out. */
export interface ChannelTransport {
  /** Where messages go, for the start-up log line. */
  readonly describe: string;
  send(message: OutgoingMessage): Promise<void>;
  close(): void;
}
