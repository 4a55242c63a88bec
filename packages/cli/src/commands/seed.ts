import { parseArgs } from 'node:util';
import { type World, seedTenants } from '@tenantkit/fixtures';
import { TenantkitError } from '@tenantkit/testkit';
import type { CliResult } from '../index.js';
import { SOURCE_OPTIONS, SOURCE_USAGE, appGrantsArg, checkSource, failureResult, openSource, sourceArgs } from '../source.js';
import { UsageError } from '../usage.js';

export const SEED_USAGE = `Usage: tenantkit seed (--sql FILE... | --migrations DIR | --alembic alembic.ini | --url URL) [options]

Seeds a database with deterministic multi-tenant data and prints a per-table summary.
--sql and --migrations seed a disposable database on the default backend; --url seeds that database.

Where the database comes from:
${SOURCE_USAGE}

Options:
  --tenants N            tenants to create (default 2)
  --rows K               rows per table per tenant (default 10)
  --tenant-column NAME   a tenant column name (repeatable; default tenant_id, account_id, ...)
  --seed S               faker seed (default TENANTKIT_SEED, else 0)
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

function count(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min) throw new UsageError(`--${name} must be a whole number >= ${min}, got "${value}"`);
  return parsed;
}

export async function seedCommand(argv: readonly string[]): Promise<CliResult> {
  let values: ReturnType<typeof parse>['values'];
  let positionals: string[];
  try {
    ({ values, positionals } = parse(argv));
  } catch (error) {
    return usageFailure((error as Error).message);
  }
  if (values.help) return { code: 0, stdout: `${SEED_USAGE}\n`, stderr: '' };
  const json = Boolean(values.json);
  let args: ReturnType<typeof sourceArgs>;
  let tenants: number;
  let rows: number;
  let seed: number | undefined;
  try {
    tenants = count('tenants', values.tenants, 2, 1);
    rows = count('rows', values.rows, 10, 1);
    seed = values.seed === undefined ? undefined : count('seed', values.seed, 0, 0);
    args = sourceArgs(values, positionals);
    checkSource(args);
  } catch (error) {
    return usageFailure((error as Error).message);
  }

  let source: Awaited<ReturnType<typeof openSource>>;
  try {
    source = await openSource(args, { roles: { appGrants: appGrantsArg(values['app-grants'], 'crud') === 'crud' ? 'crud' : 'none' } });
  } catch (error) {
    return failureResult('seed', 2, error, json);
  }
  try {
    const world = await seedTenants(source.admin, {
      tenants,
      rowsPerTable: rows,
      ...(seed === undefined ? {} : { seed }),
      ...(values['tenant-column'] ? { tenantColumns: values['tenant-column'] } : {}),
    });
    return { code: 0, stdout: json ? `${JSON.stringify(worldJson(world))}\n` : summary(world, source.description), stderr: '' };
  } catch (error) {
    // A table the kit could not fill is the seed's failure (1); anything else is setup (2).
    const seedFailure = error instanceof TenantkitError && SEED_FAILURES.has(error.code);
    return failureResult('seed', seedFailure ? 1 : 2, error, json);
  } finally {
    await source.close().catch(() => {});
  }
}

const SEED_FAILURES = new Set<string>([
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

function usageFailure(message: string): CliResult {
  return { code: 2, stdout: '', stderr: `tenantkit seed: ${message}\n\n${SEED_USAGE}\n` };
}
