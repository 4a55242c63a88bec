/**
 * A headless Chromium driven over the DevTools protocol with Node's own WebSocket: opens a page,
 * evaluates expressions in it and collects every console error and uncaught exception. No
 * screenshots, no browser-automation dependency.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
const STEP_TIMEOUT_MS = 20_000;

export function chromiumPath(): string | undefined {
  return [process.env.CHROMIUM_PATH, ...CANDIDATES].find((file): file is string => Boolean(file) && existsSync(file!));
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

export interface Page {
  /** Console errors, uncaught exceptions and error log entries seen since the page was opened. */
  readonly errors: string[];
  open(url: string): Promise<void>;
  evaluate<T>(expression: string): Promise<T>;
  close(): Promise<void>;
}

async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`chromium: ${what} took longer than ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function devToolsPort(profile: string, browser: ChildProcess): Promise<number> {
  const file = join(profile, 'DevToolsActivePort');
  for (;;) {
    if (browser.exitCode !== null) throw new Error(`chromium exited with ${browser.exitCode} before it listened`);
    const text = await readFile(file, 'utf8').catch(() => '');
    const port = Number(text.split('\n')[0]);
    if (port > 0) return port;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Starts Chromium on a fresh profile and attaches to its first page. */
export async function openBrowserPage(): Promise<Page> {
  const binary = chromiumPath();
  if (!binary) throw new Error('chromium is not installed: apt-get install chromium (or set CHROMIUM_PATH)');
  const profile = await mkdtemp(join(tmpdir(), 'tk-chromium-'));
  const browser = spawn(
    binary,
    ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--remote-debugging-port=0', `--user-data-dir=${profile}`, 'about:blank'],
    // Its own process group, so stopping it stops the renderer and GPU processes too.
    { stdio: 'ignore', detached: true },
  );
  const stop = async () => {
    if (browser.exitCode === null) {
      const exited = new Promise((resolve) => browser.once('exit', resolve));
      try {
        process.kill(-browser.pid!, 'SIGKILL');
      } catch {
        browser.kill('SIGKILL');
      }
      await exited;
    }
    await rm(profile, { recursive: true, force: true });
  };
  try {
    const port = await within(devToolsPort(profile, browser), 'starting');
    const targets = (await within(fetch(`http://127.0.0.1:${port}/json/list`).then((response) => response.json()), 'listing pages')) as Array<{ type: string; webSocketDebuggerUrl: string }>;
    const target = targets.find((entry) => entry.type === 'page');
    if (!target) throw new Error('chromium: no page target');
    const socket = new WebSocket(target.webSocketDebuggerUrl);
    await within(new Promise((resolve, reject) => {
      socket.addEventListener('open', resolve, { once: true });
      socket.addEventListener('error', () => reject(new Error('chromium: the DevTools socket did not open')), { once: true });
    }), 'connecting');

    const pending = new Map<number, Pending>();
    const waiters = new Map<string, Array<() => void>>();
    const errors: string[] = [];
    let nextId = 1;
    socket.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: Record<string, any> };
      if (message.id !== undefined) {
        const waiting = pending.get(message.id);
        pending.delete(message.id);
        if (message.error) waiting?.reject(new Error(`chromium: ${message.error.message}`));
        else waiting?.resolve(message.result);
        return;
      }
      const params = message.params ?? {};
      if (message.method === 'Runtime.consoleAPICalled' && params.type === 'error') errors.push(`console.error: ${JSON.stringify(params.args?.map((arg: { value?: unknown; description?: string }) => arg.value ?? arg.description))}`);
      if (message.method === 'Runtime.exceptionThrown') errors.push(`exception: ${params.exceptionDetails?.exception?.description ?? params.exceptionDetails?.text}`);
      if (message.method === 'Log.entryAdded' && params.entry?.level === 'error') errors.push(`log: ${params.entry.text} (${params.entry.url ?? ''})`);
      for (const wake of waiters.get(message.method ?? '') ?? []) wake();
      waiters.delete(message.method ?? '');
    });
    const send = (method: string, params: object = {}) =>
      within(new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        socket.send(JSON.stringify({ id, method, params }));
      }), method);
    const next = (method: string) => new Promise<void>((resolve) => waiters.set(method, [...(waiters.get(method) ?? []), resolve]));

    await send('Runtime.enable');
    await send('Log.enable');
    await send('Page.enable');
    return {
      errors,
      async open(url) {
        const loaded = next('Page.loadEventFired');
        await send('Page.navigate', { url });
        await within(loaded, `loading ${url}`);
      },
      async evaluate<T>(expression: string) {
        const result = (await send('Runtime.evaluate', { expression, returnByValue: true })) as { result: { value: T }; exceptionDetails?: { text: string } };
        if (result.exceptionDetails) throw new Error(`chromium: evaluating ${expression}: ${result.exceptionDetails.text}`);
        return result.result.value;
      },
      async close() {
        socket.close();
        await stop();
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
