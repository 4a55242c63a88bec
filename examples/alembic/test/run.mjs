// Runs the Alembic example's tests when Python 3 with Alembic and psycopg2 is installed.
// Without them the example is reported as not run, unless TENANTKIT_REQUIRE_ALEMBIC=1 (CI),
// where their absence is a failure.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PYTHON = '/usr/bin/python3';
const here = dirname(dirname(fileURLToPath(import.meta.url)));

const probe = spawnSync(PYTHON, ['-c', 'import alembic, psycopg2'], { encoding: 'utf8' });
if (probe.error || probe.status !== 0) {
  const why = probe.error
    ? `${PYTHON} could not be run: ${probe.error.message}`
    : `${PYTHON} -c "import alembic, psycopg2" exited with ${probe.status}: ${(probe.stderr ?? '').trim().split('\n').pop()}`;
  if (process.env.TENANTKIT_REQUIRE_ALEMBIC === '1') {
    console.error(`examples/alembic: TENANTKIT_REQUIRE_ALEMBIC=1 but Python 3 with Alembic and psycopg2 is missing: ${why}`);
    console.error('Install them with: apt-get install python3-alembic python3-psycopg2');
    process.exit(1);
  }
  console.log('examples/alembic: not run: needs Python 3 with Alembic and psycopg2 (apt-get install python3-alembic python3-psycopg2)');
  process.exit(0);
}

const require = createRequire(import.meta.url);
const vitestBin = join(dirname(require.resolve('vitest/package.json')), 'vitest.mjs');
const result = spawnSync(process.execPath, [vitestBin, 'run'], { cwd: here, stdio: 'inherit' });
if (result.error) {
  console.error(`examples/alembic: vitest could not be started: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
