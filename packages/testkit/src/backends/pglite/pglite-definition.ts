import type { BackendDefinition } from '../registry.js';
import { PgliteBackend } from './pglite-backend.js';

export const pgliteBackend: BackendDefinition = {
  kind: 'pglite',
  embedded: true,
  reachableByUrl: false,
  summary: 'PGlite in the test process, nothing to install; owner and app are SET ROLE on one session',
  start: (options) =>
    new PgliteBackend({
      ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
      ...(options.pglite?.extensions ? { extensions: options.pglite.extensions } : {}),
      ...(options.pglite?.cacheMaxMb !== undefined ? { cacheMaxMb: options.pglite.cacheMaxMb } : {}),
    }).start(),
};
