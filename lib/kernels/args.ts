/**
 * Argument names in messages, shared by the families' plan functions: the raw kernels name an
 * argument as it is (`options.temperature`), an op wraps it in its name
 * (`infoNCE(options.temperature)`, `tfjs.infoNCE(options.temperature)`).
 */
export function named(op: string, name: string): string {
  return op ? `${op}(${name})` : name;
}
