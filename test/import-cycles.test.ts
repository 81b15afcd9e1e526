/**
 * lib/ has no import cycles (docs/architecture.md, "Layers"). Every runtime import counts:
 * static imports and re-exports, side-effect imports, dynamic import() and require(); imports
 * that are type-only (`import type`, or every named element marked `type`) are erased by tsc and
 * do not count. The graph is read with the TypeScript parser, so the check sees what tsc sees.
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

const LIB = path.resolve(__dirname, '../lib');

function listTs(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? listTs(p) : p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

function resolveLocal(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const base = path.resolve(path.dirname(from), spec).replace(/\.js$/, '');
  for (const c of [base + '.ts', path.join(base, 'index.ts')]) if (fs.existsSync(c)) return c;
  return null;
}

/** The local files `file` loads at run time. */
export function runtimeImports(file: string): string[] {
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const specs: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : null;
      const typeOnly = c !== undefined && (c.isTypeOnly || (!c.name && named !== null && named.length > 0 && named.every((e) => e.isTypeOnly)));
      if (!typeOnly) specs.push(n.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      const named = n.exportClause && ts.isNamedExports(n.exportClause) ? n.exportClause.elements : null;
      const typeOnly = n.isTypeOnly || (named !== null && named.length > 0 && named.every((e) => e.isTypeOnly));
      if (!typeOnly) specs.push(n.moduleSpecifier.text);
    } else if (ts.isCallExpression(n) && n.arguments.length === 1 && ts.isStringLiteralLike(n.arguments[0])) {
      const isImport = n.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(n.expression) && n.expression.text === 'require';
      if (isImport || isRequire) specs.push(n.arguments[0].text);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return specs.map((s) => resolveLocal(file, s)).filter((p): p is string => p !== null);
}

/** Strongly connected components with more than one file (or a self-import): Tarjan's algorithm. */
export function findCycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], onStack = new Set<string>();
  const cycles: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, next); low.set(v, next); next++;
    stack.push(v); onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) { connect(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); comp.push(w); } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) connect(v);
  return cycles;
}

describe('import graph of lib/', () => {
  it('finds a cycle when there is one (the checker can fail)', () => {
    const g = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']], ['e', ['e']]]);
    expect(findCycles(g)).toEqual([['a', 'b', 'c'], ['e']]);
  });

  it('reads runtime imports and skips type-only ones', () => {
    const files = listTs(LIB);
    const deps = runtimeImports(path.join(LIB, 'tensor-methods.ts')).map((p) => path.relative(LIB, p));
    expect(deps).toContain('tensor.ts');
    expect(deps).toContain('ops/table.ts');
    // lib/ops/print.ts imports only the Tensor type.
    expect(runtimeImports(path.join(LIB, 'ops/print.ts'))).toEqual([]);
    // main.ts loads bench.ts with a dynamic import(): it must be seen.
    expect(runtimeImports(path.join(LIB, 'cli/main.ts')).map((p) => path.relative(LIB, p))).toContain('cli/bench.ts');
    expect(files.length).toBeGreaterThan(50);
  });

  it('has zero import cycles', () => {
    const graph = new Map(listTs(LIB).map((f) => [f, runtimeImports(f)]));
    const cycles = findCycles(graph).map((c) => c.map((f) => path.relative(LIB, f)).join(' -> '));
    expect(cycles).toEqual([]);
  });
});
