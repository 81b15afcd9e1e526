/**
 * Every ```ts block in README.md and docs/*.md is run as written (imports of 'selfsup' resolve to
 * this checkout's compiled package), so the documentation cannot drift from the API.
 * A fragment that is not standalone (an API listing) is fenced as ```ts nocheck and skipped.
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import ts from 'typescript';
import { nodeCommand } from './helpers';

const root = path.resolve(__dirname, '..');
const files = ['README.md', ...fs.readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const distReady = fs.existsSync(path.join(root, 'dist', 'lib', 'index.js'));

interface Block { file: string; line: number; code: string }
const blocks: Block[] = [];
for (const file of files) {
  const lines = fs.readFileSync(path.join(root, file), 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```ts') continue;
    const start = i + 1;
    let j = start;
    while (j < lines.length && lines[j].trim() !== '```') j++;
    blocks.push({ file, line: start + 1, code: lines.slice(start, j).join('\n') });
    i = j;
  }
}

describe.skipIf(!distReady)('documentation examples run', () => {
  for (const b of blocks) {
    it(`${b.file}:${b.line}`, () => {
      // Top-level await is allowed in the docs: wrap in an async function.
      const js = ts.transpileModule(b.code, {
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      }).outputText;
      const body = js
        .replace(/require\("selfsup\/kernels"\)/g, `require(${JSON.stringify(path.join(root, 'dist/lib/kernels/index.js'))})`)
        .replace(/require\("selfsup\/tfjs"\)/g, `require(${JSON.stringify(path.join(root, 'dist/lib/tfjs/index.js'))})`)
        .replace(/require\("selfsup\/distributed"\)/g, `require(${JSON.stringify(path.join(root, 'dist/lib/distributed/index.js'))})`)
        .replace(/require\("selfsup"\)/g, `require(${JSON.stringify(path.join(root, 'dist/lib/index.js'))})`);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-doc-'));
      const file = path.join(dir, 'example.js');
      fs.writeFileSync(file, `(async () => {\n${body}\n})().catch((e) => { console.error(e && e.stack || e); process.exit(1); });\n`);
      const r = spawnSync(...nodeCommand([file]), { cwd: dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NODE_PATH: path.join(root, 'node_modules') } });
      fs.rmSync(dir, { recursive: true, force: true });
      expect(r.status, `${b.file}:${b.line}\n${r.stderr}`).toBe(0);
    });
  }
});
