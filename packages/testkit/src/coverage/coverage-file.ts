/**
 * The files policy coverage is recorded into: TENANTKIT_COVERAGE names a directory (each process
 * and worker thread appends to a file of its own, since test workers run in parallel) or a file
 * ending in .jsonl. One JSON object per line, so a worker that dies mid-run loses at most its last line.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { messageOf } from '../errors.js';
import { progress } from '../progress.js';
import type { CoveredCommand } from './plan-relations.js';

export const COVERAGE_ENV = 'TENANTKIT_COVERAGE';

/** Bumped when a line's shape changes; a reader refuses lines of another version. */
export const COVERAGE_FORMAT = 1 as const;

/** One relation a statement touched, resolved to the table whose policies apply (a partition's root). */
export interface CoverageTouch {
  /** schema.name, unquoted. */
  readonly table: string;
  readonly command: CoveredCommand;
  /** Row level security was active for the acting role on the table (row_security_active). */
  readonly rls: boolean;
  /** The table's policies for that command (or ALL) that apply to the acting role; empty when rls is false. */
  readonly policies: readonly string[];
}

/** A statement the app role ran with a tenant context. */
export interface CoverageStatementLine {
  readonly v: typeof COVERAGE_FORMAT;
  readonly kind: 'statement';
  readonly database: string;
  /** current_user when the statement ran (the app role, or a role it switched to with SET LOCAL ROLE). */
  readonly role: string;
  /** True when its plan was read; false with the reason when it could not be (utility statement, several in one string, refused). */
  readonly analysed: boolean;
  readonly reason?: string;
  readonly touches: readonly CoverageTouch[];
  /** A TRUNCATE: the tables it names (schema.name). TRUNCATE ignores row level security. */
  readonly truncates?: readonly string[];
  /** The statement's first characters, for statements that were not analysed or that wrote through MERGE. */
  readonly sql?: string;
}

/** Written when a test database is released: what ran there that is not coverage. */
export interface CoverageDatabaseLine {
  readonly v: typeof COVERAGE_FORMAT;
  readonly kind: 'database';
  readonly database: string;
  readonly appRole: string;
  readonly tenantSetting: string;
  /** Statements of each identity; app statements split by whether a tenant context was set. */
  readonly statements: { readonly admin: number; readonly owner: number; readonly appWithContext: number; readonly appWithoutContext: number };
  /** Average time the recording added to each app statement with a tenant context, in microseconds. */
  readonly overheadMicros: number;
}

export type CoverageLine = CoverageStatementLine | CoverageDatabaseLine;

/** Where this process writes, or undefined when coverage is not being recorded. */
export class CoverageSink {
  #failed = false;
  #ready = false;

  private constructor(
    readonly file: string,
    /** The directory to create before the first line, in directory mode. */
    private readonly directory: string | undefined,
  ) {}

  /** The sink TENANTKIT_COVERAGE asks for; undefined (and no cost) when it is unset or empty. */
  static fromEnvironment(): CoverageSink | undefined {
    const target = process.env[COVERAGE_ENV];
    if (!target) return undefined;
    const isFile = target.endsWith('.jsonl') || (existsSync(target) && statSync(target).isFile());
    return isFile ? new CoverageSink(target, undefined) : new CoverageSink(join(target, `coverage-${process.pid}-${threadId}.jsonl`), target);
  }

  write(line: CoverageLine): void {
    if (this.#failed) return;
    try {
      if (!this.#ready && this.directory !== undefined) mkdirSync(this.directory, { recursive: true });
      this.#ready = true;
      appendFileSync(this.file, `${JSON.stringify(line)}\n`);
    } catch (error) {
      // Recording never changes a test's result; the report counts what reached the file, so a lost line can only lower coverage.
      this.#failed = true;
      progress(`policy coverage: cannot write ${this.file} (${messageOf(error)}); nothing more is recorded in this process`);
    }
  }
}

/** What the coverage files of a run hold, with the lines that could not be read. */
export interface CoverageRecords {
  readonly files: readonly string[];
  readonly lines: readonly CoverageLine[];
  /** file:line of lines that are not JSON or of another format version. */
  readonly unreadable: readonly string[];
}

/** Reads every coverage file in a directory (or one file). A missing target reads as nothing recorded. */
export function readCoverageRecords(target: string): CoverageRecords {
  if (!existsSync(target)) return { files: [], lines: [], unreadable: [] };
  const files = statSync(target).isFile()
    ? [target]
    : readdirSync(target)
        .filter((name) => name.endsWith('.jsonl'))
        .sort()
        .map((name) => join(target, name));
  const lines: CoverageLine[] = [];
  const unreadable: string[] = [];
  for (const file of files) {
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((text, index) => {
        if (text.trim() === '') return;
        try {
          const line = JSON.parse(text) as CoverageLine;
          if (line.v !== COVERAGE_FORMAT || (line.kind !== 'statement' && line.kind !== 'database')) throw new Error('another format');
          lines.push(line);
        } catch {
          unreadable.push(`${file}:${index + 1}`);
        }
      });
  }
  return { files, lines, unreadable };
}
