process.env.TENANTKIT_QUIET = '1';
delete process.env.TENANTKIT_BACKEND;

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { BackendKind } from '../src/config.js';
import type { NativeServer } from '../src/backends/native/native-server.js';
import { type Kit, startKit } from '../src/kit.js';
import { diffSnapshots, formatDiff, isEmpty } from '../src/snapshot/diff.js';
import { type SchemaSnapshot, snapshotSchema } from '../src/snapshot/schema-snapshot.js';
import { shareNativeServer, stopSharedServer } from './helpers.js';

/** Objects both PostgreSQL builds (PGlite, native) print the same way. */
const PORTABLE_SCHEMA = `
CREATE SCHEMA app;
CREATE TYPE permission_action AS ENUM ('read', 'write');
CREATE DOMAIN app.email AS text COLLATE "C" NOT NULL DEFAULT 'nobody@example.com' CHECK (VALUE LIKE '%@%');
CREATE SEQUENCE app.invoice_no AS integer START 1000 INCREMENT 5 MINVALUE 1000 MAXVALUE 999999 CYCLE;

CREATE TABLE tenants (
  tenant_id uuid PRIMARY KEY,
  name text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE documents (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants ON UPDATE CASCADE ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED,
  title text,
  slug text COLLATE "C",
  body text DEFAULT '',
  title_length integer GENERATED ALWAYS AS (length(title)) STORED,
  action permission_action NOT NULL DEFAULT 'read',
  contact app.email,
  price numeric(10, 2),
  summary varchar(80),
  CONSTRAINT documents_title_check CHECK (char_length(title) < 200),
  CONSTRAINT documents_tenant_slug_key UNIQUE (tenant_id, slug)
);
CREATE INDEX documents_tenant_idx ON documents (tenant_id) WHERE body <> '';
CREATE UNIQUE INDEX documents_lower_title_idx ON documents (tenant_id, lower(title));

CREATE TABLE bookings (id serial PRIMARY KEY, during tsrange NOT NULL, EXCLUDE USING gist (during WITH &&));
CREATE UNLOGGED TABLE cache_entries (key text PRIMARY KEY, value jsonb);
CREATE TABLE events (id bigint NOT NULL, tenant_id uuid NOT NULL, day date NOT NULL) PARTITION BY RANGE (day);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE INDEX events_tenant_idx ON events (tenant_id);

ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON documents
  USING (tenant_id = current_setting('app.tenant_id')::uuid)
  WITH CHECK (tenant_id = current_setting('app.tenant_id')::uuid);
CREATE POLICY no_delete ON documents AS RESTRICTIVE FOR DELETE TO tk_app USING (false);

CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.body := coalesce(NEW.body, '');
  RETURN NEW;
END
$$;
CREATE FUNCTION app.tenant_name(p_tenant uuid) RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, public
  AS $$ SELECT name FROM public.tenants WHERE tenant_id = p_tenant $$;
CREATE PROCEDURE app.noop() LANGUAGE sql AS $$ SELECT 1 $$;
CREATE TRIGGER documents_touch BEFORE UPDATE ON documents FOR EACH ROW EXECUTE FUNCTION app.touch();

CREATE VIEW document_titles WITH (security_invoker = true) AS
  SELECT id,   title
    FROM documents WHERE title <> 'x  y';
CREATE MATERIALIZED VIEW tenant_counts AS SELECT tenant_id, count(*) AS n FROM documents GROUP BY tenant_id;

GRANT SELECT (title) ON documents TO PUBLIC;
REVOKE EXECUTE ON FUNCTION app.tenant_name(uuid) FROM PUBLIC;

CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL);
`;

/** Thirty tables for the timing measurement. */
const WIDE_SCHEMA = Array.from(
  { length: 30 },
  (_, i) => `
CREATE TABLE t${i} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id uuid NOT NULL,
  name text NOT NULL DEFAULT '',
  amount numeric(12, 2),
  created_at timestamptz NOT NULL DEFAULT now(),
  ${i > 0 ? `parent_id bigint REFERENCES t${i - 1} ON DELETE CASCADE,` : ''}
  CONSTRAINT t${i}_name_check CHECK (name <> 'bad')
);
CREATE INDEX t${i}_tenant_idx ON t${i} (tenant_id, created_at);
ALTER TABLE t${i} ENABLE ROW LEVEL SECURITY;
CREATE POLICY t${i}_tenant ON t${i} USING (tenant_id = current_setting('app.tenant_id')::uuid);`,
).join('\n');

const ROLES = ['tk_app', 'tk_owner'];

const backends: BackendKind[] = ['pglite', 'native'];

describe.each(backends)('schema snapshot on %s', (backend) => {
  let server: NativeServer | undefined;
  const kits: Kit[] = [];
  let kit: Kit;

  const start = async (schema: string): Promise<Kit> => {
    const started = await startKit({ backend, schema, poolSize: 0 });
    kits.push(started);
    return started;
  };

  const snapshotOnce = async (from: Kit): Promise<SchemaSnapshot> => {
    const db = await from.acquire();
    try {
      return await snapshotSchema(db, { roles: ROLES });
    } finally {
      await db.release();
    }
  };

  /** The diff lines one migration step makes on a fresh database of the rich schema. */
  const changeLines = async (ddl: string): Promise<{ changes: string[]; notices: string[] }> => {
    const db = await kit.acquire();
    try {
      const before = await snapshotSchema(db);
      await db.exec(ddl);
      const after = await snapshotSchema(db);
      const diff = diffSnapshots(before, after);
      const text = formatDiff(diff).split('\n').filter(Boolean);
      return { changes: text.filter((line) => !line.startsWith('note:')), notices: text.filter((line) => line.startsWith('note:')) };
    } finally {
      await db.release();
    }
  };

  beforeAll(async () => {
    if (backend === 'native') server = await shareNativeServer();
    kit = await start(PORTABLE_SCHEMA);
  });
  afterAll(async () => {
    for (const each of kits) await each.stop();
    await stopSharedServer(server);
  });

  test('covers every object kind, normalized', async () => {
    const snapshot = await snapshotOnce(kit);
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);

    expect(snapshot.schemas.map((schema) => schema.name)).toEqual(['app', 'public']);
    expect(snapshot.schemas.find((schema) => schema.name === 'app')?.owner).toBe('tk_owner');
    expect(snapshot.tables.map((table) => table.name)).toEqual([
      'public.bookings',
      'public.cache_entries',
      'public.documents',
      'public.events',
      'public.events_2024',
      'public.tenants',
    ]);

    const documents = snapshot.tables.find((table) => table.name === 'public.documents')!;
    expect(documents).toMatchObject({ kind: 'table', owner: 'tk_owner', persistence: 'permanent', rowSecurity: true, forceRowSecurity: false });
    expect(documents.columnOrder).toEqual(['id', 'tenant_id', 'title', 'slug', 'body', 'title_length', 'action', 'contact', 'price', 'summary']);
    expect(documents.columns.map((column) => column.name)).toEqual([...documents.columnOrder].sort());
    const column = (name: string) => documents.columns.find((each) => each.name === name);
    expect(column('id')).toMatchObject({ type: 'bigint', notNull: true, identity: 'always', default: null });
    expect(column('slug')).toMatchObject({ type: 'text', collation: '"C"', notNull: false });
    expect(column('title')).toMatchObject({ collation: null });
    expect(column('body')).toMatchObject({ default: "''::text" });
    expect(column('title_length')).toMatchObject({ generated: { kind: 'stored', expression: 'length(title)' }, default: null });
    expect(column('price')?.type).toBe('numeric(10,2)');
    expect(column('summary')?.type).toBe('character varying(80)');
    expect(column('action')).toMatchObject({ type: 'permission_action', default: "'read'::permission_action", notNull: true });

    expect(snapshot.tables.find((table) => table.name === 'public.cache_entries')?.persistence).toBe('unlogged');
    expect(snapshot.tables.find((table) => table.name === 'public.events')).toMatchObject({ kind: 'partitioned table', partitionKey: 'RANGE (day)' });
    expect(snapshot.tables.find((table) => table.name === 'public.events_2024')).toMatchObject({
      partitionOf: 'public.events',
      partitionBound: "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
    });

    const fk = snapshot.constraints.find((each) => each.type === 'foreign key')!;
    expect(fk).toMatchObject({
      name: 'public.documents.documents_tenant_id_fkey',
      references: 'public.tenants',
      onUpdate: 'cascade',
      onDelete: 'restrict',
      deferrable: true,
      initiallyDeferred: true,
    });
    expect(fk.definition).toBe(
      'FOREIGN KEY (tenant_id) REFERENCES tenants(tenant_id) ON UPDATE CASCADE ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED',
    );
    expect(new Set(snapshot.constraints.map((each) => each.type))).toEqual(new Set(['primary key', 'foreign key', 'unique', 'check', 'exclusion']));
    expect(snapshot.constraints.find((each) => each.name === 'public.documents.documents_title_check')?.definition).toBe(
      'CHECK ((char_length(title) < 200))',
    );

    // Constraint-backed indexes are covered by their constraints.
    expect(snapshot.indexes.map((index) => index.name)).toEqual([
      'public.documents_lower_title_idx',
      'public.documents_tenant_idx',
      'public.events_2024_tenant_id_idx',
      'public.events_tenant_idx',
    ]);
    expect(snapshot.indexes[0]).toMatchObject({ unique: true, definition: 'ON public.documents USING btree (tenant_id, lower(title))', predicate: null });
    expect(snapshot.indexes[1]).toMatchObject({ unique: false, predicate: "(body <> ''::text)" });
    expect(snapshot.indexes[3]?.definition).toBe('ON ONLY public.events USING btree (tenant_id)');

    expect(snapshot.enums).toEqual([{ name: 'public.permission_action', owner: 'tk_owner', labels: ['read', 'write'] }]);
    expect(snapshot.domains).toEqual([
      {
        name: 'app.email',
        owner: 'tk_owner',
        baseType: 'text',
        notNull: true,
        default: "'nobody@example.com'::text",
        collation: '"C"',
        checks: [{ name: 'email_check', definition: "CHECK ((VALUE ~~ '%@%'::text))" }],
      },
    ]);
    expect(snapshot.sequences.find((each) => each.name === 'app.invoice_no')).toEqual({
      name: 'app.invoice_no',
      owner: 'tk_owner',
      type: 'integer',
      start: '1000',
      increment: '5',
      min: '1000',
      max: '999999',
      cache: '1',
      cycle: true,
      ownedBy: null,
    });
    expect(snapshot.sequences.find((each) => each.name === 'public.bookings_id_seq')?.ownedBy).toBe('public.bookings.id');
    expect(snapshot.sequences.find((each) => each.name === 'public.documents_id_seq')?.ownedBy).toBe('public.documents.id');
    // The ignored migrations table takes nothing of its own along.
    expect(JSON.stringify(snapshot)).not.toContain('schema_migrations');

    expect(snapshot.views).toEqual([
      {
        name: 'public.document_titles',
        kind: 'view',
        owner: 'tk_owner',
        definition: "SELECT id, title FROM documents WHERE (title <> 'x  y'::text);",
        options: ['security_invoker=true'],
      },
      {
        name: 'public.tenant_counts',
        kind: 'materialized view',
        owner: 'tk_owner',
        definition: 'SELECT tenant_id, count(*) AS n FROM documents GROUP BY tenant_id;',
        options: [],
      },
    ]);

    expect(snapshot.functions.map((fn) => `${fn.kind} ${fn.name}`)).toEqual([
      'procedure app.noop()',
      'function app.tenant_name(p_tenant uuid)',
      'function app.touch()',
    ]);
    expect(snapshot.functions[1]).toMatchObject({
      owner: 'tk_owner',
      returns: 'text',
      language: 'sql',
      volatility: 'stable',
      securityDefiner: true,
      config: ['search_path=pg_catalog, public'],
    });
    expect(snapshot.functions[1]?.bodySha256).toMatch(/^[0-9a-f]{64}$/);
    expect(snapshot.functions[0]?.returns).toBeNull();

    expect(snapshot.triggers).toEqual([
      {
        name: 'public.documents.documents_touch',
        table: 'public.documents',
        definition: 'CREATE TRIGGER documents_touch BEFORE UPDATE ON public.documents FOR EACH ROW EXECUTE FUNCTION app.touch()',
        enabled: 'origin',
      },
    ]);
    expect(snapshot.policies).toEqual([
      {
        name: 'public.documents.no_delete',
        table: 'public.documents',
        command: 'delete',
        permissive: false,
        roles: ['tk_app'],
        using: 'false',
        withCheck: null,
      },
      {
        name: 'public.documents.tenant_isolation',
        table: 'public.documents',
        command: 'all',
        permissive: true,
        roles: ['PUBLIC'],
        using: "(tenant_id = (current_setting('app.tenant_id'::text))::uuid)",
        withCheck: "(tenant_id = (current_setting('app.tenant_id'::text))::uuid)",
      },
    ]);

    const grants = snapshot.grants.map((grant) => `${grant.revokedDefault ? 'revoked ' : ''}${grant.privilege} ${grant.objectKind} ${grant.object} ${grant.grantee}`);
    expect(grants).toContain('SELECT column public.documents.title PUBLIC');
    expect(grants).toContain('revoked EXECUTE function app.tenant_name(p_tenant uuid) PUBLIC');
    // The kit's CRUD grants to the app role.
    expect(grants).toContain('SELECT table public.documents tk_app');
    expect(grants).toContain('USAGE schema app tk_app');
    // The owner's implicit privileges are not listed.
    expect(snapshot.grants.some((grant) => grant.grantee === 'tk_owner')).toBe(false);
    expect(snapshot.grants.map((grant) => grant.object)).not.toContain('public.schema_migrations');

    expect(snapshot.roles.map((role) => role.name)).toEqual(['tk_app', 'tk_owner']);
    expect(snapshot.roles.every((role) => role.exists && !role.superuser && !role.bypassRls)).toBe(true);
  });

  test('is deterministic: the same database twice, and two fresh databases', async () => {
    const db = await kit.acquire();
    let first: SchemaSnapshot;
    let second: SchemaSnapshot;
    try {
      first = await snapshotSchema(db, { roles: ROLES });
      second = await snapshotSchema(db, { roles: ROLES });
    } finally {
      await db.release();
    }
    expect(second).toEqual(first);
    expect(JSON.stringify(second)).toBe(JSON.stringify(first));

    const other = await start(PORTABLE_SCHEMA);
    const fresh = await snapshotOnce(other);
    expect(fresh).toEqual(first);
    expect(isEmpty(diffSnapshots(first, fresh))).toBe(true);
    expect(formatDiff(diffSnapshots(first, fresh))).toBe('');
  });

  test('honours schemas and ignoreTables', async () => {
    const db = await kit.acquire();
    try {
      const appOnly = await snapshotSchema(db, { schemas: ['app'] });
      expect(appOnly.schemas.map((schema) => schema.name)).toEqual(['app']);
      expect(appOnly.tables).toEqual([]);
      expect(appOnly.functions).toHaveLength(3);
      const everything = await snapshotSchema(db, { ignoreTables: [] });
      expect(everything.tables.map((table) => table.name)).toContain('public.schema_migrations');
      const lessDocuments = await snapshotSchema(db, { ignoreTables: ['public.schema_migrations', 'public.documents'] });
      expect(lessDocuments.policies).toEqual([]);
      expect(lessDocuments.triggers).toEqual([]);
      expect(lessDocuments.indexes.map((index) => index.table)).not.toContain('public.documents');
    } finally {
      await db.release();
    }
  });

  const cases: [string, string, string[]][] = [
    ['index added', 'CREATE INDEX documents_title_idx ON documents (title)', ['+ index public.documents_title_idx']],
    ['index dropped', 'DROP INDEX documents_tenant_idx', ['- index public.documents_tenant_idx']],
    [
      'enum label added',
      `ALTER TYPE permission_action ADD VALUE 'admin'`,
      ['~ enum public.permission_action: labels [read, write] -> [read, write, admin]'],
    ],
    [
      'enum type dropped',
      'ALTER TABLE documents DROP COLUMN action; DROP TYPE permission_action',
      ['- enum public.permission_action', '- column public.documents.action'],
    ],
    ['NOT NULL set', 'ALTER TABLE documents ALTER COLUMN title SET NOT NULL', ['~ column public.documents.title: nullable -> not null']],
    ['RLS enabled', 'ALTER TABLE tenants ENABLE ROW LEVEL SECURITY', ['~ table public.tenants: row security disabled -> enabled']],
    ['RLS forced', 'ALTER TABLE documents FORCE ROW LEVEL SECURITY', ['~ table public.documents: force row security off -> on']],
    [
      'column default changed',
      `ALTER TABLE documents ALTER COLUMN body SET DEFAULT 'empty'`,
      [`~ column public.documents.body: default ''::text -> 'empty'::text`],
    ],
    ['grant added', 'GRANT TRUNCATE ON tenants TO tk_app', ['+ grant TRUNCATE on table public.tenants to tk_app']],
    ['grant revoked', 'REVOKE DELETE ON documents FROM tk_app', ['- grant DELETE on table public.documents to tk_app']],
    [
      'grant option added',
      'GRANT SELECT ON tenants TO tk_app WITH GRANT OPTION',
      ['~ grant SELECT on table public.tenants to tk_app: grantable no -> yes'],
    ],
    [
      'function body changed',
      `CREATE OR REPLACE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
      ['~ function app.touch(): body changed (sha256 '],
    ],
    [
      'check constraint changed',
      'ALTER TABLE documents DROP CONSTRAINT documents_title_check, ADD CONSTRAINT documents_title_check CHECK (char_length(title) < 300)',
      ['~ constraint public.documents.documents_title_check: definition CHECK ((char_length(title) < 200)) -> CHECK ((char_length(title) < 300))'],
    ],
    ['column type changed', 'ALTER TABLE documents ALTER COLUMN summary TYPE varchar(120)', ['~ column public.documents.summary: type character varying(80) -> character varying(120)']],
    [
      'policy expression changed',
      `ALTER POLICY tenant_isolation ON documents USING (tenant_id = current_setting('app.tenant', true)::uuid)`,
      [
        "~ policy public.documents.tenant_isolation: USING (tenant_id = (current_setting('app.tenant_id'::text))::uuid) -> (tenant_id = (current_setting('app.tenant'::text, true))::uuid)",
      ],
    ],
    [
      'view security_invoker changed',
      'ALTER VIEW document_titles SET (security_invoker = false)',
      ['~ view public.document_titles: options [security_invoker=true] -> [security_invoker=false]'],
    ],
    [
      'trigger added',
      'CREATE TRIGGER tenants_touch BEFORE UPDATE ON tenants FOR EACH ROW EXECUTE FUNCTION app.touch()',
      ['+ trigger public.tenants.tenants_touch'],
    ],
    ['trigger disabled', 'ALTER TABLE documents DISABLE TRIGGER documents_touch', ['~ trigger public.documents.documents_touch: enabled origin -> disabled']],
    ['sequence changed', 'ALTER SEQUENCE app.invoice_no INCREMENT 10', ['~ sequence app.invoice_no: increment 5 -> 10']],
    ['sequence value moved is no change', `SELECT nextval('app.invoice_no'); SELECT setval('public.bookings_id_seq', 50)`, []],
    ['domain check added', 'ALTER DOMAIN app.email ADD CONSTRAINT email_length CHECK (length(VALUE) < 200)', [
      '~ domain app.email: check email_length added: CHECK ((length(VALUE) < 200))',
    ]],
  ];

  test.each(cases)('%s', async (_name, ddl, expected) => {
    const { changes, notices } = await changeLines(ddl);
    const prefixOnly = expected.length === 1 && expected[0]!.endsWith('(sha256 ');
    if (prefixOnly) {
      expect(changes).toHaveLength(1);
      expect(changes[0]).toMatch(/^~ function app\.touch\(\): body changed \(sha256 [0-9a-f]{12} -> [0-9a-f]{12}\)$/);
    } else {
      expect(changes.sort()).toEqual([...expected].sort());
    }
    expect(notices).toEqual([]);
  });

  test('role attributes the migrations rely on show up as role changes', async () => {
    const db = await kit.acquire();
    try {
      const before = await snapshotSchema(db, { roles: ROLES });
      await db.exec('ALTER ROLE tk_app CONNECTION LIMIT 7');
      try {
        const after = await snapshotSchema(db, { roles: ROLES });
        expect(formatDiff(diffSnapshots(before, after))).toBe('~ role tk_app: connection limit -1 -> 7');
      } finally {
        await db.exec('ALTER ROLE tk_app CONNECTION LIMIT -1');
      }
    } finally {
      await db.release();
    }
  });

  // citext ships with the server's contrib modules; PGlite loads extensions differently.
  if (backend === 'native') test('leaves out what extensions own and reports the extensions', async () => {
    const withExtension = await start(`
      CREATE EXTENSION citext;
      CREATE TABLE people (email citext PRIMARY KEY);`);
    const db = await withExtension.acquire();
    try {
      const snapshot = await snapshotSchema(db);
      expect(snapshot.extensions).toEqual([{ name: 'citext', version: expect.stringMatching(/^\d+\.\d+$/), schema: 'public' }]);
      expect(snapshot.functions).toEqual([]);
      expect(snapshot.grants.every((grant) => !grant.object.includes('citext'))).toBe(true);
      expect(snapshot.tables[0]?.columns).toEqual([
        { name: 'email', type: 'citext', notNull: true, default: null, identity: null, generated: null, collation: null },
      ]);
      await db.exec('CREATE EXTENSION btree_gist');
      const after = await snapshotSchema(db);
      expect(formatDiff(diffSnapshots(snapshot, after))).toBe('+ extension btree_gist');
    } finally {
      await db.release();
    }
  });

  test('a column dropped and added back at the end is no change, one notice', async () => {
    const db = await kit.acquire();
    try {
      const before = await snapshotSchema(db);
      await db.exec(`ALTER TABLE documents DROP COLUMN price; ALTER TABLE documents ADD COLUMN price numeric(10, 2)`);
      const after = await snapshotSchema(db);
      const diff = diffSnapshots(before, after);
      expect(diff.changes).toEqual([]);
      expect(isEmpty(diff)).toBe(true);
      expect(diff.notices).toHaveLength(1);
      expect(formatDiff(diff)).toBe(
        'note: ~ table public.documents: column order id, tenant_id, title, slug, body, title_length, action, contact, price, summary -> id, tenant_id, title, slug, body, title_length, action, contact, summary, price',
      );
    } finally {
      await db.release();
    }
  });

  test('measures a snapshot of a thirty-table schema', async () => {
    const wide = await start(WIDE_SCHEMA);
    const db = await wide.acquire();
    try {
      const first = await snapshotSchema(db);
      expect(first.tables).toHaveLength(30);
      expect(first.policies).toHaveLength(30);
      const times: number[] = [];
      for (let i = 0; i < 7; i++) {
        const started = performance.now();
        await snapshotSchema(db);
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      console.log(`[${backend}] snapshot of 30 tables: median ${times[3]!.toFixed(1)} ms, best ${times[0]!.toFixed(1)} ms`);
    } finally {
      await db.release();
    }
  });
});

describe('schema snapshot across backends', () => {
  let server: NativeServer | undefined;
  const kits: Kit[] = [];
  beforeAll(async () => {
    server = await shareNativeServer();
  });
  afterAll(async () => {
    for (const each of kits) await each.stop();
    await stopSharedServer(server);
  });

  test('PGlite and native agree on a portable schema', async () => {
    const snapshots: SchemaSnapshot[] = [];
    for (const backend of backends) {
      const kit = await startKit({ backend, schema: PORTABLE_SCHEMA, poolSize: 0 });
      kits.push(kit);
      const db = await kit.acquire();
      try {
        snapshots.push(await snapshotSchema(db));
      } finally {
        await db.release();
      }
    }
    const [pglite, native] = snapshots as [SchemaSnapshot, SchemaSnapshot];
    expect(formatDiff(diffSnapshots(pglite, native))).toBe('');
  });
});
