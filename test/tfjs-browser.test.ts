/**
 * selfsup/tfjs's fused ops on tfjs's webgl and webgpu backends, in headless Chromium. The page
 * (test/browser/entry.ts) is bundled with esbuild from dist/ as a user's bundler would (package.json's
 * "browser" field swaps the addon loader for the reference kernels), served from 127.0.0.1, and run
 * with playwright-core driving Debian's /usr/bin/chromium. On webgl/webgpu the ops take the
 * tf.customGrad path; every op's value and gradients there must equal those on 'cpu' (the
 * registered-kernel path, in the same page) to 1e-4. Skipped when Chromium is not installed.
 * Chromium without a GPU renders WebGL with SwiftShader and WebGPU on SwiftShader's Vulkan (flags
 * below); when a backend cannot start, or tfjs's own arithmetic on it is wrong, its tests are
 * skipped with the browser's reason.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import type { CaseResult } from './browser/entry';
import { CASES } from './browser/cases';
import { expectCloseNormwise } from './helpers';
import * as nodeLoader from '../lib/backends/native';
import * as browserLoader from '../lib/tfjs/native-browser';
import { constants as nodeBuffer } from 'node:buffer';
import { constants as browserBuffer } from '../lib/tfjs/buffer-browser';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = path.resolve(__dirname, '..');
const haveChromium = fs.existsSync(CHROMIUM);
const FLAGS = [
  // as root, in a container, with no network: no sandbox, nothing phoning home, a fresh profile
  '--headless', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];
// Software WebGL (ANGLE on SwiftShader) and WebGPU (off without a known GPU; with fewer of these
// flags Chromium 156 still gives an adapter, but tfjs-webgpu's dataSync() on it reads zeros).
const GPU_FLAGS = ['--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader'];

type Run = { results: CaseResult[]; flags: Record<string, unknown> };
declare const window: {
  selfsupRun(b: string): Promise<Run>;
  selfsupUnavailable(b: string): Promise<string | null>;
  selfsupAdapter(): Promise<Record<string, string> | null>;
};

describe('the browser shims that package.json\'s "browser" field swaps in', () => {
  it('native-browser exports what the addon loader does, and always picks the reference kernels', () => {
    expect(Object.keys(browserLoader).sort()).toEqual(Object.keys(nodeLoader).sort());
    expect(browserLoader.backendName()).toBe('reference');
    expect(browserLoader.useReference()).toBe(true);
    expect(browserLoader.tryNative()).toBeNull();
    expect(browserLoader.nativeLoadError()).toMatch(/not running in Node/);
    expect(() => browserLoader.native()).toThrow(expect.objectContaining({ code: 'ERR_NO_NATIVE', message: expect.stringMatching(/^Expected the selfsup native addon/) }));
  });
  it('buffer-browser has the one constant lib/validate.ts reads, no larger than Node\'s', () => {
    expect(Object.keys(browserBuffer)).toEqual(['MAX_LENGTH']);
    expect(browserBuffer.MAX_LENGTH).toBeLessThanOrEqual(nodeBuffer.MAX_LENGTH);
  });
});

const title = haveChromium
  ? `selfsup/tfjs ops on webgl and webgpu in headless Chromium (${CHROMIUM})`
  : `selfsup/tfjs ops on webgl and webgpu: skipped, ${CHROMIUM} is not installed (apt-get install -y chromium)`;
describe.skipIf(!haveChromium)(title, () => {
  let server: http.Server, context: BrowserContext, page: Page, profile: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const entry = path.join(ROOT, 'dist', 'esm', 'tfjs.mjs');
    if (!fs.existsSync(entry)) throw new Error(`Expected the built package (${entry}) but it is missing: run \`npm run build:ts\` first`);
    const { build } = await import('esbuild');
    const out = await build({
      entryPoints: [path.join(__dirname, 'browser', 'entry.ts')], bundle: true, platform: 'browser',
      format: 'esm', write: false, logLevel: 'error',
    });
    const js = out.outputFiles[0].contents;
    server = http.createServer((req, res) => {
      if (req.url === '/bundle.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
      else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module" src="/bundle.js"></script>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { chromium } = await import('playwright-core');
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: [...FLAGS, ...GPU_FLAGS] });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => 'selfsupRun' in window, null, { timeout: 20_000 });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    server?.close();
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
  });

  for (const backend of ['webgl', 'webgpu']) {
    describe(backend, () => {
      let run: Run | undefined, why: string | null = null;
      beforeAll(async () => {
        why = await page.evaluate((b) => window.selfsupUnavailable(b), backend);
        if (why) return;
        run = await page.evaluate((b) => window.selfsupRun(b), backend);
        const about = backend === 'webgpu' ? await page.evaluate(() => window.selfsupAdapter()) : run.flags;
        console.log(`selfsup/tfjs in Chromium on ${backend}: ${JSON.stringify(about)}`);
      }, 30_000);

      for (const [i, [name]] of CASES.entries()) {
        it(`${name}: value and gradients equal the cpu backend's`, (ctx) => {
          if (why) ctx.skip(`${backend} is unavailable in headless Chromium with ${GPU_FLAGS.join(' ')}: ${why}`);
          expect(pageErrors).toEqual([]);
          const r = run!.results[i];
          expect(r.name).toBe(name);
          expect(r.active).toBe(backend);
          expect(r.path).toBe('customGrad');
          expect(r.on.length).toBe(r.cpu.length);
          // The kernels run on the same reference code on both paths; only tfjs's own ops around
          // them (onesLike, the upstream gradient) run on the GPU backend, in float32 textures.
          r.on.forEach((a, k) => expectCloseNormwise(a, r.cpu[k], 1e-4, 1e-6));
        });
      }
    });
  }
});
