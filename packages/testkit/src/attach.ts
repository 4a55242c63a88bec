import { randomUUID } from 'node:crypto';
import type { TenantContextOptions } from './config.js';
import type { BackendCapabilities } from './backends/backend.js';
import { urlEndpoint } from './backends/url/url-endpoint.js';
import type { TestDatabase } from './database.js';
import { Identities } from './session/identities.js';
import { connectPg } from './session/pg-session.js';

export interface AttachOptions {
  /** The database to inspect; its user must be able to SET ROLE to the app (and owner) role. */
  readonly url: string;
  /** The role the application connects as. */
  readonly appRole: string;
  /** The role that owns the schema (default: the app role, for the owner identity's queries). */
  readonly ownerRole?: string;
  readonly tenant?: TenantContextOptions;
  readonly allowRemote?: boolean;
}

const CAPABILITIES: BackendCapabilities = {
  realLoginRoles: false,
  keepsFailedDatabases: false,
  defaultIsolation: 'transaction',
};

/**
 * An existing database, handled like a test database without being changed: one connection as the
 * URL's user, everything inside a transaction that release() rolls back; owner and app are SET ROLE
 * on that connection, as on PGlite, with the same watch for statements that leave the role.
 */
export async function attachDatabase(options: AttachOptions): Promise<TestDatabase> {
  const endpoint = urlEndpoint({ url: options.url, ...(options.allowRemote ? { allowRemote: true } : {}) });
  // connectPg names a failed connect itself (TENANTKIT_LOGIN_REFUSED, _SERVER_UNREACHABLE or _CONNECTION_LOST).
  const session = await connectPg(endpoint.adminUrl, 'tenantkit attach');
  const { rows } = await session.query<{ user: string; database: string }>('SELECT session_user AS user, current_database() AS database');
  const { user, database } = rows[0]!;
  const identities = new Identities(
    { kind: 'shared', session, inTestTransaction: true },
    { admin: user, owner: options.ownerRole ?? options.appRole, app: options.appRole },
    { setting: options.tenant?.setting ?? 'app.tenant_id', ...(options.tenant?.apply ? { apply: options.tenant.apply } : {}) },
  );
  await session.exec('BEGIN');
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    try {
      await identities.verify();
    } finally {
      await session.exec('ROLLBACK').catch(() => {});
      await session.close();
    }
  };
  return {
    name: database,
    backend: 'url',
    capabilities: CAPABILITIES,
    isolation: 'transaction',
    // Never shared with another database's cached catalog reads.
    templateKey: `attached-${randomUUID()}`,
    url: undefined,
    admin: identities.admin,
    owner: identities.owner,
    app: identities.app,
    query: (sql, params) => identities.admin.query(sql, params),
    exec: (sql) => identities.admin.exec(sql),
    release,
    [Symbol.asyncDispose]: release,
  };
}
