// rnnkit keeps a recurrent layer's weights as PyTorch does: W_ih [gates·H, in] and W_hh
// [gates·H, H], gate blocks i|f|g|o (LSTM) or r|z|n (GRU). Other formats order the blocks
// otherwise and, Keras, transpose the kernels ([in, gates·H]). The permutations and the two
// operations every converter (ONNX export, TF.js import and export) needs, written once.
import type { CellClass } from './rnn-layers.js';

/** rnnkit block of each Keras block (LSTM i|f|c|o, GRU z|r|h); self-inverse, so also the reverse. */
export const KERAS_GATE_ORDER: Record<CellClass, number[]> = { LSTM: [0, 1, 2, 3], GRU: [1, 0, 2], SimpleRNN: [0] };

/** rnnkit block of each ONNX block (LSTM i|o|f|c, GRU z|r|h). */
export const ONNX_GATE_ORDER: Record<CellClass, number[]> = { LSTM: [0, 3, 1, 2], GRU: [1, 0, 2], SimpleRNN: [0] };

/** Blocks of H rows of `width` values: out block k = a's block order[k]. */
export function reorderGateBlocks(a: ArrayLike<number>, order: readonly number[], H: number, width: number): Float32Array {
  const n = H * width, out = new Float32Array(order.length * n);
  order.forEach((src, dst) => { for (let i = 0; i < n; i++) out[dst * n + i] = a[src * n + i]!; });
  return out;
}

/** [rows, cols] row-major -> [cols, rows]. */
export function transposeRows(a: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  return out;
}
