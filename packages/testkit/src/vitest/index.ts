import { test as baseTest } from 'vitest';
import type { KitOptions } from '../config.js';
import type { TestDatabase } from '../database.js';
import { DatabaseReleasedError } from '../errors.js';
import { type Kit, startKit } from '../kit.js';

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

export { type PluginTestConfig, type TenantkitPlugin, globalSetup, tenantkit } from './config.js';
export { type MigrationSuiteOptions, describeMigrations, schemaMatchers } from './migrations.js';
