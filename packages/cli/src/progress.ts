import { formatMs } from '@tenantkit/testkit/internal';

/**
 * Progress of a long command on stderr, so a first run is not a silent wait: a step that takes over a
 * second says what it is, how far it has come and how long it has taken, at most once a second, and
 * once more when it ends. TENANTKIT_QUIET=1 keeps it silent.
 */
export class Steps {
  #what = '';
  #startedAt = 0;
  #saidAt = 0;
  readonly #write: (line: string) => void;

  constructor(write: (line: string) => void = (line) => process.stderr.write(line)) {
    this.#write = process.env.TENANTKIT_QUIET === '1' ? () => {} : write;
  }

  /** Ends the step before (saying how long it took, when over a second) and starts `what`. */
  start(what: string): void {
    this.end();
    this.#what = what;
    this.#startedAt = performance.now();
    this.#saidAt = this.#startedAt;
  }

  /** How far the current step has come; said when it has run over a second and nothing was said for one. */
  tick(done: number, total: number): void {
    const now = performance.now();
    if (now - this.#startedAt < 1000 || now - this.#saidAt < 1000) return;
    this.#saidAt = now;
    this.#write(`tenantkit: ${this.#what}: ${done}/${total} (${formatMs(now - this.#startedAt)})\n`);
  }

  /** Ends the current step: over a second, it says how long it took. */
  end(): void {
    if (!this.#what) return;
    const ms = performance.now() - this.#startedAt;
    if (ms >= 1000) this.#write(`tenantkit: ${this.#what}: done in ${formatMs(ms)}\n`);
    this.#what = '';
  }
}
