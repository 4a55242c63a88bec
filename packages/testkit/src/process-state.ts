// Whether a process is alive, for the reapers of native servers and containers: a killed test run
// leaves its servers behind, and the next run removes those whose process is gone.
import { readFileSync } from 'node:fs';

/** True while `pid` exists (EPERM means it exists but belongs to another user). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Linux only: an exited child nobody has reaped yet still answers kill(pid, 0). */
export function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

export function processRunning(pid: number): boolean {
  return processExists(pid) && !isZombie(pid);
}
