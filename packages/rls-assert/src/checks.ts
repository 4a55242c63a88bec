/** The checks of the matrix, in the order they are shown. */
export const CHECKS = [
  'read-own',
  'read-foreign',
  'insert-foreign',
  'update-foreign',
  'update-unfiltered',
  'move',
  'delete-foreign',
  'delete-unfiltered',
  'truncate',
  'no-context',
] as const;
export type CheckName = (typeof CHECKS)[number];

/**
 * The checks that have no meaning for a kind of relation, and why: fixed per kind (the README
 * lists them), never decided by what a probe happened to meet.
 */
export const NOT_APPLICABLE = {
  'tenant-root': {
    'insert-foreign': 'the tenants table itself: a new row is a new tenant, not a row of another tenant',
    move: 'the tenants table itself: its key is the tenant, a row cannot be moved to another tenant',
  },
  exposure: {
    'read-own': 'partitions, inheritance children and views are probed for what they expose; a view may filter rows, so its own rows prove nothing',
    'insert-foreign': 'writes are judged on the table itself and by the catalog audit',
    'update-foreign': 'writes are judged on the table itself and by the catalog audit',
    'update-unfiltered': 'writes are judged on the table itself and by the catalog audit',
    move: 'writes are judged on the table itself and by the catalog audit',
    'delete-foreign': 'writes are judged on the table itself and by the catalog audit',
    'delete-unfiltered': 'writes are judged on the table itself and by the catalog audit',
    truncate: 'writes are judged on the table itself and by the catalog audit',
  },
} as const satisfies Record<string, Partial<Record<CheckName, string>>>;
