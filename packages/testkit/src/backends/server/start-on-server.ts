/**
 * Starting a server backend: the options checked before any server starts, the server obtained
 * (or the run's shared one), the engine started on it, and the server stopped again when that fails.
 */
import type { KitOptions, ResolvedRoles } from '../../config.js';
import { InvalidOptionError } from '../../errors.js';
import { ServerEngine, type ServerEndpoint } from './server-engine.js';

/** A whole number option within bounds, or a named error before anything starts. */
function wholeNumber(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(name, `${JSON.stringify(value)} is not a whole number from ${min} to ${max}. Pass one in that range, or leave it out for the default ${fallback}.`);
  }
  return value;
}

/** The pool size and the bounds on the kit's waits on a server, checked. */
export function serverBounds(options: KitOptions): { poolSize: number; templateLockTimeoutMs: number; lockTimeoutMs: number } {
  return {
    poolSize: wholeNumber('poolSize', options.poolSize, 2, 0, 64),
    templateLockTimeoutMs: wholeNumber('templateLockTimeoutMs', options.templateLockTimeoutMs, 120_000, 1, 3_600_000),
    lockTimeoutMs: wholeNumber('lockTimeoutMs', options.lockTimeoutMs, 30_000, 1, 3_600_000),
  };
}

export interface ServerStart {
  /** The server to use: the run's shared one, or a new one from the backend. */
  readonly endpoint: ServerEndpoint | (() => Promise<ServerEndpoint> | ServerEndpoint);
  /** The kit may create roles without its prefix only on servers it started. */
  readonly ownsServer: boolean;
}

export async function startOnServer(options: KitOptions, roles: ResolvedRoles, start: ServerStart): Promise<ServerEngine> {
  const bounds = serverBounds(options);
  const endpoint = typeof start.endpoint === 'function' ? await start.endpoint() : start.endpoint;
  try {
    return await new ServerEngine(endpoint, { roles, ...bounds, ownsServer: start.ownsServer }).start();
  } catch (error) {
    await endpoint.stop().catch(() => {});
    throw error;
  }
}
