// Audit and seed of large schemas (one file, and the same in 10 migrations), each in a process of its
// own so its peak RSS is its own.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeLargeSchemaFile, writeLargeSchemaMigrations } from './large-schema.ts';
import { type Stat, stat } from './stats.ts';

// PGlite keeps the whole database in the Node process; past this the kit's answer is "use native".
const PGLITE_HEAP_MB = 4096;
const child = fileURLToPath(new URL('./large-child.ts', import.meta.url));

export interface LargeCase {
  readonly backend: 'native' | 'pglite';
  readonly tables: number;
  readonly layout: 'file' | '10 migrations';
  /** Processes run; each gives one sample of every figure. */
  readonly samples: number;
}

export interface LargeFigure {
  readonly backend: string;
  readonly tables: number;
  readonly layout: string;
  readonly ok: boolean;
  readonly samples: number;
  readonly startMs?: Stat;
  readonly auditMs?: Stat;
  readonly seedMs?: Stat;
  readonly proven?: number;
  readonly rows?: number;
  /** The largest peak RSS of the samples' processes. */
  readonly maxRssMb: number;
  readonly code?: string;
  readonly message?: string;
}

interface ChildResult {
  ok: boolean;
  startMs?: number;
  auditMs?: number;
  seedMs?: number;
  proven?: number;
  rows?: number;
  maxRssMb: number;
  code?: string;
  message?: string;
}

function runChild(backend: string, source: string): ChildResult {
  const run = spawnSync(process.execPath, [`--max-old-space-size=${PGLITE_HEAP_MB}`, child, backend, source], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const last = run.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as ChildResult;
  } catch {
    return { ok: false, maxRssMb: 0, code: `exit ${run.status ?? run.signal}`, message: (run.stderr || run.stdout).trim().split('\n').slice(-3).join(' | ') };
  }
}

export async function measureLarge(work: string, cases: readonly LargeCase[]): Promise<LargeFigure[]> {
  const figures: LargeFigure[] = [];
  const written = new Set<string>();
  for (const { backend, tables, layout, samples } of cases) {
    const source = layout === 'file' ? join(work, `schema-${tables}.sql`) : join(work, `migrations-${tables}`);
    if (!written.has(source)) {
      if (layout === 'file') await writeLargeSchemaFile(source, tables);
      else await writeLargeSchemaMigrations(source, tables, 10);
      written.add(source);
    }
    const results: ChildResult[] = [];
    for (let i = 0; i < samples; i++) {
      const result = runChild(backend, source);
      results.push(result);
      if (!result.ok) break;
    }
    const failed = results.find((result) => !result.ok);
    const maxRssMb = Math.max(...results.map((result) => result.maxRssMb));
    const figure: LargeFigure = failed
      ? { backend, tables, layout, ok: false, samples: results.length, maxRssMb, ...(failed.code ? { code: failed.code } : {}), ...(failed.message ? { message: failed.message } : {}) }
      : {
          backend,
          tables,
          layout,
          ok: true,
          samples: results.length,
          startMs: stat(results.map((result) => result.startMs!)),
          auditMs: stat(results.map((result) => result.auditMs!)),
          seedMs: stat(results.map((result) => result.seedMs!)),
          proven: results[0]!.proven!,
          rows: results[0]!.rows!,
          maxRssMb,
        };
    figures.push(figure);
    process.stderr.write(`large: ${backend} ${tables} tables (${layout}): ${figure.ok ? `audit ${Math.round(figure.auditMs!.p50)} ms, seed ${Math.round(figure.seedMs!.p50)} ms` : `FAILED ${figure.code}: ${figure.message}`}; peak RSS ${maxRssMb} MB\n`);
  }
  return figures;
}
