import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const CORPUS_DIR = new URL('./fixtures/corpus/', import.meta.url);

export interface CorpusCase {
  readonly file: string;
  readonly path: string;
  /** Codes that must be found; empty for a correct schema. */
  readonly expected: readonly string[];
  readonly correct: boolean;
  readonly migrateAs: 'owner' | 'admin';
}

/** The corpus: each file's header says what must be found (`-- expect: CODE, ...` or `none`). */
export function readCorpus(): CorpusCase[] {
  return readdirSync(CORPUS_DIR)
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => {
      const path = fileURLToPath(new URL(file, CORPUS_DIR));
      const text = readFileSync(path, 'utf8');
      const expect = /^-- expect: (.+)$/m.exec(text)?.[1]?.trim();
      if (!expect) throw new Error(`${file} has no "-- expect:" header`);
      const correct = expect === 'none';
      return {
        file,
        path,
        expected: correct ? [] : expect.split(',').map((code) => code.trim()),
        correct,
        migrateAs: /^-- migrate-as: admin$/m.test(text) ? 'admin' : 'owner',
      };
    });
}

