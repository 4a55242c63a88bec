export type { ServerEndpoint } from '../backends/server/server-engine.js';
