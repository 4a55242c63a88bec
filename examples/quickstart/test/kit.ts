import { defineKit } from '@tenantkit/testkit';

/** One configuration, shared by the global setup and the tests. */
export const kit = defineKit({
  migrations: new URL('../migrations', import.meta.url),
  tenant: { setting: 'app.tenant_id' },
});
