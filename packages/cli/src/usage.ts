/** Bad command-line input: exit 2 with the usage of the command. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
