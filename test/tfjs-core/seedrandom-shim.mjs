// seedrandom (CommonJS) as the namespace tfjs-core's ES modules read: `seedrandom.alea` (see hooks.mjs).
import { createRequire } from 'node:module';

const sr = createRequire(import.meta.url)('seedrandom');
export const alea = sr.alea;
export default sr;
