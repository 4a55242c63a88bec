import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startKit } from '@tenantkit/testkit';
import { afterAll, describe, expect, test } from 'vitest';
import { checkIsolation } from '../src/check.js';
import { renderHtml } from '../src/report.js';
import type { IsolationReport } from '../src/types.js';
import { chromiumPath, openBrowserPage } from './chromium.js';

const POLICY = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid";
const ISOLATED = `
CREATE TABLE notes (id int PRIMARY KEY, tenant_id uuid NOT NULL, body text);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY notes_tenant ON notes USING (${POLICY}) WITH CHECK (${POLICY});
`;
// A leak (invoices has no row level security) and gaps: a trigger refuses every UPDATE and DELETE
// on reports, so those probes learn nothing about the policies: not proven.
const LEAKY = `${ISOLATED}
CREATE TABLE invoices (id int PRIMARY KEY, tenant_id uuid NOT NULL, total int NOT NULL);
CREATE TABLE reports (id int PRIMARY KEY, tenant_id uuid NOT NULL, title text);
ALTER TABLE reports ENABLE ROW LEVEL SECURITY;
ALTER TABLE reports FORCE ROW LEVEL SECURITY;
CREATE POLICY reports_tenant ON reports USING (${POLICY}) WITH CHECK (${POLICY});
CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'reports are append-only'; END $$;
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON reports FOR EACH ROW EXECUTE FUNCTION refuse();
`;

interface PageFacts {
  verdictClass: string;
  verdict: string;
  rows: string[];
  unproven: string[];
}

const FACTS = `(() => ({
  verdictClass: document.querySelector('.verdict')?.className ?? '',
  verdict: document.querySelector('.verdict')?.textContent ?? '',
  rows: [...document.querySelectorAll('table.matrix tbody tr th[scope=row]')].map((th) => th.textContent),
  unproven: [...document.querySelectorAll('table.matrix td.unproven')].map((td) => td.getAttribute('title')),
}))()`;

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function report(schema: string): Promise<IsolationReport> {
  await using kit = await startKit({ backend: 'pglite', schema });
  await using db = await kit.acquire();
  return await checkIsolation(db, { seed: 3 });
}

describe('the HTML report in a real browser', () => {
  test('chromium is installed where CI runs this (apt-get install chromium)', () => {
    // Never a silent skip: without a browser this check is not done, and that is a failure.
    expect(chromiumPath(), 'install Debian\'s chromium (apt-get install chromium) or set CHROMIUM_PATH').toBeDefined();
  });

  test.each([
    ['isolated', ISOLATED, true],
    ['leaky', LEAKY, false],
  ] as const)('a %s report: the verdict banner, one row per table, every not-proven cell, no console error', async (_name, schema, ok) => {
    const result = await report(schema);
    expect(result.ok).toBe(ok);
    const dir = await mkdtemp(join(tmpdir(), 'tk-report-'));
    dirs.push(dir);
    const file = join(dir, 'report.html');
    await writeFile(file, renderHtml(result));

    const page = await openBrowserPage();
    try {
      await page.open(pathToFileURL(file).href);
      const facts = await page.evaluate<PageFacts>(FACTS);
      expect(facts.verdictClass).toBe(`verdict ${ok ? 'ok' : 'bad'}`);
      expect(facts.verdict).toMatch(ok ? /^Isolation proven/ : /^Isolation NOT proven/);
      expect(facts.rows).toEqual(result.tables.map((table) => table.table));
      const unproven = result.tables.flatMap((table) => table.checks.filter((check) => check.status === 'not-proven').map((check) => check.detail));
      expect(facts.unproven).toEqual(unproven);
      if (!ok) {
        expect(unproven.length).toBeGreaterThan(0);
        expect(await page.evaluate<number>("document.querySelectorAll('table.matrix td.fail').length")).toBeGreaterThan(0);
      }
      expect(page.errors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  test('the client sees console errors and exceptions, so an empty list means none happened', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tk-report-'));
    dirs.push(dir);
    const file = join(dir, 'broken.html');
    await writeFile(file, '<!doctype html><title>x</title><script>console.error("planted"); undefinedFunction();</script>');
    const page = await openBrowserPage();
    try {
      await page.open(pathToFileURL(file).href);
      expect(page.errors.join('\n')).toContain('planted');
      expect(page.errors.join('\n')).toContain('undefinedFunction');
    } finally {
      await page.close();
    }
  });
});
