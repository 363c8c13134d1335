/**
 * `npm run events:dlq -- list [--json]` and `npm run events:dlq -- requeue [--id <event id>]...`
 * (API.md section 12, docs/decisions/0031): the messages that an in-app consumer failed
 * EVENT_MAX_ATTEMPTS times, from `crm.events.dlq` when AMQP_URL is set, else from the
 * consumer_messages table; `requeue` gives them (all, or these events') back to their consumer
 * with fresh attempts.
 */
import { AmqpNames } from '../events/broker';
import {
  queueDeadLetters,
  requeueQueueDeadLetters,
  requeueTableDeadLetters,
  tableDeadLetters,
  type DeadLetter,
} from '../events/consumers/dead-letters';
import { loadCliConfig, openDatabase, parse, runCli, UsageError } from './cli-context';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const USAGE = `usage: npm run events:dlq -- list [--json]
       npm run events:dlq -- requeue [--id <event id>]...`;

function print(letters: DeadLetter[], json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(letters, null, 2)}\n`);
    return;
  }
  for (const d of letters) {
    process.stdout.write(
      `${d.eventId}  ${d.type}  organization ${d.organizationId}  consumer ${d.consumer}  ` +
        `attempts ${d.attempts}  dead since ${d.deadAt || '?'}\n    last error: ${d.lastError}\n`,
    );
  }
}

async function dlq(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    id: { type: 'string', multiple: true },
    json: { type: 'boolean' },
  });
  const [command, ...rest] = positionals;
  if (!['list', 'requeue'].includes(command) || rest.length) {
    throw new UsageError(command ? `unknown command: ${positionals.join(' ')}` : 'no command');
  }
  const ids = values.id?.length ? values.id : undefined;
  const notAnId = ids?.find((id) => !UUID.test(id));
  if (notAnId) throw new UsageError(`--id ${notAnId}: an event id is a UUID`);
  const config = loadCliConfig();
  const url = config.amqpUrl;
  const names = new AmqpNames(config.amqpNamespace);
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  let letters: DeadLetter[];
  if (url) {
    letters =
      command === 'list'
        ? await queueDeadLetters(url, names, ids)
        : await requeueQueueDeadLetters(url, names, ids);
  } else {
    const db = await openDatabase(config, log);
    try {
      letters =
        command === 'list'
          ? await tableDeadLetters(db.client, ids)
          : await requeueTableDeadLetters(db.client, ids);
    } finally {
      await db.close();
    }
  }
  print(letters, values.json ?? false);
  const where = url ? names.deadLetterQueue : 'the consumer_messages table';
  const summary =
    command === 'list'
      ? `${letters.length} dead letter(s) in ${where}`
      : `${letters.length} dead letter(s) requeued from ${where} to their consumers`;
  log(summary);
  if (ids && command === 'requeue') {
    const missing = ids.filter((id) => !letters.some((d) => d.eventId === id));
    if (missing.length) log(`not found among the dead letters: ${missing.join(', ')}`);
  }
}

runCli(USAGE, dlq);
