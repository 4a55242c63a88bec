import { PeerMissingError } from './errors.js';

/** Loads an optional peer dependency only when the feature that needs it is chosen. */
export async function importPeer<T>(pkg: string, feature: string): Promise<T> {
  try {
    return (await import(pkg)) as T;
  } catch (cause) {
    throw new PeerMissingError(pkg, feature, cause);
  }
}
