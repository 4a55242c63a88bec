import { globalSetup } from '@tenantkit/testkit/vitest';
import { kit } from './kit.ts';

// Builds the migrated snapshot once per run, before any worker starts.
export default globalSetup(kit);
