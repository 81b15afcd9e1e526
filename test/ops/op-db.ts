/**
 * The op table (docs/developing.md, the checklist). One row per op; rows live in test/ops/rows/<family>.ts and are
 * discovered automatically: adding an op family's tests means adding ONE row file that exports
 * `rows: OpRow[]`. ops.test.ts runs the generic tests over every row:
 *   forward vs the float64 reference (float32 and float64), gradcheck in float64 for
 *   differentiable rows, the error cases, and CUDA-vs-CPU parity (skipped without a GPU).
 *
 * A row:
 *   {
 *     name: 'add',
 *     fn: (a, b) => add(a, b),                     // the selfsup op (tensors arrive materialized)
 *     ref: (a, b) => refBinary(a, b, (x, y) => x + y), // float64 reference: plain loops over RefTensors
 *     samples: (g) => [{ args: [g.t([113, 7]), g.t([7])] }, ...], // awkward shapes, size-1 and empty dims
 *     errors: [{ args: () => [x, 'no'], error: TypeError, message: 'for add(b)' }],
 *     tol: { float32: [1e-5, 1e-4] },              // [atol, rtol] overrides
 *     op: ['add'], method: (a, b) => a.add(b),     // optional: what it covers, its method form
 *   }
 * Sample args are plain values or specs made by the generator `g` (g.t = float tensor, g.int,
 * g.bool), possibly nested in arrays/options objects; specs become Tensors for `fn` (in the dtype
 * under test; grad specs require grad in the gradcheck run) and RefTensors (Float64Array data) for `ref`.
 */
import type { GradcheckOptions, Tensor } from '../../lib/index';
import type { Arg, Gen, RefOut } from './helpers';

export interface Sample {
  label?: string;
  args: Arg[];
  /** false: forward only (too large, or not differentiable at these inputs). */
  gradcheck?: boolean;
}

export interface ErrorCase {
  label?: string;
  /** Builds the (bad) arguments passed to `fn`. */
  args: () => unknown[];
  error: new (...a: never[]) => Error;
  /** A substring of the message (the grammar: `Expected X for op(arg) but received Y`). */
  message: string | RegExp;
  /** For SelfsupError: the expected code. */
  code?: string;
}

export type OpOutput = Tensor | Tensor[] | { [k: string]: Tensor };

export interface OpRow {
  name: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  fn: (...args: any[]) => OpOutput;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ref: (...args: any[]) => RefOut;
  samples: (g: Gen) => Sample[];
  errors?: ErrorCase[];
  /** [atol, rtol] per dtype for the forward comparison. */
  tol?: { float32?: [number, number]; float64?: [number, number] };
  /** false: not differentiable (comparisons, argmax...); or gradcheck options. */
  gradcheck?: false | GradcheckOptions;
  /** Dtypes for the forward test (default both floats). */
  dtypes?: Array<'float32' | 'float64'>;
  /**
   * The op-table keys and Tensor methods this row tests (default: [name]); table.test.ts checks that
   * every key of lib/ops/table.ts and every Tensor method is covered by some row.
   */
  op?: string[];
  /**
   * The method form of `fn` (`(x, d) => x.sum(d)`), run on every sample and compared bit for bit
   * with `fn`. Rows of one op with `method: true` in the table get `(x, ...rest) => x[op](...rest)`
   * when this is absent.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  method?: (...args: any[]) => OpOutput;
}

const modules = import.meta.glob<{ rows: OpRow[] }>('./rows/*.ts', { eager: true });

export const opDb: OpRow[] = Object.keys(modules)
  .sort()
  .flatMap((k) => modules[k].rows);
