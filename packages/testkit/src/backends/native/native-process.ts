// The native server's process plumbing: small helpers about processes, ports and logs, and the hooks
// that stop every server this process started when it exits or is interrupted.
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';

export const HOST = '127.0.0.1';
export const DATA_DIR_PREFIX = 'tenantkit-pg-';
export const LOG_TAIL_LINES = 30;
export const POLL_INTERVAL_MS = 50;
/** Escalation while stopping: SIGINT (fast), then SIGQUIT (immediate), then SIGKILL. */
export const STOP_GRACE_MS = { SIGINT: 10_000, SIGQUIT: 5_000, SIGKILL: 5_000 } as const;
/** Sun path limit (108 on Linux, 104 on macOS) minus room for the terminating NUL. */
export const MAX_SOCKET_PATH = 103;

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Last `lines` lines of a file from byte `from` on; '' when it cannot be read. */
export async function readLogTail(file: string, lines = LOG_TAIL_LINES, from = 0): Promise<string> {
  try {
    const text = (await readFile(file)).subarray(from).toString('utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : undefined;
      server.close(() => (port ? resolve(port) : reject(new Error('could not read the port the OS assigned'))));
    });
  });
}

/** True while `pid` exists (EPERM means it exists but belongs to someone else). */
export function trySignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** Blocks the thread; only for the synchronous 'exit' hook, where nothing async can run. */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

// ---------------------------------------------------------------------------------------------
// Process-level hooks: stop the servers when the process exits or is interrupted
// ---------------------------------------------------------------------------------------------

export interface LiveServer {
  stop(): Promise<void>;
  /** For the 'exit' hook: immediate shutdown and removal, synchronously. */
  killSync(): void;
}

export const live = new Set<LiveServer>();
let exitHookInstalled = false;
let signalHandlersInstalled = false;
export const EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
export type HandledSignal = keyof typeof EXIT_CODES;

export function onExit(): void {
  for (const server of live) server.killSync();
  live.clear();
}

export function onSignal(signal: HandledSignal): void {
  // Handle one signal, once: afterwards the signal means what it meant before the server started.
  removeSignalHandlers();
  const programHandlesIt = process.listenerCount(signal) > 0;
  void Promise.allSettled([...live].map((server) => server.stop())).then(() => {
    // When the program has its own handler it has already seen this signal and decides what happens.
    if (programHandlesIt) return;
    process.kill(process.pid, signal);
    // Should the default action have been replaced meanwhile, still end as the signal would.
    setTimeout(() => process.exit(EXIT_CODES[signal]), 1_000).unref();
  });
}

export const onSigint = (): void => onSignal('SIGINT');
export const onSigterm = (): void => onSignal('SIGTERM');

export function removeSignalHandlers(): void {
  signalHandlersInstalled = false;
  process.removeListener('SIGINT', onSigint);
  process.removeListener('SIGTERM', onSigterm);
}

export function register(server: LiveServer): void {
  live.add(server);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', onExit);
  }
  if (!signalHandlersInstalled) {
    signalHandlersInstalled = true;
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
  }
}

export function unregister(server: LiveServer): void {
  live.delete(server);
  if (live.size > 0) return;
  if (exitHookInstalled) {
    exitHookInstalled = false;
    process.removeListener('exit', onExit);
  }
  removeSignalHandlers();
}
