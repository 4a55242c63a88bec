import { readFile } from 'node:fs/promises';
import type { Finding } from '../types.js';

const LITERAL_PASSWORD = /\b(?:create|alter)\s+(?:role|user)\s+("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)[^;]*?\bpassword\s+(?:E)?'(?:[^']|'')*'/gi;

/**
 * What the catalog cannot show: a role given a literal password in a migration or schema file,
 * which puts a working credential into the repository and into every environment built from it.
 */
export async function findingsInSourceFiles(files: readonly string[]): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const code = text.replace(/--[^\n]*/g, (comment) => ' '.repeat(comment.length));
    for (const match of code.matchAll(LITERAL_PASSWORD)) {
      const role = match[1]!.startsWith('"') ? match[1]!.slice(1, -1).replaceAll('""', '"') : match[1]!.toLowerCase();
      const line = code.slice(0, match.index).split('\n').length;
      findings.push({
        code: 'TK_LITERAL_PASSWORD',
        severity: 'warning',
        object: role,
        message: `${file}:${line} gives the role ${role} a literal password: it is a working credential in the repository, the same in every environment built from these files.`,
        hint: `Create ${role} without a password in the migrations (CREATE ROLE ${role} LOGIN), and set it where the environment's secrets live (ALTER ROLE ${role} PASSWORD ... run by deployment, or a setup script kept out of the repository).`,
      });
    }
  }
  return findings;
}
