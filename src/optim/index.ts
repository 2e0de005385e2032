// Training utilities: optimisers, gradient clipping, learning-rate schedules.
export {
  SGD, Adam, AdamW, RMSprop, Adagrad,
  optimizers, optimizerNames, getOptimizer, serializeOptimizer, deserializeOptimizer,
  type Optimizer, type OptimizerConfig, type OptimizerState, type OptimizerName, type EpsilonMode,
  type SGDConfig, type AdamConfig, type RMSpropConfig, type AdagradConfig,
} from './optimizers.js';
export { globalNorm, clipByGlobalNorm, clipByValue } from './clip.js';
export {
  constantSchedule, stepDecay, exponentialDecay, cosineDecay, piecewiseConstant, linearWarmup, scheduleFromJSON,
  ReduceLROnPlateau,
  type Schedule, type AnySchedule, type ConstantSchedule, type StepDecaySchedule, type ExponentialDecaySchedule,
  type CosineDecaySchedule, type PiecewiseConstantSchedule, type LinearWarmupSchedule,
  type ReduceLROnPlateauConfig, type ReduceLROnPlateauState,
} from './schedules.js';
