import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { describe, expect, test } from 'vitest';
import { ConnectionLostError, ServerUnreachableError } from '../src/errors.js';
import { connectPg } from '../src/session/pg-session.js';

/** A FATAL ErrorResponse as PostgreSQL sends it on the wire: 'E', its length, then typed fields. */
function fatal(sqlState: string, message: string): Buffer {
  const fields = Buffer.concat([
    ...[`SFATAL`, `VFATAL`, `C${sqlState}`, `M${message}`].map((field) => Buffer.from(`${field}\0`)),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(5);
  header.write('E', 0);
  header.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([header, fields]);
}

/** A server that reads the startup message and answers it with one FATAL error, as a server ending the session does. */
async function answering(sqlState: string, message: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((socket) => {
    socket.once('data', () => socket.end(fatal(sqlState, message)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { url: `postgres://someone@127.0.0.1:${port}/somedb`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('a server that ends the session while the kit logs in', () => {
  test.each([
    ['57P01', 'terminating connection due to administrator command'],
    ['57P02', 'terminating connection due to unexpected postmaster exit'],
  ])('%s is TENANTKIT_CONNECTION_LOST (the server is there), not "start one"', async (sqlState, message) => {
    const server = await answering(sqlState, message);
    try {
      const error = await connectPg(server.url).then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(ConnectionLostError);
      expect((error as ConnectionLostError).code).toBe('TENANTKIT_CONNECTION_LOST');
      expect((error as Error).message).toContain(message);
      expect((error as Error).message).toContain('run again');
      expect((error as Error).message).not.toContain('Start one');
    } finally {
      await server.close();
    }
  });

  test('a server that is starting up (57P03) is still unreachable for now', async () => {
    const server = await answering('57P03', 'the database system is starting up');
    try {
      await expect(connectPg(server.url)).rejects.toBeInstanceOf(ServerUnreachableError);
    } finally {
      await server.close();
    }
  });
});
