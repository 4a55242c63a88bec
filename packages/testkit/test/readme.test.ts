import { readFile } from 'node:fs/promises';
import { expect, test } from 'vitest';

const root = new URL('../../../', import.meta.url);

/** Snippets marked `<!-- from: path -->` must appear verbatim in that tested file, so docs cannot rot. */
test.each(['README.md', 'packages/testkit/README.md', 'packages/fixtures/README.md', 'packages/rls-assert/README.md'])('%s snippets are copied from tested example files', async (file) => {
  const readme = await readFile(new URL(file, root), 'utf8');
  const snippets = [...readme.matchAll(/<!-- from: (\S+) -->\n```ts\n([\s\S]*?)```/g)];
  expect(snippets.length).toBeGreaterThanOrEqual(1);
  for (const [, path, code] of snippets) {
    const source = await readFile(new URL(path!, root), 'utf8');
    expect(source, `${path} no longer contains the README snippet`).toContain(code!.trimEnd());
  }
});
