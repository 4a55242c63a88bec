import { parseArgs } from 'node:util';
import { type FixturesErrorCode, type World, seedTenants } from '@tenantkit/fixtures';
import { TenantkitError, type TenantkitErrorCode } from '@tenantkit/testkit';
import { NothingToSeedError, UsageError } from '../errors.js';
import { type CommandOutput, failure, wantsJson } from '../failure.js';
import { integerFlag } from '../flags.js';
import type { CliResult } from '../index.js';
import { SOURCE_OPTIONS, SOURCE_USAGE, appGrantsArg, checkSource, openSource, sourceArgs } from '../source.js';

export const SEED_USAGE = `Usage: tenantkit seed (--sql FILE... | --migrations DIR | --alembic alembic.ini | --url URL) [options]

Seeds a database with deterministic multi-tenant data and prints a per-table summary.
--sql and --migrations seed a disposable database on the default backend; --url seeds that database.

Where the database comes from:
${SOURCE_USAGE}

Options:
  --tenants N            tenants to create, 1 to 1000 (default 2)
  --rows K               rows per table per tenant, 1 to 10000 (default 10); N x K at most 20000,
                         the rows per table one run holds in memory
  --tenant-column NAME   a tenant column name (repeatable; default tenant_id, account_id, ...)
  --seed S               faker seed, 0 to 4294967295 (default TENANTKIT_SEED, else 0)
  --app-grants MODE      crud (default): the kit's app role gets SELECT, INSERT, UPDATE, DELETE on
                         every table, as a deployment grants; schema: only what the SQL grants
  --json                 print exactly one JSON object on stdout

Exit codes: 0 seeded, 1 a table could not be seeded, 2 usage or setup error.`;

interface SeedJson {
  readonly seed: number;
  readonly tenants: readonly string[];
  readonly tables: readonly {
    readonly table: string;
    readonly kind: string;
    readonly rows: number;
    readonly perTenant?: Readonly<Record<string, number>>;
  }[];
}

export function worldJson(world: World): SeedJson {
  return {
    seed: world.seed,
    tenants: world.tenants,
    tables: world.tables.map((table) => ({
      table: table.table,
      kind: table.kind,
      rows: table.rows,
      ...(table.kind === 'global' ? {} : { perTenant: table.perTenant }),
    })),
  };
}

function summary(world: World, where: string): string {
  const width = Math.max(5, ...world.tables.map((table) => table.table.length));
  const lines = [
    `Seeded ${where}: ${world.tenants.length} tenant(s), seed ${world.seed} (replay with --seed ${world.seed})`,
    `${'table'.padEnd(width)}  ${'kind'.padEnd(11)}  rows  per tenant`,
    ...world.tables.map(
      (table) =>
        `${table.table.padEnd(width)}  ${table.kind.padEnd(11)}  ${String(table.rows).padStart(4)}  ${table.kind === 'global' ? '-' : world.tenants.map((tenant) => table.perTenant[tenant] ?? 0).join(' / ')}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

/** Bounds of the numeric flags: what one run can hold in memory (rows are built before they are inserted). */
export const SEED_LIMITS = { tenants: 1000, rows: 10_000, rowsPerTable: 20_000, seed: 2 ** 32 - 1 } as const;

const SEED_OUTPUT: CommandOutput = { command: 'seed', usage: SEED_USAGE, emptyJson: { seed: null, tenants: [], tables: [] } };

export async function seedCommand(argv: readonly string[]): Promise<CliResult> {
  const json = wantsJson(argv);
  let values: ReturnType<typeof parse>['values'];
  let args: ReturnType<typeof sourceArgs>;
  let tenants: number;
  let rows: number;
  let seed: number | undefined;
  let grants: 'schema' | 'crud';
  try {
    let positionals: string[];
    ({ values, positionals } = parse(argv));
    if (values.help) return { code: 0, stdout: `${SEED_USAGE}\n`, stderr: '' };
    tenants = integerFlag('tenants', values.tenants, 2, 1, SEED_LIMITS.tenants);
    rows = integerFlag('rows', values.rows, 10, 1, SEED_LIMITS.rows);
    if (tenants * rows > SEED_LIMITS.rowsPerTable) {
      throw new UsageError(`--tenants ${tenants} x --rows ${rows} is ${tenants * rows} rows per table; at most ${SEED_LIMITS.rowsPerTable} fit in one run. Lower --rows or --tenants.`, '--rows');
    }
    seed = values.seed === undefined ? undefined : integerFlag('seed', values.seed, 0, 0, SEED_LIMITS.seed);
    grants = appGrantsArg(values['app-grants'], 'crud');
    args = sourceArgs(values, positionals);
    checkSource(args);
  } catch (error) {
    return failure(SEED_OUTPUT, 2, error, json);
  }

  let source: Awaited<ReturnType<typeof openSource>>;
  try {
    source = await openSource(args, { roles: { appGrants: grants === 'crud' ? 'crud' : 'none' } });
  } catch (error) {
    return failure(SEED_OUTPUT, 2, error, json);
  }
  try {
    const world = await seedTenants(source.admin, {
      tenants,
      rowsPerTable: rows,
      ...(seed === undefined ? {} : { seed }),
      ...(values['tenant-column'] ? { tenantColumns: values['tenant-column'] } : {}),
    });
    // "Seeded 0 tenant(s)" with exit 0 would pass a script that seeded nothing.
    if (world.tables.length === 0) return failure(SEED_OUTPUT, 2, new NothingToSeedError(source.description), json, source.description);
    return { code: 0, stdout: json ? `${JSON.stringify(worldJson(world))}\n` : summary(world, source.description), stderr: '' };
  } catch (error) {
    // A table the kit could not fill is the seed's failure (1); anything else is setup (2).
    const seedFailure = error instanceof TenantkitError && SEED_FAILURES.has(error.code);
    return failure(SEED_OUTPUT, seedFailure ? 1 : 2, error, json, source.description);
  } finally {
    await source.close().catch(() => {});
  }
}

/** Failures of seeding itself (exit 1), not of setting it up (exit 2). */
const SEED_FAILURES: ReadonlySet<TenantkitErrorCode> = new Set<FixturesErrorCode>([
  'TENANTKIT_SEED_FAILED',
  'TENANTKIT_UNSATISFIABLE_CHECK',
  'TENANTKIT_FK_CYCLE',
  'TENANTKIT_UNSUPPORTED_TYPE',
  'TENANTKIT_RLS_INSERT_REFUSED',
]);

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      ...SOURCE_OPTIONS,
      tenants: { type: 'string' },
      rows: { type: 'string' },
      'tenant-column': { type: 'string', multiple: true },
      seed: { type: 'string' },
    },
  });
}
