/**
 * Inline SVG for the training report (lib/train/report.ts): a line chart with axes and ticks, and
 * a horizontal bar chart. Plain strings, no script: the report renders the same with JavaScript
 * off, and a test can count the drawn points.
 */

/** Escapes text for HTML element content and attribute values. */
export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A short number for ticks and labels (no exponent between 1e-3 and 1e5). */
export function fmtNum(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e5) return v.toExponential(2).replace(/\.?0+e/, 'e'); // 6e-5, 1.5e-4
  return String(+v.toPrecision(digits));
}

/** About `count` round tick values (1, 2 or 5 times a power of ten) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
  return ticks;
}

export interface Series {
  name: string;
  points: Array<[number, number]>;
  color: string;
  /** Draw a circle at every point (sparse series such as periodic evaluations). */
  markers?: boolean;
}

const W = 520, H = 250, PAD = { l: 62, r: 14, t: 12, b: 40 };

function extent(values: number[], from0: boolean): [number, number] {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (from0) lo = Math.min(lo, 0);
  if (hi === lo) [lo, hi] = [lo - (Math.abs(lo) || 1) * 0.5, hi + (Math.abs(hi) || 1) * 0.5];
  return [lo, hi];
}

/**
 * A line chart: one `<polyline data-series=NAME>` per series with one vertex per point, and a
 * `<circle>` per point where `markers` is set.
 */
export function lineChart(id: string, label: string, xLabel: string, yLabel: string, series: Series[], o: { yFrom0?: boolean; yMax?: number } = {}): string {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return `<p class="empty" id="${esc(id)}">No ${esc(label.toLowerCase())} was logged.</p>`;
  const [x0, x1] = extent(all.map((p) => p[0]), false);
  let [y0, y1] = extent(all.map((p) => p[1]), o.yFrom0 ?? false);
  y1 += (y1 - y0) * 0.04; // headroom: a flat series at the maximum stays off the frame
  if (o.yMax !== undefined) y1 = Math.max(y1, o.yMax);
  const px = (x: number) => PAD.l + ((x - x0) / (x1 - x0)) * (W - PAD.l - PAD.r);
  const py = (y: number) => H - PAD.b - ((y - y0) / (y1 - y0)) * (H - PAD.t - PAD.b);
  const f = (v: number) => v.toFixed(1);
  const grid = [
    ...niceTicks(y0, y1).map((t) => `<line class="grid" x1="${PAD.l}" x2="${W - PAD.r}" y1="${f(py(t))}" y2="${f(py(t))}"/><text class="tick" x="${PAD.l - 6}" y="${f(py(t) + 4)}" text-anchor="end">${esc(fmtNum(t))}</text>`),
    ...niceTicks(x0, x1, 6).map((t) => `<text class="tick" x="${f(px(t))}" y="${H - PAD.b + 16}" text-anchor="middle">${esc(fmtNum(t))}</text>`),
  ].join('');
  const axes = `<line class="axis" x1="${PAD.l}" x2="${PAD.l}" y1="${PAD.t}" y2="${H - PAD.b}"/><line class="axis" x1="${PAD.l}" x2="${W - PAD.r}" y1="${H - PAD.b}" y2="${H - PAD.b}"/>`
    + `<text class="label" x="${(PAD.l + W - PAD.r) / 2}" y="${H - 6}" text-anchor="middle">${esc(xLabel)}</text>`
    + `<text class="label" transform="translate(12 ${(PAD.t + H - PAD.b) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`;
  const lines = series.map((s) => {
    const pts = s.points.map(([x, y]) => `${f(px(x))},${f(py(y))}`).join(' ');
    const dots = s.markers ? s.points.map(([x, y]) => `<circle data-series="${esc(s.name)}" cx="${f(px(x))}" cy="${f(py(y))}" r="3.5" fill="${s.color}"><title>${esc(`${s.name} ${fmtNum(y)} at step ${x}`)}</title></circle>`).join('') : '';
    return `<polyline data-series="${esc(s.name)}" fill="none" stroke="${s.color}" stroke-width="1.6" points="${pts}"/>${dots}`;
  }).join('');
  const legend = series.length > 1
    ? `<div class="legend">${series.map((s) => `<span><i style="background:${s.color}"></i>${esc(s.name)}</span>`).join('')}</div>`
    : '';
  return `<figure><svg id="${esc(id)}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(label)}">${grid}${axes}${lines}</svg>${legend}</figure>`;
}

export interface Bar {
  label: string;
  /** One value per group (null: not measured), in [0, 1]. */
  values: Array<number | null>;
}

/** Horizontal bars in [0, 1], one row per label and one bar per group, with a dashed chance line per row. */
export function barChart(id: string, label: string, groups: Array<{ name: string; color: string }>, rows: Bar[], chance: number[]): string {
  const rowH = 10 * groups.length + 12, left = 110, right = 60, width = 640;
  const h = rows.length * rowH + 24;
  const px = (v: number) => left + v * (width - left - right);
  const body = rows.map((r, i) => {
    const y = 8 + i * rowH;
    const bars = r.values.map((v, g) => v === null ? '' : `<rect class="bar" data-row="${esc(r.label)}" data-group="${esc(groups[g].name)}" x="${left}" y="${y + g * 10}" width="${(px(v) - left).toFixed(1)}" height="9" fill="${groups[g].color}"><title>${esc(`${r.label} ${groups[g].name} ${(100 * v).toFixed(1)}%`)}</title></rect>`
      + `<text class="tick" x="${(px(v) + 4).toFixed(1)}" y="${y + g * 10 + 8}">${(100 * v).toFixed(1)}%</text>`).join('');
    const c = chance[i] === undefined ? '' : `<line class="chance" x1="${px(chance[i]).toFixed(1)}" x2="${px(chance[i]).toFixed(1)}" y1="${y - 2}" y2="${y + rowH - 10}"/>`;
    return `<text class="label" x="${left - 8}" y="${y + (rowH - 12) / 2 + 4}" text-anchor="end">${esc(r.label)}</text>${bars}${c}`;
  }).join('');
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => `<line class="grid" x1="${px(t)}" x2="${px(t)}" y1="4" y2="${h - 18}"/><text class="tick" x="${px(t)}" y="${h - 4}" text-anchor="middle">${100 * t}%</text>`).join('');
  const legend = `<div class="legend">${groups.map((g) => `<span><i style="background:${g.color}"></i>${esc(g.name)}</span>`).join('')}<span><i class="chance-key"></i>chance</span></div>`;
  return `<figure><svg id="${esc(id)}" viewBox="0 0 ${width} ${h}" role="img" aria-label="${esc(label)}">${ticks}${body}</svg>${legend}</figure>`;
}
