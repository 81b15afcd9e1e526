/**
 * Gradients the 'selfsup' backend replaces while it is the active backend (tfjs keeps one
 * gradient per kernel name for all backends, so each one defers to the gradient registered
 * before it on every other backend).
 *
 * Tile: tfjs's gradient adds up the tiles with one slice and one add per tile, e.g. 2 x 2048 ops
 * for the [1, 1, D] gamma and beta that tf.layers.layerNormalization tiles over [B, N, D]. Here
 * it is one reshape and one sum: dy viewed as [r0, s0, r1, s1, ...] summed over the r axes.
 */
import type * as tfc from '@tensorflow/tfjs-core';

export type TfGradModule = Pick<typeof tfc, 'registerGradient' | 'getGradient' | 'getBackend' | 'reshape' | 'sum'>;

export function registerTileGradient(tf: TfGradModule, backendName: string): void {
  const previous = tf.getGradient('Tile');
  tf.registerGradient({
    kernelName: 'Tile',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      if (tf.getBackend() !== backendName && previous) return previous.gradFunc(dy, saved, attrs);
      const g = Array.isArray(dy) ? dy[0] : dy;
      const shape = saved[0].shape, reps = attrs.reps as number[];
      const interleaved = shape.flatMap((s, i) => [reps[i], s]);
      return { x: () => tf.sum(tf.reshape(g, interleaved), shape.map((_, i) => 2 * i)) };
    },
  });
}
