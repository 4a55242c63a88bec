/**
 * A data directory dump held as bytes, given to PGlite as the Blob its `loadDataDir` takes.
 *
 * Node's Blob copies its bytes in when made and out again on every read: for an empty cluster's
 * 40 MB dump each copy costs 0.2-0.3 s. The kit made a Blob of every dump it read or wrote, and
 * PGlite read it back for every new instance. PGlite reads a dump with `arrayBuffer()` only: this
 * Blob answers with one plain copy of bytes it already holds. Its other methods read a real Blob
 * made from the same bytes, on first use.
 */
export class DumpBlob extends Blob {
  readonly #bytes: Uint8Array;
  #blob: Blob | undefined;

  constructor(bytes: Uint8Array) {
    super([]);
    this.#bytes = bytes;
    // Blob's own size reads the (empty) bytes Node holds for it.
    Object.defineProperty(this, 'size', { value: bytes.byteLength });
  }

  #real(): Blob {
    this.#blob ??= new Blob([this.#bytes]);
    return this.#blob;
  }

  /** A copy: the reader may keep or change what it gets, and the next instance needs the dump intact. */
  override async arrayBuffer(): Promise<ArrayBuffer> {
    return this.#bytes.slice().buffer;
  }

  override async bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return this.#bytes.slice();
  }

  override slice(start?: number, end?: number, contentType?: string): Blob {
    return this.#real().slice(start, end, contentType);
  }

  override stream(): ReturnType<Blob['stream']> {
    return this.#real().stream();
  }

  override text(): Promise<string> {
    return this.#real().text();
  }
}
