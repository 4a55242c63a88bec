import { type Kit, startKit } from '@tenantkit/testkit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import '../src/vitest.js';

const ISOLATED = `
CREATE TABLE public.notes (id int PRIMARY KEY, tenant_id text NOT NULL, body text);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.notes FORCE ROW LEVEL SECURITY;
CREATE POLICY notes_tenant ON public.notes
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
`;

const LEAKY = `${ISOLATED}
CREATE TABLE public.invoices (id int PRIMARY KEY, tenant_id text NOT NULL, total int);
`;

describe('the vitest matchers', () => {
  let isolated: Kit;
  let leaky: Kit;
  beforeAll(async () => {
    isolated = await startKit({ backend: 'pglite', schema: ISOLATED });
    leaky = await startKit({ backend: 'pglite', schema: LEAKY });
  });
  afterAll(async () => {
    await isolated?.stop();
    await leaky?.stop();
  });

  test('toBeIsolated passes on an isolated schema and fails naming the leaking table', async () => {
    await using good = await isolated.acquire();
    await expect(good).toBeIsolated();
    await using bad = await leaky.acquire();
    const error = await expect(bad).toBeIsolated().then(() => undefined, (caught: Error) => caught);
    expect(error?.message).toContain('expected tenant isolation to be proven');
    expect(error?.message).toContain('invoices');
  });

  test('toHaveNoRlsFindings prints each finding with its fix', async () => {
    await using bad = await leaky.acquire();
    const error = await expect(bad).toHaveNoRlsFindings().then(() => undefined, (caught: Error) => caught);
    expect(error?.message).toMatch(/error TK_\w+ public\.invoices: .+\n {4}fix: .*ROW LEVEL SECURITY/);
    await using good = await isolated.acquire();
    await expect(good).toHaveNoRlsFindings();
  });
});
