import type { NativeBackendOptions } from '../../config.js';
import type { ServerEndpoint } from '../../server/server-backend.js';
import { startNativeServer } from './native-server.js';

/** A throwaway server from local binaries, removed when the backend stops or the process exits. */
export async function nativeEndpoint(options: NativeBackendOptions = {}): Promise<ServerEndpoint> {
  const server = await startNativeServer({
    ...(options.binaries === undefined ? {} : { binaries: options.binaries }),
    ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
    ...(options.settings === undefined ? {} : { settings: { ...options.settings } }),
  });
  return { kind: 'native', adminUrl: server.adminUrl, stop: () => server.stop() };
}
