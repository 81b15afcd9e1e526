/**
 * A ViT-Tiny-like training step through the autograd front-end (lib/nn + lib/optim): batch 64 of
 * 3x32x32 images, 8x8 patches (16 patches + a cls token = 17 tokens), dim 192, depth 4, 3 heads,
 * MLP ratio 4; loss = mean(tokens^2); AdamW. `fwd` is the forward + loss under noGrad,
 * `fwd+bwd` the whole step (zeroGrad, forward, backward, optimizer step). steps/s = 1 / median.
 * Both run inside `tidy()`, as `selfsup train` runs its steps (docs/tensor-core.md, Memory).
 *
 * FLOPs count the matrix products only (LayerNorm, GELU, softmax and the optimizer are O(T·D),
 * under 2% here): with T = B·N tokens, per block 24·T·D^2 (qkv 6, proj 2, MLP 16) + 4·B·N^2·D
 * (q k^T and attn·v), plus the patch projection 2·B·P·(C·p^2)·D; backward = 2x forward (the usual
 * two products per forward product). Bytes: the images and the parameters once (fwd); for the step,
 * the parameters, gradients and both AdamW moments read and written (7 passes over 4·P bytes).
 *
 * Check: the same step's tokens (fwd) or parameter gradients (fwd+bwd) against a float64 copy of
 * the model with identical weights; error normwise per tensor (max |x - x64| / max |x64|), the max
 * over tensors.
 *
 * Peer: the same model written as a PyTorch user would (nn.Linear / nn.LayerNorm / F.gelu,
 * F.scaled_dot_product_attention when present, torch.optim.AdamW).
 */
import { VisionTransformer } from '../../lib/nn/vit';
import { AdamW } from '../../lib/optim/adamw';
import { noGrad } from '../../lib/autograd/grad-mode';
import { tidy } from '../../lib/scope';
import { randn } from '../../lib/factories';
import type { Tensor } from '../../lib/tensor';
import type { BenchMode, Workload, WorkloadInstance } from '../types';
import { normwiseError } from '../check';

const SHAPE = { batch: 64, image: 32, patch: 8, channels: 3, dim: 192, depth: 4, heads: 3 };

const TORCH = `
from vit_model import ViT  # bench/peers/vit_model.py (the runner's directory)

def setup(shape, dtype):
    torch.manual_seed(0)
    dt = getattr(torch, dtype)
    model = ViT(shape).to(dt)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(shape["batch"], shape["channels"], shape["image"], shape["image"], dtype=dt)
    def run(mode):
        if mode == "fwd":
            with torch.no_grad():
                model(x).pow(2).mean()
        else:
            opt.zero_grad(set_to_none=True)
            loss = model(x).pow(2).mean()
            loss.backward()
            opt.step()
    return run
`;

type S = typeof SHAPE;

function build(s: S, dtype: 'float32' | 'float64', seed: number): VisionTransformer {
  return new VisionTransformer({
    imageSize: s.image, patchSize: s.patch, inChannels: s.channels, dim: s.dim, depth: s.depth, heads: s.heads, dtype, seed,
  });
}

function fwdFlops(s: S): number {
  const P = (s.image / s.patch) ** 2, N = P + 1, T = s.batch * N, D = s.dim;
  const perBlock = 24 * T * D * D + 4 * s.batch * N * N * D;
  return s.depth * perBlock + 2 * s.batch * P * s.channels * s.patch * s.patch * D;
}

function paramCount(s: S): number {
  const D = s.dim;
  const block = 4 * D /* 2 norms */ + 3 * D * D + 3 * D + D * D + D + 4 * D * D + 4 * D + 4 * D * D + D;
  return s.channels * s.patch * s.patch * D + D + D /* cls */ + s.depth * block + 2 * D /* final norm */;
}

function make(s: S, name: string, tol32 = 1e-2): Workload {
  const imgShape = [s.batch, s.channels, s.image, s.image];
  return {
    op: 'vit_step',
    name,
    shape: { ...s },
    modes: ['fwd', 'fwd+bwd'],
    quick: true,
    flops: (mode) => (mode === 'fwd' ? 1 : 3) * fwdFlops(s),
    bytes: (mode) => {
      const p = 4 * paramCount(s), img = 4 * s.batch * s.channels * s.image * s.image;
      return mode === 'fwd' ? img + p : img + 7 * p;
    },
    setup({ dtype, seed }): WorkloadInstance {
      const model = build(s, dtype, seed);
      const opt = new AdamW(model.parameters(), { lr: 1e-4 });
      const x = randn(imgShape, { seed: seed + 1, dtype });
      let checked: { fwd: number; grad: number } | undefined;
      const step = (mode: BenchMode): void => {
        if (mode === 'fwd') {
          tidy(() => noGrad(() => model.forward(x).tokens.pow(2).mean().item()));
          return;
        }
        // As `selfsup train` runs a step: the forward and backward inside tidy(), which hands the
        // step's activations and gradients back to the storage pool when backward is done.
        tidy(() => {
          opt.zeroGrad();
          model.forward(x).tokens.pow(2).mean().backward();
        });
        opt.step();
      };
      return {
        run: step,
        check: (mode) => {
          // One float32 / float64 pass answers both modes (the float64 step is the slow part).
          checked ??= checkBoth(s, dtype, seed, imgShape);
          return mode === 'fwd' ? checked.fwd : checked.grad;
        },
      };
    },
    torch: TORCH,
    // Per-tensor normwise error of the gradients: patch_embed.proj.weight's gradient is a sum over
    // B·P tokens that cancels to ~1e-8 of its terms, so plain float32 autograd lands near 4e-3 there
    // (the other tensors ~1e-4); a wrong kernel gives O(1).
    tolerance: (dtype: string) => (dtype === 'float64' ? 1e-9 : tol32),
  } as Workload;
}

function checkBoth(s: S, dtype: 'float32' | 'float64', seed: number, imgShape: number[]): { fwd: number; grad: number } {
  // Fresh twin models with identical weights (float32 copied into float64).
  const m32 = build(s, dtype, seed + 7), m64 = build(s, 'float64', seed + 7);
  const p32 = m32.parameters(), p64 = m64.parameters();
  p32.forEach((p, i) => (p64[i].data as Float64Array).set(p.data as Float32Array));
  const x32 = randn(imgShape, { seed: seed + 8, dtype }), x64 = randn(imgShape, { seed: seed + 8, dtype: 'float64' });
  const t32 = m32.forward(x32).tokens, t64 = m64.forward(x64).tokens;
  const fwd = normwiseError(t32.data as Float32Array, t64.data as Float64Array);
  t32.pow(2).mean().backward();
  t64.pow(2).mean().backward();
  let grad = 0;
  p32.forEach((p, i) => {
    const g = (p as Tensor).grad, g64 = (p64[i] as Tensor).grad;
    if (g && g64) grad = Math.max(grad, normwiseError(g.data as Float32Array, g64.data as Float64Array));
  });
  return { fwd, grad };
}

/** The second ViT step: 64x64 images, patch 8 (64 patches + cls), dim 384, depth 4, 6 heads, batch 32. */
const SHAPE_S = { batch: 32, image: 64, patch: 8, channels: 3, dim: 384, depth: 4, heads: 6 };

// s64-b32: the same cancellation in the patch projection's weight gradient (a sum over B·P = 2048
// tokens of 192-wide patches) measures 1.08e-2 in float32 against float64, and 1.09e-2 with the
// TypeScript ops of 2026-11-28 (the other tensors ~6e-4): the tolerance is 3e-2 there.
export const workloads: Workload[] = [make(SHAPE, 'tiny-b64'), { ...make(SHAPE_S, 's64-b32', 3e-2), quick: false }];
