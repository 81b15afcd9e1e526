/**
 * `F`: every functional op in one object, built from the op table (lib/ops/table.ts), aliases
 * included. A new op is one row there.
 */
import { OP_TABLE, type Functional } from './ops/table';

export type { Functional };

export const F: Functional = Object.fromEntries(Object.entries(OP_TABLE).map(([k, r]) => [k, r.fn])) as Functional;
