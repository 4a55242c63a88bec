import { spawn } from 'node:child_process';

export interface CommandRun {
  /** The exit code; null when the process was killed by a signal or did not start. */
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  /** The process could not be started (ENOENT, EACCES): the message. */
  readonly startError: string | null;
  /** The end of what it printed (stdout and stderr interleaved), at most OUTPUT_LIMIT characters. */
  readonly output: string;
  readonly ms: number;
}

const OUTPUT_LIMIT = 64 * 1024;

/**
 * Runs a command (no shell) with its output captured, killing its whole process group (the test
 * runner and its workers) once `timeoutMs` has passed.
 */
export function runCommand(command: readonly string[], options: { readonly env: NodeJS.ProcessEnv; readonly cwd: string; readonly timeoutMs: number }): Promise<CommandRun> {
  const started = performance.now();
  return new Promise((resolve) => {
    let output = '';
    let timedOut = false;
    let startError: string | null = null;
    const child = spawn(command[0]!, command.slice(1), { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const keep = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.length > OUTPUT_LIMIT * 2) output = output.slice(-OUTPUT_LIMIT);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, options.timeoutMs);
    child.on('error', (error) => {
      startError = error.message;
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ exitCode, signal, timedOut, startError, output: output.slice(-OUTPUT_LIMIT), ms: performance.now() - started });
    });
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** The last non-empty lines of a run's output, without terminal colours. */
export function outputTail(output: string, lines = 15): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: terminal colour codes are what is removed
  const plain = output.replace(/\u001b\[[0-9;]*m/g, '');
  return plain.split('\n').map((line) => line.trimEnd()).filter((line) => line !== '').slice(-lines).join('\n');
}

/** How a run ended, for messages. */
export function describeExit(run: CommandRun, timeoutMs: number): string {
  if (run.startError !== null) return `it could not be started: ${run.startError}`;
  if (run.timedOut) return `timed out after ${formatSeconds(timeoutMs)} (the bound per run; raise it with --timeout)`;
  if (run.exitCode === null) return `killed by ${run.signal ?? 'a signal'}`;
  return `exit code ${run.exitCode}`;
}

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
