/**
 * node:buffer for browser bundles (package.json's "browser" field): lib/validate.ts reads only
 * constants.MAX_LENGTH, the largest allocation in bytes. Browsers allocate typed arrays with their
 * constructors; 2^31 - 1 bytes is under every current engine's ArrayBuffer limit.
 */
export const constants = { MAX_LENGTH: 2 ** 31 - 1 };
