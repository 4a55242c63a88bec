import { test as baseTest } from 'vitest';
import type { KitOptions } from '../config.js';
import type { TestDatabase } from '../database.js';
import { DatabaseReleasedError } from '../errors.js';
import { type Kit, SHARED_SERVER_ENV, resolveBackendKind, startKit } from '../kit.js';
import { nativeEndpoint } from '../backends/native/native-backend.js';
import { containerEndpoint } from '../backends/container/container-backend.js';

export interface TenantkitTestContext {
  /** A migrated database for this test: `db.app` is what the application would be. */
  db: TestDatabase;
}

export interface TenantkitWorkerContext {
  /** The worker's kit: backend, template, pool. */
  tenantkit: Kit;
}

/**
 * A vitest `test` with a test-scoped `db` and a worker-scoped kit. The database is released when
 * the test ends; a test whose code escaped its role or leaked tenant context fails.
 */
export function createTest(options: KitOptions) {
  return baseTest.extend<TenantkitTestContext & TenantkitWorkerContext>({
    tenantkit: [
      // biome-ignore lint/correctness/noEmptyPattern: vitest reads the fixture's dependencies from this pattern
      async ({}, use) => {
        const kit = await startKit(options);
        try {
          await use(kit);
        } finally {
          await kit.stop();
        }
      },
      { scope: 'worker' },
    ],
    db: async ({ tenantkit, onTestFailed, signal }, use) => {
      let failed = false;
      onTestFailed(() => {
        failed = true;
      });
      const db = await tenantkit.acquire();
      // A test that timed out (or was cancelled) while this was being set up never gets the
      // database: its body would otherwise run later, beside the next test.
      if (signal?.aborted) {
        await db.release({ failed: true }).catch(() => {});
        throw new DatabaseReleasedError(db.name);
      }
      // Timed out while running: released at once, so whatever the abandoned body still sends is
      // refused (TENANTKIT_DATABASE_RELEASED) instead of reaching the next test's session.
      const abandon = () => void db.release({ failed: true }).catch(() => {});
      signal?.addEventListener('abort', abandon, { once: true });
      try {
        await use(db);
      } finally {
        signal?.removeEventListener('abort', abandon);
        await db.release({ failed });
      }
    },
  });
}

/**
 * For vitest's `globalSetup`: starts the server once for the run (native, container) and builds the
 * template or PGlite snapshot once, before any worker starts; workers then only clone or restore.
 *
 *   // vitest.setup.ts
 *   export default globalSetup(kitOptions)
 */
export function globalSetup(options: KitOptions): () => Promise<() => Promise<void>> {
  return async () => {
    const kind = resolveBackendKind(options);
    const endpoint =
      kind === 'native'
        ? await nativeEndpoint(options.native)
        : kind === 'container'
          ? await containerEndpoint(options.image ? { image: options.image } : {})
          : undefined;
    if (endpoint) process.env[SHARED_SERVER_ENV] = JSON.stringify({ kind, adminUrl: endpoint.adminUrl });
    try {
      const kit = await startKit(options);
      await kit.stop();
    } catch (error) {
      await endpoint?.stop();
      throw error;
    }
    return async () => {
      if (endpoint) {
        delete process.env[SHARED_SERVER_ENV];
        await endpoint.stop();
      }
    };
  };
}

export { type MigrationSuiteOptions, describeMigrations, schemaMatchers } from './migrations.js';
