import { readFile } from 'node:fs/promises';
import { expect, test } from 'vitest';
import * as errors from '../src/errors.js';
import * as main from '../src/index.js';
import * as internal from '../src/internal.js';

test('the main entry exports every value of errors.ts but isConnectionLost, messageOf and sqlStateOf, which are internal', () => {
  const helpers = ['isConnectionLost', 'messageOf', 'sqlStateOf'];
  const missing = Object.keys(errors).filter((name) => !helpers.includes(name) && !(name in main));
  expect(missing).toEqual([]);
  for (const name of helpers) expect(name in main, name).toBe(false);
  expect(internal.messageOf).toBe(errors.messageOf);
  expect(internal.sqlStateOf).toBe(errors.sqlStateOf);
  expect(internal.isConnectionLost).toBe(errors.isConnectionLost);
});

test('every value of the main entry is documented in the README Reference section', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('\n## Reference\n');
  expect(start).toBeGreaterThan(-1);
  const end = readme.indexOf('\n## ', start + 1);
  const reference = readme.slice(start, end === -1 ? undefined : end);
  const undocumented = Object.keys(main).filter((name) => !new RegExp(`\\b${name}\\b`).test(reference));
  expect(undocumented).toEqual([]);
});
