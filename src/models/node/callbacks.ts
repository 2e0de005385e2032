// Callbacks that write files: checkpoints of the best and the last model (atomic, via
// saveModel) and CSV / JSON Lines training logs.
import { appendFileSync, writeFileSync } from 'node:fs';
import { makeDirsSync } from '../../data/node/make-dirs.js';
import { dirname, join } from 'node:path';
import { monitored, type MonitorOptions } from '../callbacks.js';
import type { Callback, Logs, Model as Sequential } from '../sequential.js';
import { saveModel } from './model-io.js';

export interface ModelCheckpointOptions extends MonitorOptions {
  /** Directory holding `best/` and `last/` model bundles. */
  dir: string;
  /** Keep `best/` (by the monitored value); default true. `last/` is always written. */
  saveBest?: boolean;
}

export function modelCheckpoint(o: ModelCheckpointOptions): Callback & { best: number; bestEpoch: number } {
  const monitor = o.monitor ?? 'val_loss';
  const max = o.mode === 'max' || (o.mode !== 'min' && /acc|f1|precision|recall/i.test(monitor));
  let model: Sequential | null = null;
  const cb = {
    best: max ? -Infinity : Infinity, bestEpoch: -1,
    onTrainBegin(m: Sequential) { model = m; },
    async onEpochEnd(epoch: number, logs: Logs) {
      if (o.saveBest ?? true) {
        const v = monitored(logs, monitor, 'modelCheckpoint');
        if (max ? v > cb.best : v < cb.best) {
          cb.best = v; cb.bestEpoch = epoch;
          await saveModel(model!, join(o.dir, 'best'));
        }
      }
      await saveModel(model!, join(o.dir, 'last'));
    },
  };
  return cb;
}

/** One row per epoch: epoch,<keys...>. The header comes from the first epoch's keys. */
export function csvLogger(path: string): Callback {
  let keys: string[] | null = null;
  return {
    onTrainBegin() { makeDirsSync(dirname(path)); keys = null; },
    onEpochEnd(epoch, logs) {
      if (!keys) { keys = Object.keys(logs); writeFileSync(path, `epoch,${keys.join(',')}\n`); }
      appendFileSync(path, `${epoch},${keys.map((k) => logs[k] ?? '').join(',')}\n`);
    },
  };
}

/** One JSON object per line per epoch: {"epoch": n, ...logs, "time": iso}. */
export function jsonLogger(path: string): Callback {
  return {
    onTrainBegin() { makeDirsSync(dirname(path)); writeFileSync(path, ''); },
    onEpochEnd(epoch, logs) { appendFileSync(path, `${JSON.stringify({ epoch, ...logs, time: new Date().toISOString() })}\n`); },
  };
}
