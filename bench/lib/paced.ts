import { Agent, request as httpRequest } from 'node:http';

/** One answer of a paced run: its status, body, when it was due (s into the run) and how long it took. */
export interface PacedAnswer {
  status: number;
  body: string;
  dueS: number;
  tookMs: number;
}

export interface PacedRun {
  durationS: number;
  sent: number;
  ok: number;
  errors: number;
  non2xx: number;
  /** Per answered request, ms from when it was due, sorted. */
  latencies: number[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * POSTs at a fixed rate, open loop: request i is due at start + i * 1000 / rate ms and sent then
 * (late ones at once), whatever the earlier ones are doing; its latency is counted from when it
 * was due, so a stalled server shows as latency, not as a lower rate. Keep-alive agent, 30 s
 * timeout per request. `onAnswer` sees every answer as it arrives.
 */
export async function pacedPosts(
  url: string,
  path: string,
  headers: Record<string, string>,
  rate: number,
  durationS: number,
  body: () => string,
  onAnswer: (answer: PacedAnswer) => void = () => undefined,
): Promise<PacedRun> {
  const { hostname, port } = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const total = Math.round(rate * durationS);
  const interval = 1000 / rate;
  const latencies: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait >= 1) await sleep(wait);
    const payload = body();
    inFlight.push(
      new Promise<void>((done) => {
        const req = httpRequest(
          {
            agent,
            hostname,
            port,
            method: 'POST',
            path,
            headers: {
              ...headers,
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(payload),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const tookMs = performance.now() - due;
              const status = res.statusCode ?? 0;
              latencies.push(tookMs);
              if (status >= 200 && status < 300) ok += 1;
              else non2xx += 1;
              onAnswer({
                status,
                body: Buffer.concat(chunks).toString('utf8'),
                dueS: (due - start) / 1000,
                tookMs,
              });
              done();
            });
          },
        );
        req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
        req.on('error', () => {
          errors += 1;
          done();
        });
        req.end(payload);
      }),
    );
  }
  await Promise.all(inFlight);
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { durationS: elapsed, sent: total, ok, errors, non2xx, latencies };
}
