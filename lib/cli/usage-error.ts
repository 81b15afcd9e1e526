/** A bad command line: `main` prints the message and the usage hint, and exits 2 (no stack trace). */
export class UsageError extends Error {}
