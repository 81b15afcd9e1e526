/**
 * Losses over the global batch. A contrastive or covariance loss computed on one rank's shard sees
 * only that shard's negatives / statistics; gathering the embeddings first (with the allGather
 * whose backward is a reduce-scatter) makes every rank compute the loss of the whole batch, and
 * under DDP the parameter gradients then equal a single process's on the concatenated batch:
 *
 *   const loss = F.infoNCE(allGather(z1), allGather(z2), { temperature: 0.1 }); // = globalInfoNCE
 *
 * (SimCLR's TPU implementation, Chen et al. 2020, and VICReg's FullGatherLayer do the same.)
 * Each rank computes the full (W * B)-row loss, which is cheap next to the backbone.
 *
 * Sinkhorn (SwAV), MSN and PMSN take `collective()`: their batch sums (Sinkhorn's column sums, the
 * mean anchor prediction of the me-max regularizer) are all-reduced, as in SwAV's
 * distributed_sinkhorn and MSN's AllReduce.
 */
import type { SinkhornCollective } from '../kernels/sinkhorn';
import { infoNCE } from '../ops/info_nce';
import { barlowTwins, vicreg } from '../ops/vicreg';
import type { Tensor } from '../tensor';
import { allGather } from './collectives';
import { allReduceArray } from './process-group';

/** F.infoNCE over the global batch (negatives from every rank). */
export function globalInfoNCE(z1: Tensor, z2: Tensor, options?: Parameters<typeof infoNCE>[2]): Tensor {
  return infoNCE(allGather(z1), allGather(z2), options);
}

/** F.vicreg over the global batch (variance and covariance of all ranks' rows). */
export function globalVicreg(x: Tensor, y: Tensor, options?: Parameters<typeof vicreg>[2]): ReturnType<typeof vicreg> {
  return vicreg(allGather(x), allGather(y), options);
}

/** F.barlowTwins over the global batch (batch norm and cross-correlation of all ranks' rows). */
export function globalBarlowTwins(z1: Tensor, z2: Tensor, options?: Parameters<typeof barlowTwins>[2]): Tensor {
  return barlowTwins(allGather(z1), allGather(z2), options);
}

/** The `collective` option of F.sinkhorn / F.swavLoss / F.msnLoss: sums over all ranks, in place. */
export function collective(): SinkhornCollective {
  return {
    allReduceSum: (buf: Float32Array) => allReduceArray(buf, 'sum'),
    allReduceSum64: (buf: Float64Array) => allReduceArray(buf, 'sum'),
  };
}
