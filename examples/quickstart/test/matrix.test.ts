import { checkIsolation, renderMatrix } from '@tenantkit/rls-assert';
import { createTest } from '@tenantkit/testkit/vitest';
import { expect } from 'vitest';
import { kit } from './kit.ts';

const test = createTest(kit);

test('isolation is proven table by table, acting as the app role', async ({ db }) => {
  const report = await checkIsolation(db);
  console.log(renderMatrix(report));
  expect(report.ok).toBe(true);
});
