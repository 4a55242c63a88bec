import type { BackendDefinition } from '../registry.js';
import { startOnServer } from '../server/start-on-server.js';
import { containerEndpoint } from './container-endpoint.js';

export const containerBackend: BackendDefinition = {
  kind: 'container',
  embedded: false,
  reachableByUrl: true,
  summary: 'PostgreSQL in a container through testcontainers (TENANTKIT_CONTAINER_IMAGE or container.image), real logins',
  startServer: (options) => containerEndpoint(options.container ?? {}),
  start: (options, roles, shared) => startOnServer(options, roles, { endpoint: shared ?? (() => containerEndpoint(options.container ?? {})), ownsServer: true }),
};
