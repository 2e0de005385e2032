// Learning-rate schedules as plain JSON-serialisable objects `{ kind, ...config }` with a
// non-enumerable `at(step)` method (so JSON.stringify / spreading see only the config), and
// `scheduleFromJSON` to rebuild one. `step` is whatever the training loop counts (Keras counts
// optimiser iterations); negative steps are treated as 0. The loop sets
// `optimizer.learningRate = schedule.at(step)` before each step.
//
//   constant             lr(s) = learningRate
//   stepDecay            lr(s) = lr0 · decayRate^floor(s / decaySteps)            (PyTorch StepLR)
//   exponentialDecay     lr(s) = lr0 · decayRate^(s / decaySteps)                 (Keras ExponentialDecay;
//                                 staircase: exponent floored, i.e. stepDecay)
//   cosineDecay          lr(s) = lr0 · ((1 - alpha) · ½(1 + cos(π · min(s, D) / D)) + alpha)
//                                 (Keras CosineDecay without warm-up, D = decaySteps)
//   piecewiseConstant    lr(s) = values[i] for boundaries[i-1] < s <= boundaries[i]
//                                 (Keras PiecewiseConstantDecay; values has one more entry)
//   linearWarmup         s < W:  lr(s) = start + (target - start) · s / W,  target = after.at(0)
//                        s >= W: lr(s) = after.at(s - W)     (the wrapped schedule starts after warm-up)
//
// ReduceLROnPlateau is the Keras callback's logic as a small state machine (see below).

export interface Schedule {
  readonly kind: string;
  /** Learning rate at the given step (>= 0). */
  at(step: number): number;
}

export interface ConstantSchedule extends Schedule { kind: 'constant'; learningRate: number }
export interface StepDecaySchedule extends Schedule { kind: 'stepDecay'; initialLearningRate: number; decaySteps: number; decayRate: number }
export interface ExponentialDecaySchedule extends Schedule {
  kind: 'exponentialDecay'; initialLearningRate: number; decaySteps: number; decayRate: number; staircase: boolean;
}
export interface CosineDecaySchedule extends Schedule { kind: 'cosineDecay'; initialLearningRate: number; decaySteps: number; alpha: number }
export interface PiecewiseConstantSchedule extends Schedule { kind: 'piecewiseConstant'; boundaries: number[]; values: number[] }
export interface LinearWarmupSchedule extends Schedule {
  kind: 'linearWarmup'; warmupSteps: number; startLearningRate: number; after: Schedule;
}
export type AnySchedule =
  | ConstantSchedule | StepDecaySchedule | ExponentialDecaySchedule | CosineDecaySchedule
  | PiecewiseConstantSchedule | LinearWarmupSchedule;

function withAt<T extends object>(config: T, at: (step: number) => number): T & { at(step: number): number } {
  Object.defineProperty(config, 'at', {
    value: (step: number): number => {
      if (Number.isNaN(step)) throw new RangeError(`${(config as { kind?: string }).kind}.at: step is NaN`);
      return at(step > 0 ? step : 0);
    },
    enumerable: false,
  });
  return config as T & { at(step: number): number };
}

function need(kind: string, name: string, v: unknown, check: (x: number) => boolean, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) {
    throw new RangeError(`${kind}: ${name} must be ${what}, got ${JSON.stringify(v)}`);
  }
  return v;
}
const nonNeg = (x: number): boolean => x >= 0;
const pos = (x: number): boolean => x > 0;

export function constantSchedule(c: { learningRate: number }): ConstantSchedule {
  const learningRate = need('constant', 'learningRate', c.learningRate, nonNeg, '>= 0');
  return withAt({ kind: 'constant' as const, learningRate }, () => learningRate);
}

export function stepDecay(c: { initialLearningRate: number; decaySteps: number; decayRate: number }): StepDecaySchedule {
  const k = 'stepDecay';
  const lr0 = need(k, 'initialLearningRate', c.initialLearningRate, nonNeg, '>= 0');
  const decaySteps = need(k, 'decaySteps', c.decaySteps, pos, '> 0');
  const decayRate = need(k, 'decayRate', c.decayRate, nonNeg, '>= 0');
  return withAt({ kind: k, initialLearningRate: lr0, decaySteps, decayRate },
    (s) => lr0 * Math.pow(decayRate, Math.floor(s / decaySteps)));
}

export function exponentialDecay(c: {
  initialLearningRate: number; decaySteps: number; decayRate: number; staircase?: boolean;
}): ExponentialDecaySchedule {
  const k = 'exponentialDecay';
  const lr0 = need(k, 'initialLearningRate', c.initialLearningRate, nonNeg, '>= 0');
  const decaySteps = need(k, 'decaySteps', c.decaySteps, pos, '> 0');
  const decayRate = need(k, 'decayRate', c.decayRate, nonNeg, '>= 0');
  const staircase = c.staircase ?? false;
  return withAt({ kind: k, initialLearningRate: lr0, decaySteps, decayRate, staircase }, (s) => {
    const p = s / decaySteps;
    return lr0 * Math.pow(decayRate, staircase ? Math.floor(p) : p);
  });
}

export function cosineDecay(c: { initialLearningRate: number; decaySteps: number; alpha?: number }): CosineDecaySchedule {
  const k = 'cosineDecay';
  const lr0 = need(k, 'initialLearningRate', c.initialLearningRate, nonNeg, '>= 0');
  const decaySteps = need(k, 'decaySteps', c.decaySteps, pos, '> 0');
  const alpha = need(k, 'alpha', c.alpha ?? 0, (x) => x >= 0 && x <= 1, 'in [0, 1]');
  return withAt({ kind: k, initialLearningRate: lr0, decaySteps, alpha }, (s) => {
    const cosine = 0.5 * (1 + Math.cos((Math.PI * Math.min(s, decaySteps)) / decaySteps));
    return lr0 * ((1 - alpha) * cosine + alpha);
  });
}

export function piecewiseConstant(c: { boundaries: number[]; values: number[] }): PiecewiseConstantSchedule {
  const k = 'piecewiseConstant';
  if (!Array.isArray(c.boundaries) || !Array.isArray(c.values)) throw new TypeError(`${k}: boundaries and values must be arrays`);
  const boundaries = [...c.boundaries], values = [...c.values];
  if (values.length !== boundaries.length + 1) {
    throw new RangeError(`${k}: values must have exactly one more entry than boundaries (got ${values.length} and ${boundaries.length})`);
  }
  boundaries.forEach((b, i) => {
    need(k, `boundaries[${i}]`, b, (x) => i === 0 || x > boundaries[i - 1]!, 'finite and strictly increasing');
  });
  values.forEach((v, i) => need(k, `values[${i}]`, v, nonNeg, '>= 0'));
  return withAt({ kind: k, boundaries, values }, (s) => {
    let i = 0;
    while (i < boundaries.length && s > boundaries[i]!) i++;
    return values[i]!;
  });
}

export function linearWarmup(c: { warmupSteps: number; after: Schedule | number; startLearningRate?: number }): LinearWarmupSchedule {
  const k = 'linearWarmup';
  const warmupSteps = need(k, 'warmupSteps', c.warmupSteps, nonNeg, '>= 0');
  const startLearningRate = need(k, 'startLearningRate', c.startLearningRate ?? 0, nonNeg, '>= 0');
  // A number becomes a constant schedule; a live schedule (anything with at()) is used as is;
  // a parsed JSON object is rebuilt.
  const after: Schedule = typeof c.after === 'number'
    ? constantSchedule({ learningRate: c.after })
    : typeof (c.after as Partial<Schedule>)?.at === 'function'
      ? c.after
      : scheduleFromJSON(c.after as unknown as Record<string, unknown>);
  return withAt({ kind: k, warmupSteps, startLearningRate, after }, (s) => {
    if (s < warmupSteps) {
      const target = after.at(0);
      return startLearningRate + ((target - startLearningRate) * s) / warmupSteps;
    }
    return after.at(s - warmupSteps);
  });
}

/** Rebuild a schedule from its JSON form (`JSON.parse(JSON.stringify(schedule))`). */
export function scheduleFromJSON(json: Record<string, unknown>): AnySchedule {
  if (!json || typeof json !== 'object') throw new TypeError('scheduleFromJSON: expected an object with a kind');
  const j = json as never;
  switch (json.kind) {
    case 'constant': return constantSchedule(j);
    case 'stepDecay': return stepDecay(j);
    case 'exponentialDecay': return exponentialDecay(j);
    case 'cosineDecay': return cosineDecay(j);
    case 'piecewiseConstant': return piecewiseConstant(j);
    case 'linearWarmup': return linearWarmup(j);
    default:
      throw new Error(`scheduleFromJSON: unknown schedule kind '${String(json.kind)}'; valid kinds: constant, stepDecay, exponentialDecay, cosineDecay, piecewiseConstant, linearWarmup`);
  }
}

// ---------------------------------------------------------------------------------------------
// ReduceLROnPlateau (Keras callback logic). Call `update(value, currentLr)` once per epoch with
// the monitored value; it returns the learning rate to use next:
//
//   if cooldownCounter > 0: cooldownCounter -= 1; wait = 0
//   if improved(value, best):   best = value; wait = 0        improved: value < best - minDelta (min)
//   else if cooldownCounter == 0 (after the decrement):                 value > best + minDelta (max)
//     wait += 1
//     if wait >= patience and lr > minLr:
//       lr = max(lr * factor, minLr); cooldownCounter = cooldown; wait = 0
//
// A NaN value never counts as an improvement.

export interface ReduceLROnPlateauConfig {
  /** Multiplier applied on a plateau, in (0, 1). Default 0.1. */
  factor?: number;
  /** Epochs without improvement before reducing. Default 10. */
  patience?: number;
  /** 'min' (loss-like, default) or 'max' (accuracy-like). */
  mode?: 'min' | 'max';
  /** Minimum change that counts as an improvement. Default 1e-4. */
  minDelta?: number;
  /** Epochs to wait after a reduction before counting again. Default 0. */
  cooldown?: number;
  /** Lower bound on the learning rate. Default 0. */
  minLr?: number;
}

export interface ReduceLROnPlateauState { best: number; wait: number; cooldownCounter: number }

export class ReduceLROnPlateau {
  readonly factor: number;
  readonly patience: number;
  readonly mode: 'min' | 'max';
  readonly minDelta: number;
  readonly cooldown: number;
  readonly minLr: number;
  best: number;
  wait = 0;
  cooldownCounter = 0;
  /** Whether the last update() reduced the learning rate. */
  lastReduced = false;

  constructor(c: ReduceLROnPlateauConfig = {}) {
    const k = 'ReduceLROnPlateau';
    this.factor = need(k, 'factor', c.factor ?? 0.1, (x) => x > 0 && x < 1, 'in (0, 1)');
    this.patience = need(k, 'patience', c.patience ?? 10, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0');
    this.minDelta = Math.abs(need(k, 'minDelta', c.minDelta ?? 1e-4, () => true, 'finite'));
    this.cooldown = need(k, 'cooldown', c.cooldown ?? 0, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0');
    this.minLr = need(k, 'minLr', c.minLr ?? 0, nonNeg, '>= 0');
    const mode = c.mode ?? 'min';
    if (mode !== 'min' && mode !== 'max') throw new RangeError(`${k}: mode must be 'min' or 'max', got '${String(mode)}'`);
    this.mode = mode;
    this.best = mode === 'min' ? Infinity : -Infinity;
  }

  private improved(value: number): boolean {
    return this.mode === 'min' ? value < this.best - this.minDelta : value > this.best + this.minDelta;
  }

  /** Feed one epoch's monitored value; returns the (possibly reduced) learning rate. */
  update(value: number, lr: number): number {
    this.lastReduced = false;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.wait = 0;
    }
    if (this.improved(value)) {
      this.best = value;
      this.wait = 0;
    } else if (this.cooldownCounter <= 0) { // re-checked after the decrement, as Keras does
      this.wait++;
      if (this.wait >= this.patience && lr > this.minLr) {
        lr = Math.max(lr * this.factor, this.minLr);
        this.cooldownCounter = this.cooldown;
        this.wait = 0;
        this.lastReduced = true;
      }
    }
    return lr;
  }

  /** Convenience: update and write the result into `opt.learningRate`. */
  step(value: number, opt: { learningRate: number }): boolean {
    opt.learningRate = this.update(value, opt.learningRate);
    return this.lastReduced;
  }

  reset(): void {
    this.best = this.mode === 'min' ? Infinity : -Infinity;
    this.wait = 0;
    this.cooldownCounter = 0;
    this.lastReduced = false;
  }

  getConfig(): Required<ReduceLROnPlateauConfig> {
    return { factor: this.factor, patience: this.patience, mode: this.mode, minDelta: this.minDelta, cooldown: this.cooldown, minLr: this.minLr };
  }

  /** best is ±Infinity before the first update; JSON turns that into null, which setState accepts. */
  getState(): ReduceLROnPlateauState {
    return { best: this.best, wait: this.wait, cooldownCounter: this.cooldownCounter };
  }

  setState(s: { best: number | null; wait: number; cooldownCounter: number }): void {
    if (!Number.isInteger(s.wait) || s.wait < 0 || !Number.isInteger(s.cooldownCounter) || s.cooldownCounter < 0) {
      throw new RangeError('ReduceLROnPlateau.setState: wait and cooldownCounter must be integers >= 0');
    }
    this.best = s.best === null ? (this.mode === 'min' ? Infinity : -Infinity) : s.best;
    this.wait = s.wait;
    this.cooldownCounter = s.cooldownCounter;
  }
}
