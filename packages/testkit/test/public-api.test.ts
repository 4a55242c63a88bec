import { expect, test } from 'vitest';
import * as errors from '../src/errors.js';
import * as main from '../src/index.js';
import * as internal from '../src/internal.js';

test('the main entry exports every value of errors.ts but messageOf, which is internal', () => {
  const missing = Object.keys(errors).filter((name) => name !== 'messageOf' && !(name in main));
  expect(missing).toEqual([]);
  expect('messageOf' in main).toBe(false);
  expect(internal.messageOf).toBe(errors.messageOf);
});
