/**
 * The global setup `tenantkit()` adds to a vitest run: runs `globalSetup` for every kit the plugin
 * registered when vitest loaded its config, in this same process.
 */
import { InvalidOptionError } from '../errors.js';
import { globalSetup, registeredKits } from './config.js';

export default async function setup(): Promise<() => Promise<void>> {
  const kits = [...registeredKits()];
  if (kits.length === 0) {
    throw new InvalidOptionError(
      'globalSetup',
      "the kit's global setup ran, but no kit was registered in this process. Add the plugin with your kit options to vitest.config.ts (plugins: [tenantkit(kit)]) instead of listing the global setup file yourself",
    );
  }
  const teardowns: Array<() => Promise<void>> = [];
  try {
    for (const kit of kits) teardowns.push(await globalSetup(kit)());
  } catch (error) {
    for (const teardown of teardowns.reverse()) await teardown();
    throw error;
  }
  return async () => {
    for (const teardown of teardowns.reverse()) await teardown();
  };
}
