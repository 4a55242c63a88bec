import { expect, test } from 'vitest';
import { fixExpression } from '../src/audit/fix-expression.js';

const TENANT = `"tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')::uuid`;

test.each([
  { name: 'always true', original: 'true', fixed: TENANT },
  { name: 'no expression', original: null, fixed: TENANT },
  {
    name: 'fails open on NULL, a public flag kept',
    original: `(is_public OR (tenant_id = (current_setting('app.tenant_id'::text, true))::uuid) OR (current_setting('app.tenant_id'::text, true) IS NULL))`,
    fixed: `(is_public) OR (${TENANT})`,
  },
  {
    name: 'COALESCE with a non-tenant condition AND-ed',
    original: `((NOT archived) AND ((tenant_id)::text = COALESCE(current_setting('app.tenant_id'::text, true), (tenant_id)::text)))`,
    fixed: `(NOT archived) AND (${TENANT})`,
  },
  { name: 'an OR true escape hatch: the true goes, the other condition stays', original: `((owner_id = 7) OR true)`, fixed: `(owner_id = 7) OR (${TENANT})` },
  { name: 'a quoted OR inside a string stays whole', original: `((kind = 'A OR B'::text) AND (current_setting('app.tenant_id'::text, true) IS NOT NULL))`, fixed: `(kind = 'A OR B'::text) AND (${TENANT})` },
])('$name', ({ original, fixed }) => {
  expect(fixExpression(original, TENANT)).toBe(fixed);
});
