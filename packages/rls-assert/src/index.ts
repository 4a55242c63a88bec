/**
 * @tenantkit/rls-assert: proves cross-tenant isolation as a non-superuser. The probes arrive in a
 * later release; this entry re-exports the database surface they are written against.
 */
export type { Queryable, Session, TestDatabase } from '@tenantkit/testkit';
