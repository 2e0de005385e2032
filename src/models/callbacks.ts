// Training callbacks (Keras names): early stopping with best-weight restore, learning-rate
// schedules per step, reduce-on-plateau, and a history logger. File-writing callbacks
// (checkpoints, CSV/JSON logs) live in node/callbacks.ts.
import { ReduceLROnPlateau, type ReduceLROnPlateauConfig, type Schedule } from '../optim/schedules.js';
import type { Callback, Logs, Model as Sequential } from './sequential.js';

export interface MonitorOptions {
  /** Log key to watch (default 'val_loss'; falls back to 'loss' when there is no validation). */
  monitor?: string;
  /** 'min' for losses, 'max' for accuracies; 'auto' decides from the name (default). */
  mode?: 'min' | 'max' | 'auto';
}

function resolveMode(monitor: string, mode: 'min' | 'max' | 'auto' = 'auto'): 'min' | 'max' {
  if (mode !== 'auto') return mode;
  return /acc|f1|precision|recall|auc/i.test(monitor) ? 'max' : 'min';
}

/** The monitored value from epoch logs, with a clear error when the key does not exist. */
export function monitored(logs: Logs, monitor: string, who: string): number {
  const v = logs[monitor] ?? (monitor.startsWith('val_') ? logs[monitor.slice(4)] : undefined);
  if (v === undefined) throw new Error(`${who}: monitored value '${monitor}' is not in the logs (${Object.keys(logs).join(', ')})`);
  return v;
}

export interface EarlyStoppingOptions extends MonitorOptions {
  patience?: number;
  minDelta?: number;
  /** Put back the weights of the best epoch when training stops (default true). */
  restoreBestWeights?: boolean;
}

export function earlyStopping(o: EarlyStoppingOptions = {}): Callback & { stoppedEpoch: number; bestEpoch: number } {
  const monitor = o.monitor ?? 'val_loss', mode = resolveMode(monitor, o.mode);
  const patience = o.patience ?? 0, minDelta = Math.abs(o.minDelta ?? 0), restore = o.restoreBestWeights ?? true;
  let model: Sequential | null = null, best = Infinity, wait = 0, bestWeights: Float32Array | null = null;
  const cb = {
    stoppedEpoch: -1, bestEpoch: -1,
    onTrainBegin(m: Sequential) { model = m; best = Infinity; wait = 0; bestWeights = null; cb.stoppedEpoch = -1; cb.bestEpoch = -1; },
    onEpochEnd(epoch: number, logs: Logs) {
      const v = monitored(logs, monitor, 'earlyStopping');
      const score = mode === 'min' ? v : -v;
      if (score < best - minDelta) {
        best = score; wait = 0; cb.bestEpoch = epoch;
        if (restore) bestWeights = model!.params.slice();
      } else if (++wait > patience) {
        cb.stoppedEpoch = epoch;
        model!.stopTraining = true;
      }
    },
    onTrainEnd() {
      if (restore && bestWeights && cb.stoppedEpoch >= 0) model!.params.set(bestWeights);
    },
  };
  return cb;
}

/** Set the learning rate from a schedule before every batch (step = optimiser steps taken). */
export function learningRateScheduler(schedule: Schedule): Callback {
  let model: Sequential | null = null;
  return {
    onTrainBegin(m) { model = m; },
    onBatchBegin() { model!.optimizer!.learningRate = schedule.at(model!.step); },
  };
}

export function reduceLROnPlateau(o: Omit<ReduceLROnPlateauConfig, 'mode'> & MonitorOptions = {}): Callback {
  const monitor = o.monitor ?? 'val_loss';
  const mode = resolveMode(monitor, o.mode);
  const r = new ReduceLROnPlateau({ ...o, mode });
  let model: Sequential | null = null;
  return {
    onTrainBegin(m) { model = m; },
    onEpochEnd(_e, logs) { r.step(monitored(logs, monitor, 'reduceLROnPlateau'), model!.optimizer!); },
  };
}
