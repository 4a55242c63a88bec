import { MigrationsInvalidError } from '../../../errors.js';
import { splitStatements } from '../../../sql/split.js';
import type { LoadedFile } from '../../migration-files.js';
import { hasNoTransactionDirective } from '../../run-script.js';
import { GOLANG_MIGRATE_FILE } from '../golang-migrate/golang-migrate.js';

const MARKER_RE = /^--[ \t]*migrate:(up|down)(?![A-Za-z0-9_])([^\r\n]*)$/gm;

/** One section of a migration file, ready for runScript. */
export interface Section {
  /**
   * The section's statements preceded by the line breaks of everything before it in the file, so
   * that positions in it are positions in the file.
   */
  readonly script: string;
  readonly empty: boolean;
  /** False when the marker says transaction:false (or the section starts with the tenantkit directive). */
  readonly transaction: boolean;
}

/** A dbmate file split: its up section, its down section when it has statements, and whether a down marker was written. */
export interface DbmateSections {
  readonly up: Section;
  /** Undefined when there is no down section, or it holds no statements: irreversible. */
  readonly down: Section | undefined;
  /** A `-- migrate:down` line is there (its section may still be empty). */
  readonly downWritten: boolean;
}

interface Marker {
  readonly kind: 'up' | 'down';
  /** Index of the marker's first character. */
  readonly start: number;
  /** Index of the first character after the marker's line break. */
  readonly bodyStart: number;
  readonly options: string;
}

function findMarkers(text: string): Marker[] {
  const markers: Marker[] = [];
  for (const match of text.matchAll(MARKER_RE)) {
    const start = match.index;
    let end = start + match[0].length;
    if (text.startsWith('\r\n', end)) end += 2;
    else if (text[end] === '\n' || text[end] === '\r') end += 1;
    markers.push({ kind: match[1] === 'up' ? 'up' : 'down', start, bodyStart: end, options: match[2] ?? '' });
  }
  return markers;
}

/** True when `text` holds a line `-- migrate:up`, the mark of a dbmate migration file. */
export function hasDbmateUpMarker(text: string): boolean {
  return findMarkers(text).some((m) => m.kind === 'up');
}

function transactionOption(marker: Marker, path: string): boolean {
  let transaction = true;
  for (const token of marker.options.trim().split(/\s+/)) {
    const match = /^transaction:(.*)$/i.exec(token);
    if (!match) continue;
    const value = (match[1] ?? '').toLowerCase();
    if (value !== 'true' && value !== 'false') {
      throw new MigrationsInvalidError(
        path,
        `Migration file ${path} has "-- migrate:${marker.kind}${marker.options}": the transaction option takes true or false, not "${match[1] ?? ''}". Write transaction:false to run the section without a transaction, or leave the option out.`,
      );
    }
    transaction = value === 'true';
  }
  return transaction;
}

function sectionOf(text: string, marker: Marker, end: number, path: string): Section {
  const body = text.slice(marker.bodyStart, end);
  const lineBreaks = text.slice(0, marker.bodyStart).replace(/[^\r\n]/g, '');
  return {
    script: lineBreaks + body,
    empty: splitStatements(body).length === 0,
    transaction: transactionOption(marker, path) && !hasNoTransactionDirective(body),
  };
}

/** Splits a dbmate file into its up and down sections, refusing what dbmate refuses. */
export function parseDbmateFile(file: LoadedFile, fileName: string): DbmateSections {
  const { text, path } = file;
  const markers = findMarkers(text);
  const ups = markers.filter((m) => m.kind === 'up');
  const downs = markers.filter((m) => m.kind === 'down');
  const upMarker = ups[0];
  if (!upMarker) {
    const golang = GOLANG_MIGRATE_FILE.test(fileName)
      ? ` Its name looks like a golang-migrate file: use sqlDirectory() for a directory of .up.sql/.down.sql pairs.`
      : '';
    throw new MigrationsInvalidError(
      path,
      `Migration file ${path} has no "-- migrate:up" line, so it is not a dbmate migration.${golang} Put "-- migrate:up" on its own line before the statements that apply the migration, and "-- migrate:down" before those that revert it.`,
    );
  }
  for (const [kind, found] of [['up', ups], ['down', downs]] as const) {
    if (found.length > 1) {
      throw new MigrationsInvalidError(
        path,
        `Migration file ${path} has ${found.length} "-- migrate:${kind}" lines; a dbmate file has one section of each kind. Merge the sections into one.`,
      );
    }
  }
  const downMarker = downs[0];
  if (downMarker && downMarker.start < upMarker.start) {
    throw new MigrationsInvalidError(
      path,
      `Migration file ${path} has its "-- migrate:down" section before "-- migrate:up"; dbmate requires the up section first. Move the down section to the end of the file.`,
    );
  }
  if (splitStatements(text.slice(0, upMarker.start)).length > 0) {
    throw new MigrationsInvalidError(
      path,
      `Migration file ${path} has statements before its "-- migrate:up" line; they belong to no section and dbmate refuses them. Move them below "-- migrate:up" (or below "-- migrate:down" if they revert the migration).`,
    );
  }
  const up = sectionOf(text, upMarker, downMarker ? downMarker.start : text.length, path);
  const down = downMarker ? sectionOf(text, downMarker, text.length, path) : undefined;
  return { up, down: down && !down.empty ? down : undefined, downWritten: downMarker !== undefined };
}
