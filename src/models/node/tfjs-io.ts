// loadTfjsModel: a TF.js layers model (model.json and its weight files, as `model.save('file://dir')`
// or the tensorflowjs converter write them) from disk, as a rnnkit model (tfjs-format.ts).
import { readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fsReason } from '../../data/node/fs-reason.js';
import { BundleError } from '../bundle-format.js';
import type { Model, Sequential } from '../sequential.js';
import { modelFromTfjs, tfjsWeightPaths } from '../tfjs-format.js';

/** `path`: the model.json file, or the directory that holds it. */
export async function loadTfjsModel<M extends Model = Sequential>(path: string): Promise<M> {
  let file = resolve(path);
  try {
    if (statSync(file).isDirectory()) file = join(file, 'model.json');
  } catch (e) {
    throw new BundleError(path, fsReason(e));
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new BundleError(file, e instanceof SyntaxError ? `not JSON: ${e.message}` : fsReason(e));
  }
  const parts = tfjsWeightPaths(json, file).map((p) => {
    const f = join(dirname(file), p);
    try {
      return readFileSync(f);
    } catch (e) {
      throw new BundleError(f, `a weight file model.json names: ${fsReason(e)}`);
    }
  });
  return modelFromTfjs<M>(json, parts, file);
}
