import type { BackendKind, IsolationMode } from './config.js';
import type { BackendCapabilities } from './backends/backend.js';
import type { QueryResult } from './queryable.js';
import type { AppIdentity, Identity } from './session/identity.js';

export interface ReleaseOptions {
  /** The test failed: with keepFailed the database is kept and its URL printed. */
  readonly failed?: boolean;
}

/**
 * A migrated database for one test, with the three identities to act as. Queries on the handle
 * itself run as `admin` (setup and inspection).
 */
export interface TestDatabase extends AsyncDisposable {
  readonly name: string;
  readonly backend: BackendKind;
  readonly capabilities: BackendCapabilities;
  readonly isolation: IsolationMode;
  /**
   * The key of the template this database was made from: equal keys, equal migrated schemas. Lets
   * layers above cache what they read from the catalog across a run's databases.
   */
  readonly templateKey: string;
  /** Admin connection URL for this database (server backends), e.g. for an ORM under test. */
  readonly url: string | undefined;
  readonly admin: Identity;
  readonly owner: Identity;
  readonly app: AppIdentity;
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  exec(sql: string): Promise<void>;
  /** Ends the test's use of the database; checks that no identity escaped or leaked context. */
  release(options?: ReleaseOptions): Promise<void>;
}
