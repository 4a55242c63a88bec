import { type BackendKind, type NativeServer, startNativeServer } from '@tenantkit/testkit';
import { SHARED_SERVER_ENV } from '@tenantkit/testkit/internal';
import { afterAll, beforeAll } from 'vitest';

/**
 * On native, one server for every kit of the enclosing describe block, handed to them the way the
 * vitest global setup hands one to its workers: each kit then builds its template and clones it
 * instead of starting a server of its own. Call it inside a describe block.
 */
export function shareNativeServer(backend: BackendKind): void {
  let server: NativeServer | undefined;
  let previous: string | undefined;
  beforeAll(async () => {
    if (backend !== 'native') return;
    server = await startNativeServer();
    previous = process.env[SHARED_SERVER_ENV];
    process.env[SHARED_SERVER_ENV] = JSON.stringify({ kind: 'native', adminUrl: server.adminUrl });
  });
  afterAll(async () => {
    if (backend !== 'native') return;
    if (previous === undefined) delete process.env[SHARED_SERVER_ENV];
    else process.env[SHARED_SERVER_ENV] = previous;
    await server?.stop();
  });
}
