import { connect, createServer, type Server, type Socket } from 'node:net';

export interface Proxy {
  /** The service's URL with the proxy's address (127.0.0.1:<proxy port>) in it. */
  url: string;
  /** Stops accepting and destroys every open connection: the service is "down". */
  cut: () => Promise<void>;
  /** Accepts connections again on the same port. */
  restore: () => Promise<void>;
  close: () => Promise<void>;
}

/**
 * A TCP proxy to the service at `serviceUrl` (node:net) that a test can cut and restore: an
 * outage of RabbitMQ or Redis without touching the machine's shared server.
 */
export async function tcpProxy(serviceUrl: string, defaultPort: number): Promise<Proxy> {
  const target = new URL(serviceUrl);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect({
          host: target.hostname,
          port: Number(target.port || defaultPort),
        });
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.on('error', () => undefined);
          socket.on('close', () => {
            sockets.delete(socket);
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream);
        upstream.pipe(client);
      });
      s.on('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as { port: number }).port;
        server = s;
        resolve();
      });
    });
  const stop = (): Promise<void> => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    return new Promise((resolve) => (s ? s.close(() => resolve()) : resolve()));
  };
  await listen();
  const url = new URL(serviceUrl);
  url.host = `127.0.0.1:${port}`;
  return { url: url.toString(), cut: stop, restore: listen, close: stop };
}
