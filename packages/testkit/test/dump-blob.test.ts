import { describe, expect, it } from 'vitest';
import { DumpBlob } from '../src/backends/pglite/dump-blob.js';

describe('DumpBlob', () => {
  const bytes = new TextEncoder().encode('0123456789');

  it('reads as the bytes it holds, through every Blob method', async () => {
    const blob = new DumpBlob(bytes);
    expect(blob).toBeInstanceOf(Blob);
    expect(blob.size).toBe(10);
    expect(blob.type).toBe('');
    expect(new Uint8Array(await blob.arrayBuffer())).toEqual(bytes);
    expect(await blob.bytes()).toEqual(bytes);
    expect(await blob.text()).toBe('0123456789');
    expect(await blob.slice(2, 5).text()).toBe('234');
    expect(await new Response(blob.stream()).text()).toBe('0123456789');
  });

  it('hands out copies: a reader that changes what it got leaves the dump intact for the next one', async () => {
    const blob = new DumpBlob(bytes.slice());
    new Uint8Array(await blob.arrayBuffer()).fill(0);
    (await blob.bytes()).fill(0);
    expect(await blob.text()).toBe('0123456789');
  });
});
