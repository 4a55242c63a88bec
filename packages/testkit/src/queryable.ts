/**
 * The small structural surface every layer above the backends talks to, whatever the driver.
 */
export interface QueryResult<R = Record<string, unknown>> {
  readonly rows: R[];
  readonly rowCount: number;
}

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

/** A Queryable that can also run a script of several statements (no parameters). */
export interface Session extends Queryable {
  exec(sql: string): Promise<void>;
}
