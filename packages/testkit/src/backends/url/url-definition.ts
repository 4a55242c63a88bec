import type { BackendDefinition } from '../registry.js';
import { startOnServer } from '../server/start-on-server.js';
import { urlEndpoint } from './url-endpoint.js';

export const urlBackend: BackendDefinition = {
  kind: 'url',
  embedded: false,
  reachableByUrl: true,
  summary: 'an existing server (url or DATABASE_URL, loopback unless allowRemote): only tk_ databases and roles are made and dropped',
  start: (options, roles) =>
    startOnServer(options, roles, {
      endpoint: () => urlEndpoint({ ...(options.url ? { url: options.url } : {}), ...(options.allowRemote ? { allowRemote: true } : {}) }),
      ownsServer: false,
    }),
};
