/**
 * A prefetch worker (lib/data/prefetch.ts starts it): makes the views of the steps it is sent,
 * with the same functions as the main thread (lib/data/views.ts), and transfers them back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { batchMaker, redrawMaker, shardOf, stepViews, type BatchSpec, type ViewPlan } from './views';

if (parentPort) {
  const port = parentPort;
  const { spec, plan } = workerData as { spec: BatchSpec; plan: ViewPlan };
  const make = batchMaker(spec), redraw = redrawMaker(spec);
  port.on('message', (step: number) => {
    try {
      const views = stepViews(shardOf(make(step, plan.batch), plan), plan, step, redraw);
      port.postMessage({ step, views }, views.map((v) => v.buffer as ArrayBuffer));
    } catch (e) {
      port.postMessage({ step, error: e instanceof Error ? e.message : String(e) });
    }
  });
}
