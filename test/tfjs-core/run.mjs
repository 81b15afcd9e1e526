// Runs tfjs-core's own jasmine op suites against the 'selfsup' backend, one suite per overridden
// kernel (SUITES), minus the cases in EXCLUDED (each with its reason). Prints one JSON line
// { passed, failed, excluded, failures, suites, paths } (paths: per overridden kernel, the calls
// that ran selfsup's code and those handed to the cpu kernel) and exits 1 when a case fails.
//   node test/tfjs-core/run.mjs [suite ...]          (needs dist/: npm run build)
import { createRequire, register } from 'node:module';
import { dirname, join } from 'node:path';

register('./hooks.mjs', import.meta.url);
const require = createRequire(import.meta.url);

/** The tfjs-core suites (dist/ops/...) covering each kernel the selfsup backend overrides. */
export const SUITES = {
  BatchMatMul: ['mat_mul_test'],
  _FusedMatMul: ['fused/fused_mat_mul_test'],
  'Conv2D, FusedConv2D, Conv2DBackpropInput, Conv2DBackpropFilter': ['conv2d_test', 'fused/fused_conv2d_test', 'conv2d_transpose_test'],
  Softmax: ['softmax_test'],
  'Add, Sub, Multiply, RealDiv': ['add_test', 'sub_test', 'mul_test', 'arithmetic_test'],
  'Exp, Square, Sqrt, Rsqrt, Neg, Relu, Step': ['exp_test', 'square_test', 'sqrt_test', 'rsqrt_test', 'neg_test', 'relu_test', 'step_test'],
  'Sum, Mean': ['sum_test', 'mean_test'],
  'Transpose, Slice, Tile, PadV2, GatherV2': ['transpose_test', 'slice_test', 'tile_test', 'pad_test', 'gather_test'],
  'MaxPool, MaxPoolGrad': ['max_pool_test'],
};

/** Cases left out, by a substring of their full name, with the reason. */
export const EXCLUDED = [];

const coreDist = join(dirname(require.resolve('@tensorflow/tfjs-core/package.json')), 'dist');
const tf = await import('@tensorflow/tfjs-core');
await import('@tensorflow/tfjs-backend-cpu');
await import('@tensorflow/tfjs-core/dist/register_all_gradients');
await import('@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops');
const { registerBackend, PATH_COUNTS } = require('../../dist/lib/tfjs/index.js');
registerBackend(tf);
// Every size through the native tensor core (it otherwise leaves tensors under 512 elements,
// i.e. most suite cases, to the cpu kernel).
require('../../dist/lib/ops/native-core.js').setNativeMinElements(0);

const Jasmine = require('jasmine');
const runner = new Jasmine();
runner.exitOnCompletion = false;
const { setTestEnvs } = await import('@tensorflow/tfjs-core/dist/jasmine_util');
setTestEnvs([{ name: 'selfsup', backendName: 'selfsup', flags: {}, isDataSync: true }]);

const excludedHits = new Set();
runner.env.configure({
  random: false,
  specFilter: (spec) => {
    const hit = EXCLUDED.find((e) => spec.getFullName().includes(e.name));
    if (hit) excludedHits.add(spec.getFullName());
    return !hit;
  },
});
const result = { passed: 0, failed: 0, excluded: 0, failures: [], suites: {}, paths: PATH_COUNTS };
runner.env.clearReporters();
runner.env.addReporter({
  specDone(spec) {
    const suite = spec.fullName.split(' selfsup ')[0].trim();
    result.suites[suite] = (result.suites[suite] ?? 0) + (spec.status === 'passed' ? 1 : 0);
    if (spec.status === 'passed') result.passed++;
    else if (spec.status === 'failed') {
      result.failed++;
      result.failures.push(`${spec.fullName}: ${spec.failedExpectations.map((f) => f.message).join('; ').slice(0, 300)}`);
    }
  },
});
const wanted = process.argv.slice(2);
const files = Object.values(SUITES).flat().filter((f) => wanted.length === 0 || wanted.includes(f));
await runner.execute(files.map((f) => join(coreDist, 'ops', `${f}.js`)));
result.excluded = excludedHits.size;
console.log(JSON.stringify(result));
process.exitCode = result.failed > 0 ? 1 : 0;
