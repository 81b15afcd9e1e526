/**
 * PyTorch-style printing (torch/_tensor_str.py, simplified): 4 decimals, fixed or scientific
 * notation chosen once per tensor, integer-valued floats as `1.`, columns right-aligned,
 * summarization with `...` beyond 1000 elements (3 items per edge), and the suffixes PyTorch
 * prints: size=(...) for empty tensors, dtype=torch.X when not the default, requires_grad / grad_fn.
 */
import type { Tensor } from '../tensor';

const THRESHOLD = 1000, EDGE = 3, PRECISION = 4, LINEWIDTH = 80;

function floatFormatter(values: number[]): (v: number) => string {
  const finite = values.filter((v) => Number.isFinite(v));
  const nonzero = finite.filter((v) => v !== 0).map(Math.abs);
  const intMode = finite.every((v) => Number.isInteger(v));
  let fmt: (v: number) => string;
  const maxAbs = nonzero.length ? Math.max(...nonzero) : 0, minAbs = nonzero.length ? Math.min(...nonzero) : 0;
  const sciFmt = (v: number): string => v.toExponential(PRECISION).replace(/e([+-])(\d)$/, 'e$10$2');
  if (intMode) {
    fmt = nonzero.length > 0 && (maxAbs / minAbs > 1000 || maxAbs > 1e8) ? sciFmt : (v) => `${v.toFixed(0)}.`;
  } else {
    const sci = nonzero.length > 0 && (maxAbs / minAbs > 1000 || maxAbs > 1e8 || minAbs < 1e-4);
    fmt = sci ? sciFmt : (v) => v.toFixed(PRECISION);
  }
  return (v) => (Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : fmt(v));
}

export function formatTensor(t: Tensor): string {
  const suffix: string[] = [];
  const summarize = t.numel() > THRESHOLD;
  const isFloat = t.dtype === 'float32' || t.dtype === 'float64';
  // Values shown (the summarized subset) decide the number format, as PyTorch.
  const shown: number[] = [];
  const collect = (d: number, off: number): void => {
    if (d === t.ndim) {
      shown.push(t.data[off]);
      return;
    }
    const n = t.shape[d], inner = stride(t.shape, d);
    for (const i of indices(n, summarize)) if (i >= 0) collect(d + 1, off + i * inner);
  };
  if (t.numel() > 0) collect(0, 0);
  let fmt: (v: number) => string;
  if (t.dtype === 'bool') fmt = (v) => (v ? 'True' : 'False');
  else if (isFloat) fmt = floatFormatter(shown);
  else fmt = (v) => String(v);
  const width = Math.max(0, ...shown.map((v) => fmt(v).length));
  const cell = (v: number): string => fmt(v).padStart(width);
  const indent = 'tensor('.length;

  const rec = (d: number, off: number, pad: number): string => {
    if (d === t.ndim) return cell(t.data[off]);
    const n = t.shape[d], inner = stride(t.shape, d);
    const parts: string[] = [];
    const last = d === t.ndim - 1;
    // PyTorch's summarized vector element is ' ...' (so `2.,  ..., 7.`); a summarized row is '...'.
    for (const i of indices(n, summarize)) parts.push(i < 0 ? (last ? ' ...' : '...') : rec(d + 1, off + i * inner, pad + 1));
    if (last) {
      // Wrap at LINEWIDTH with PyTorch's rule: floor((linewidth - indent) / (width + 2)) per line.
      const perLine = Math.max(1, Math.floor((LINEWIDTH - pad) / (width + 2)));
      const lines: string[] = [];
      for (let k = 0; k < parts.length; k += perLine) lines.push(parts.slice(k, k + perLine).join(', '));
      return `[${lines.join(',\n' + ' '.repeat(pad + 1))}]`;
    }
    const sep = ',' + '\n'.repeat(t.ndim - d - 1) + ' '.repeat(pad + 1);
    return `[${parts.join(sep)}]`;
  };

  let body: string;
  if (t.numel() === 0) {
    body = '[]';
    if (t.ndim !== 1) suffix.push(`size=(${t.shape.join(', ')}${t.ndim === 1 ? ',' : ''})`);
  } else body = rec(0, 0, indent);
  if (t.dtype === 'float64' || t.dtype === 'int32') suffix.push(`dtype=torch.${t.dtype}`);
  if (t.gradFn) suffix.push(`grad_fn=<${t.gradFn.name}>`);
  else if (t.requiresGrad) suffix.push('requires_grad=True');
  return `tensor(${[body, ...suffix].join(', ')})`;
}

function stride(shape: readonly number[], d: number): number {
  let s = 1;
  for (let i = d + 1; i < shape.length; i++) s *= shape[i];
  return s;
}

/** 0..n-1, or the first and last EDGE with -1 marking the `...` when summarizing. */
function indices(n: number, summarize: boolean): number[] {
  if (!summarize || n <= 2 * EDGE) return Array.from({ length: n }, (_, i) => i);
  return [0, 1, 2, -1, n - 3, n - 2, n - 1];
}
