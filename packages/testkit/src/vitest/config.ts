/**
 * The vitest configuration side of the kit: nothing here imports vitest, so it loads in
 * vitest.config.ts and in vitest's main process (global setup) under every supported vitest.
 */
import { fileURLToPath } from 'node:url';
import type { KitOptions } from '../config.js';
import { BACKENDS } from '../backends/registry.js';
import { SHARED_SERVER_ENV, resolveBackendKind, sharedServer, startKit } from '../kit.js';

/**
 * For vitest's `globalSetup`: starts the server once for the run (native, container) and builds the
 * template or PGlite snapshot once, before any worker starts; workers then only clone or restore.
 *
 *   // vitest.setup.ts
 *   export default globalSetup(kitOptions)
 */
export function globalSetup(options: KitOptions): () => Promise<() => Promise<void>> {
  return async () => {
    const kind = resolveBackendKind(options);
    // A server the process that started this run handed it (tenantkit mutate) is used, not stopped.
    const endpoint = sharedServer(kind) ? undefined : await BACKENDS[kind].startServer?.(options);
    if (endpoint) process.env[SHARED_SERVER_ENV] = JSON.stringify({ kind, adminUrl: endpoint.adminUrl });
    try {
      const kit = await startKit(options);
      await kit.stop();
    } catch (error) {
      await endpoint?.stop();
      throw error;
    }
    return async () => {
      if (endpoint) {
        delete process.env[SHARED_SERVER_ENV];
        await endpoint.stop();
      }
    };
  };
}

/** Kits registered by `tenantkit()`, read by the global setup module in the same process. */
const REGISTRY = Symbol.for('tenantkit.vitest.kits');
type Registry = Set<KitOptions>;

export function registeredKits(): Set<KitOptions> {
  const holder = globalThis as { [REGISTRY]?: Registry };
  holder[REGISTRY] ??= new Set();
  return holder[REGISTRY];
}

/** Timeouts that fit a first run, whose first test in each worker also boots the worker's database. */
export const TENANTKIT_TIMEOUTS = { testTimeout: 60_000, hookTimeout: 120_000 } as const;

/** The module vitest runs as the global setup (its TypeScript source when the kit itself runs from source). */
const GLOBAL_SETUP_FILE = fileURLToPath(new URL(`./global-setup.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));

/** The part of vitest's configuration the plugin reads and writes. */
export interface PluginTestConfig {
  globalSetup?: string | string[];
  testTimeout?: number;
  hookTimeout?: number;
}

/** A Vite plugin, typed structurally so it fits the Vite version of every supported vitest. */
export interface TenantkitPlugin {
  readonly name: 'tenantkit';
  config(config: { test?: PluginTestConfig }): { test: PluginTestConfig };
}

/**
 * A vitest plugin that wires the kit into a run: the global setup that starts the server and
 * builds the template or snapshot once, and timeouts that fit the first test of a worker (which
 * also starts its database). Timeouts set in the config are kept.
 *
 *   // vitest.config.ts
 *   export default defineConfig({ plugins: [tenantkit(kit)] });
 */
export function tenantkit(options: KitOptions): TenantkitPlugin {
  registeredKits().add(options);
  return {
    name: 'tenantkit',
    config(config) {
      return {
        test: {
          globalSetup: [GLOBAL_SETUP_FILE],
          testTimeout: config.test?.testTimeout ?? TENANTKIT_TIMEOUTS.testTimeout,
          hookTimeout: config.test?.hookTimeout ?? TENANTKIT_TIMEOUTS.hookTimeout,
        },
      };
    },
  };
}
