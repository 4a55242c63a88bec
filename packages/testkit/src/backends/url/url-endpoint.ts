import { isIP } from 'node:net';
import { InvalidOptionError, RemoteHostRefusedError } from '../../errors.js';
import type { ServerEndpoint } from '../server/server-engine.js';

export interface UrlBackendOptions {
  readonly url?: string;
  readonly allowRemote?: boolean;
}

const LOOPBACK_NAMES = new Set(['localhost', 'localhost.localdomain', 'ip6-localhost', '::1', '[::1]']);

export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (LOOPBACK_NAMES.has(bare)) return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  // A unix-socket directory given as host is local by definition.
  return bare.startsWith('/') || bare.startsWith('%2F') || bare.startsWith('%2f');
}

/** An existing server: DATABASE_URL or the url option. The kit only adds and removes its own tk_ objects. */
export function urlEndpoint(options: UrlBackendOptions): ServerEndpoint {
  const url = options.url ?? process.env.DATABASE_URL;
  if (!url) {
    throw new InvalidOptionError(
      'url',
      'backend "url" needs a server: pass url (postgres://user:pass@127.0.0.1:5432/postgres) or set DATABASE_URL. To have the kit start one, use backend "native".',
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidOptionError('url', `"${url.replace(/:[^:@/]*@/, ':***@')}" is not a postgres:// URL.`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new InvalidOptionError('url', `expected a postgres:// URL, got protocol "${parsed.protocol}".`);
  }
  const host = parsed.searchParams.get('host') ?? parsed.hostname ?? 'localhost';
  const allowRemote = options.allowRemote ?? process.env.TENANTKIT_ALLOW_REMOTE === '1';
  if (!allowRemote && !isLoopbackHost(host || 'localhost')) throw new RemoteHostRefusedError(host);
  return { kind: 'url', adminUrl: url, stop: async () => {} };
}
