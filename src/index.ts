// rnnkit public API: re-exports only.
export { Tensor } from './tensor/tensor.js';
export { rng, type Rng } from './tensor/rng.js';
export { ParamStore, type DType, type ParamSpec } from './tensor/params.js';
export {
  Recurrent, LSTM, GRU, RNN,
  type RecurrentOptions, type LSTMOptions, type GRUOptions, type RNNOptions,
  type ForwardOptions, type ForwardResult, type BackwardOptions, type BackwardResult,
} from './layers/recurrent.js';
export { getBackend, setBackend, referenceBackend, type Backend, type CellKind } from './kernels/index.js';
