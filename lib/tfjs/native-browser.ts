/**
 * lib/backends/native.ts for browser bundles (package.json's "browser" field swaps it in): there
 * is no addon to load in a browser, so every kernel runs on the pure-TypeScript reference backend,
 * and nothing here touches Node's fs, path, require or process.
 */
import { SelfsupError } from '../errors';
import type { NativeAddon } from '../backends/native-api';

export type { NativeAddon } from '../backends/native-api';
const REASON = 'not running in Node.js (a browser bundle): the pure-TypeScript reference kernels are used';

export const packageRoot = (): string => '.';
export const backendName = (): 'native' | 'reference' => 'reference';
export const tryNative = (): NativeAddon | null => null;
export const nativeLoadError = (): string | undefined => REASON;
export const nativeAddonPath = (): string | undefined => undefined;
/** No CUDA build in a browser: nothing to say about one. */
export const cudaLoadNote = (): string | undefined => undefined;
export const useReference = (): boolean => true;

export function native(): NativeAddon {
  throw new SelfsupError('ERR_NO_NATIVE', `Expected the selfsup native addon for the native backend but received none: ${REASON}.`);
}
