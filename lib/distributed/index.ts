/**
 * selfsup/distributed: data-parallel training over MPI (torch.distributed semantics).
 *
 *   import { init, allGather, DistributedDataParallel } from 'selfsup/distributed';
 *   const { rank, worldSize } = init();       // under `npx selfsup launch -n 2 train.js`
 *
 * See docs/distributed.md.
 */
export {
  init, finalize, isInitialized, rank, worldSize, barrier, barrierAsync,
  allReduceArray, allReduceArrayAsync, allGatherArray, allGatherArrayAsync, reduceScatterArray, reduceScatterArrayAsync,
  broadcastArray, broadcastArrayAsync,
  type InitOptions, type WorldInfo, type ReduceOp,
} from './process-group';
export {
  allReduce, allReduceAsync, allGather, allGatherAsync, reduceScatter, reduceScatterAsync, broadcast, broadcastAsync,
} from './collectives';
export { DistributedDataParallel, type DDPOptions } from './ddp';
export { globalInfoNCE, globalVicreg, globalBarlowTwins, collective } from './losses';
