import { expect, test } from 'vitest';
import { startKit } from '../src/kit.js';

test('a tenant setting Postgres would refuse is a named option error before anything starts', async () => {
  for (const setting of ['bad name;', 'tenant_id', 'app.tenant-id', "app.x'; DROP TABLE t; --", '']) {
    const started = performance.now();
    await expect(startKit({ backend: 'pglite', schema: 'SELECT 1;', tenant: { setting } }), setting).rejects.toMatchObject({
      code: 'TENANTKIT_INVALID_OPTION',
      object: 'tenant.setting',
      message: expect.stringContaining('e.g. app.tenant_id'),
    });
    // Refused from the options alone: no backend was started.
    expect(performance.now() - started).toBeLessThan(1000);
  }
});
