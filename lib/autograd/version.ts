/**
 * Version counters (PyTorch's `tensor._version`): every in-place write to a tensor's storage
 * bumps the counter of that storage (shared by every view of it), and a tensor saved for backward
 * remembers the version it had. A backward that finds a saved tensor at another version raises
 * instead of computing a silently wrong gradient.
 *
 * Keyed by the storage object (the typed array views share), so this module imports nothing.
 */
const versions = new WeakMap<object, number>();

export function versionOf(data: object): number {
  return versions.get(data) ?? 0;
}

/** Call after writing `data` in place (in-place ops, optimizer steps). */
export function bumpVersion(data: object): void {
  versions.set(data, (versions.get(data) ?? 0) + 1);
}
