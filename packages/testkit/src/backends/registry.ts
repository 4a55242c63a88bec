/**
 * The backends by name: one definition per backend folder, read by startKit, the vitest global
 * setup and the CLI's help text alike. Adding a backend is a folder with its definition and one line
 * here (and its name in BACKEND_KINDS).
 */
import type { BackendKind, KitOptions, ResolvedRoles } from '../config.js';
import type { Backend } from './backend.js';
import { containerBackend } from './container/container-definition.js';
import { nativeBackend } from './native/native-definition.js';
import { pgliteBackend } from './pglite/pglite-definition.js';
import type { ServerEndpoint } from './server/server-engine.js';
import { urlBackend } from './url/url-definition.js';

export interface BackendDefinition {
  readonly kind: BackendKind;
  /** One line for help texts: what the backend runs on. */
  readonly summary: string;
  /** Its databases are reachable by URL, so migration tools that connect on their own can run on it. */
  readonly reachableByUrl: boolean;
  /**
   * The database runs inside this Node process (PGlite): the extensions a schema creates must be
   * loaded when each instance starts, templates are kept on disk between runs, and every process
   * running tests holds its own instances in memory.
   */
  readonly embedded: boolean;
  /**
   * The server this backend starts, for a whole test run (the vitest global setup starts it once
   * and every worker's kit uses it). Absent when there is nothing to start (pglite, url).
   */
  readonly startServer?: (options: KitOptions) => Promise<ServerEndpoint>;
  /** Checks the options, then starts the backend: on `shared` when the run already has a server. */
  start(options: KitOptions, roles: ResolvedRoles, shared?: ServerEndpoint): Promise<Backend>;
}

export const BACKENDS: Readonly<Record<BackendKind, BackendDefinition>> = {
  pglite: pgliteBackend,
  native: nativeBackend,
  url: urlBackend,
  container: containerBackend,
};

/** The definition of a backend named by a string (a flag, an environment variable), if it names one. */
export function backendDefinition(kind: string): BackendDefinition | undefined {
  return Object.hasOwn(BACKENDS, kind) ? BACKENDS[kind as BackendKind] : undefined;
}

/** "pglite: ...", one line per backend, for help texts. */
export function backendSummaries(): string[] {
  return Object.values(BACKENDS).map((definition) => `${definition.kind}: ${definition.summary}`);
}
