/**
 * Linear probe: multinomial logistic regression on frozen, standardized features, trained
 * full-batch with AdamW (lr 0.01, wd 1e-4, 300 steps); reports top-1 accuracy on the held-out
 * set. Run per depth it gives Guillotine Regularization's picture (Bordes et al. 2023): how much a
 * layer below the projector keeps that the projector throws away.
 */
import { Tensor } from '../tensor';
import { F } from '../functional';
import { AdamW } from '../optim/adamw';
import { deriveSeed } from '../nn/init';
import { Linear } from '../nn/layers';
import { noGrad } from '../autograd/grad-mode';

export interface LinearProbeOptions {
  steps?: number;
  lr?: number;
  weightDecay?: number;
  seed?: number;
}

function standardize(x: Tensor, mean: Float64Array, std: Float64Array): Tensor {
  const [N, D] = x.shape;
  const out = new Float32Array(N * D);
  for (let i = 0; i < N; i++) for (let j = 0; j < D; j++) out[i * D + j] = (x.data[i * D + j] - mean[j]) / std[j];
  return new Tensor(out, [N, D]);
}

export function linearProbeAccuracy(train: Tensor, trainLabels: Int32Array, test: Tensor, testLabels: Int32Array, classes: number, options: LinearProbeOptions = {}): number {
  const [N, D] = train.shape;
  const mean = new Float64Array(D), std = new Float64Array(D);
  for (let i = 0; i < N; i++) for (let j = 0; j < D; j++) mean[j] += train.data[i * D + j] / N;
  for (let i = 0; i < N; i++) for (let j = 0; j < D; j++) std[j] += (train.data[i * D + j] - mean[j]) ** 2 / N;
  for (let j = 0; j < D; j++) std[j] = Math.sqrt(std[j]) + 1e-6;
  const xtr = standardize(train, mean, std), xte = standardize(test, mean, std);
  const head = new Linear(D, classes, { seed: deriveSeed(options.seed ?? 0, 7) });
  const opt = new AdamW(head.parameters(), { lr: options.lr ?? 0.01, weightDecay: options.weightDecay ?? 1e-4 });
  const y = new Tensor(trainLabels, [N]);
  for (let s = 0; s < (options.steps ?? 300); s++) {
    const loss = F.crossEntropy(head.forward(xtr), y);
    opt.zeroGrad();
    loss.backward();
    opt.step();
  }
  const pred = noGrad(() => head.forward(xte).argmax(1)).data;
  let correct = 0;
  for (let i = 0; i < testLabels.length; i++) if (pred[i] === testLabels[i]) correct++;
  return correct / testLabels.length;
}
