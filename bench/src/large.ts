// pnpm bench:large: audit and seed of large schemas (one file, and the same in 10 migrations), each
// in a process of its own so its peak RSS is measured; writes results/large-schema.json.
// BENCH_LARGE_TABLES=500,5000 picks the sizes (default 500; 5,000 takes minutes per figure). Figures
// of other sizes and backends already in the file are kept, each stamped with its own commit.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeLargeSchemaFile, writeLargeSchemaMigrations } from './large-schema.ts';

const sizes = (process.env.BENCH_LARGE_TABLES ?? '500').split(',').map(Number);
const backends = (process.env.BENCH_LARGE_BACKENDS ?? 'native,pglite').split(',') as ('native' | 'pglite')[];
// PGlite keeps the whole database in the Node process; past this the kit's answer is "use native".
const PGLITE_HEAP_MB = 4096;
const child = fileURLToPath(new URL('./large-child.ts', import.meta.url));
const work = await mkdtemp(join(tmpdir(), 'tenantkit-bench-large-'));

interface Figure {
  commit: string;
  measuredAt: string;
  backend: string;
  tables: number;
  layout: 'file' | '10 migrations';
  ok: boolean;
  startMs?: number;
  auditMs?: number;
  seedMs?: number;
  proven?: number;
  rows?: number;
  maxRssMb: number;
  wallMs: number;
  code?: string;
  message?: string;
}

const commit = (() => {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();
const figures: Figure[] = [];
try {
  for (const tables of sizes) {
    const file = join(work, `schema-${tables}.sql`);
    const dir = join(work, `migrations-${tables}`);
    await writeLargeSchemaFile(file, tables);
    await writeLargeSchemaMigrations(dir, tables, 10);
    for (const backend of backends) {
      for (const [layout, source] of [['file', file], ['10 migrations', dir]] as const) {
        const started = performance.now();
        const run = spawnSync(process.execPath, [`--max-old-space-size=${PGLITE_HEAP_MB}`, child, backend, source], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
        const wallMs = Math.round(performance.now() - started);
        const last = run.stdout.trim().split('\n').pop() ?? '';
        let figure: Figure;
        try {
          figure = { commit, measuredAt: new Date().toISOString(), backend, tables, layout, wallMs, ...JSON.parse(last) };
        } catch {
          figure = { commit, measuredAt: new Date().toISOString(), backend, tables, layout, wallMs, ok: false, maxRssMb: 0, code: `exit ${run.status ?? run.signal}`, message: (run.stderr || run.stdout).trim().split('\n').slice(-3).join(' | ') };
        }
        figures.push(figure);
        console.log(`${backend.padEnd(7)}${String(tables).padStart(6)} tables (${layout.padEnd(13)}) ${figure.ok ? `start ${Math.round(figure.startMs!)} ms, audit ${Math.round(figure.auditMs!)} ms (${figure.proven} proven), seed ${Math.round(figure.seedMs!)} ms (${figure.rows} rows)` : `FAILED ${figure.code}: ${figure.message}`}; peak RSS ${figure.maxRssMb} MB`);
      }
    }
  }
} finally {
  await rm(work, { recursive: true, force: true });
}

const target = new URL('../results/large-schema.json', import.meta.url);
const same = (a: Figure, b: Figure) => a.backend === b.backend && a.tables === b.tables && a.layout === b.layout;
const kept = await readFile(target, 'utf8').then(
  (text) => ((JSON.parse(text) as { figures?: Figure[] }).figures ?? []).filter((old) => old.commit && !figures.some((figure) => same(old, figure))),
  () => [] as Figure[],
);
const all = [...kept, ...figures].sort((a, b) => a.tables - b.tables || a.backend.localeCompare(b.backend) || a.layout.localeCompare(b.layout));
const output = { generatedAt: new Date().toISOString(), node: process.versions.node, note: 'one sample per figure; RSS is the Node process (PGlite runs inside it; a native server does not)', figures: all };
await writeFile(target, `${JSON.stringify(output, null, 2)}\n`);
