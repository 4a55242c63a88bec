import { type Queryable, TenantkitError } from '@tenantkit/testkit';
import { expect, test } from 'vitest';
import { IdentityUnreadableError, isRlsAssertError } from '../src/errors.js';
import { assertProvingIdentity } from '../src/guard.js';

test('a connection that returns no row for current_user is refused with TENANTKIT_IDENTITY_UNREADABLE, nothing vouched for', async () => {
  const silent = { query: async () => ({ rows: [], rowCount: 0 }) } as unknown as Queryable;
  const error = await assertProvingIdentity(silent, { tenantTables: [] }).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(IdentityUnreadableError);
  expect(error).toBeInstanceOf(TenantkitError);
  expect(isRlsAssertError(error, 'TENANTKIT_IDENTITY_UNREADABLE')).toBe(true);
  expect((error as Error).message).toMatch(/nothing was probed/);
});
