/** Loads an optional peer package (tfjs, onnxruntime-node) or returns undefined when absent. */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { packageRoot } from '../../lib/backends/native';

export function loadOptional(name: string): unknown {
  // Resolve from the package root (where a user installs peers) and from this file.
  for (const base of [path.join(packageRoot(), 'package.json'), __filename]) {
    try {
      return createRequire(base)(name);
    } catch {
      /* next */
    }
  }
  return undefined;
}
