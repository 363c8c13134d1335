import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { answerNotReadyWhileClosing } from './client-error';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('answerNotReadyWhileClosing', () => {
  it('a request that arrives on a kept-alive connection during shutdown gets 503 NOT_READY with the error body; the in-flight one finishes', async () => {
    const fastify = Fastify({ return503OnClosing: false });
    answerNotReadyWhileClosing(fastify);
    // Each step waits for the event it needs, not for a pause: on a busy machine a connection
    // not yet accepted when the server starts closing is reset.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const slowEntered = new Promise<void>((resolve) => (entered = resolve));
    fastify.get('/slow', async () => {
      entered();
      await gate;
      return { done: true };
    });
    fastify.get('/fast', () => ({ fast: true }));
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    let sawFast!: () => void;
    const fastArrived = new Promise<void>((resolve) => (sawFast = resolve));
    fastify.server.prependListener('request', (request: { url?: string }) => {
      if (request.url === '/fast') sawFast();
    });
    const socket = connect((fastify.server.address() as AddressInfo).port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    const ended = new Promise((resolve) => socket.on('close', resolve));
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await slowEntered;
    const closed = fastify.close();
    await pause(50);
    socket.write('GET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
    await fastArrived;
    release();
    await closed;
    // The 503 says `connection: close`: the server ends the connection after it.
    await Promise.race([ended, pause(5_000)]);
    socket.destroy();

    const [first, second] = received.split(/(?=HTTP\/1\.1 )/);
    expect(first).toMatch(/^HTTP\/1\.1 200/);
    expect(first).toContain('{"done":true}');
    expect(second).toMatch(/^HTTP\/1\.1 503/);
    expect(second.toLowerCase()).toContain('connection: close');
    expect(second.toLowerCase()).toContain('retry-after: 1');
    const body = JSON.parse(second.slice(second.indexOf('\r\n\r\n') + 4)) as unknown;
    expect(body).toEqual({
      statusCode: 503,
      code: 'NOT_READY',
      message: expect.any(String),
      requestId: expect.any(String),
    });
  });
});
