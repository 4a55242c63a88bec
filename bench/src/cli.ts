// What a user meets first: a fresh `tenantkit` process, wall time from spawn to exit, on the 31-table
// bench schema (audit, PGlite and native) and its 20 migrations (migrations check, native), server
// start included, with a warm cache (one untimed run first). Its progress lines are kept as evidence.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { QUICK, type Stat, samples, stat } from './stats.ts';

const bin = fileURLToPath(new URL('../../packages/cli/bin/tenantkit.js', import.meta.url));
const WALL_SAMPLES = samples(5, 1);

export interface CliInput {
  readonly migrationsDir: string;
  readonly cacheDir: string;
}

interface Run {
  readonly ms: number;
  readonly code: number | null;
  readonly stderr: string;
}

function run(args: readonly string[], input: CliInput): Run {
  const startedAt = performance.now();
  const child = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, TENANTKIT_QUIET: '0', TENANTKIT_CACHE_DIR: input.cacheDir, TENANTKIT_BACKEND: '' },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { ms: performance.now() - startedAt, code: child.status, stderr: child.stderr };
}

/** Wall times of one command: a warm-up run (not in a quick run), then the samples; every run must exit 0. */
function wall(name: string, args: readonly string[], input: CliInput): { ms: Stat; progress: string[] } {
  const warm = QUICK ? undefined : run(args, input);
  if (warm && warm.code !== 0) throw new Error(`tenantkit ${args.join(' ')} exited ${warm.code}: ${warm.stderr.trim().split('\n').slice(-5).join(' | ')}`);
  const times: number[] = [];
  let progress: string[] = [];
  for (let i = 0; i < WALL_SAMPLES; i++) {
    const sample = run(args, input);
    if (sample.code !== 0) throw new Error(`tenantkit ${args.join(' ')} exited ${sample.code}: ${sample.stderr.trim().split('\n').slice(-5).join(' | ')}`);
    times.push(sample.ms);
    progress = sample.stderr.split('\n').filter((text) => text.startsWith('tenantkit: '));
  }
  process.stderr.write(`cli: ${name} done\n`);
  return { ms: stat(times), progress };
}

export function measureCli(input: CliInput) {
  const audit = (backend: string) => ['audit', '--migrations', input.migrationsDir, '--app-grants', 'crud', '--backend', backend];
  const check = (backend: string) => ['migrations', 'check', '--migrations', input.migrationsDir, '--backend', backend];
  return {
    auditPglite: wall('audit pglite', audit('pglite'), input),
    auditNative: wall('audit native', audit('native'), input),
    migrationsCheckNative: wall('migrations check native', check('native'), input),
  };
}
