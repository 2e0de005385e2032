// Where a benchmark step's time goes: the backend's kernel entry points timed per call (bench.ts
// --breakdown), with the flops of their products for GFLOP/s, and the rest of the step.
import { gateWidth, type Backend, type DenseBackwardArgs, type DenseForwardArgs, type LayerBackwardArgs, type LayerForwardArgs, type SeqShape } from '../src/kernels/types.js';

export interface BreakdownRow {
  /** A kernel entry point of the backend, or 'outside the kernels'. */
  what: string;
  callsPerStep: number;
  msPerStep: number;
  /** Fraction of the mean step time. */
  share: number;
  /** Floating-point operations of the entry point's products / its time (none for the rest). */
  gflops?: number;
}

/**
 * Multiply-add flops of each kernel entry point's products as it runs them (the gate passes, sums
 * and copies inside it are not counted): what its GFLOP/s compares with the GEMM's.
 */
const seqG = (a: SeqShape): number => a.T * a.B * gateWidth(a.kind, a.H);
/** Input rows the input-side products run over: T·B, or the table's rows (xIds). */
const inRows = (a: LayerForwardArgs | LayerBackwardArgs): number => (a.xIds ? a.xRows! : a.T * a.B);
export const KERNEL_FLOPS: Record<string, (...a: never[]) => number> = {
  gemm: (_tA: boolean, _tB: boolean, M: number, N: number, K: number) => 2 * M * N * K,
  seqForward: (a: SeqShape) => 2 * seqG(a) * a.H,
  seqBackward: (a: SeqShape) => 2 * seqG(a) * a.H,
  layerForward: (a: LayerForwardArgs) => 2 * gateWidth(a.kind, a.H) * (inRows(a) * a.I + a.T * a.B * a.H),
  // dh through W_hh and dW_hh over T·B rows; dW_ih and (when wanted) dx over the input rows.
  layerBackward: (a: LayerBackwardArgs) => 2 * gateWidth(a.kind, a.H) * ((a.dx ? 2 : 1) * inRows(a) * a.I + 2 * a.T * a.B * a.H),
  denseForward: (a: DenseForwardArgs) => 2 * a.rows * a.K * a.U,
  denseBackward: (a: DenseBackwardArgs) => 2 * a.rows * a.K * a.U * (a.dx ? 2 : 1),
  softmaxRows: () => 0,
  adamUpdate: () => 0,
  // An embedding's table rows gathered and its gradient rows added, where the arrays lie in the
  // backend's memory (Backend.gatherRows / addRowsAt; elsewhere the layer's own loops, outside).
  gatherRows: () => 0,
  addRowsAt: () => 0,
  // A stack stepper's step (text generation: every layer and the head for one token; the host's
  // hook, each call one token). Its arguments are addresses: no flops counted.
  runStackStep: () => 0,
};

/**
 * Wraps the backend's kernel entry points with timers (outermost calls only: an entry point that
 * calls another is counted once). Two clock reads (`now`, ms) per kernel call, a few per step.
 */
export function instrument(be: Backend, now: () => number = () => performance.now()): { reset(): void; rows(steps: number, stepMs: number): BreakdownRow[]; restore(): void } {
  const target = be as unknown as Record<string, (...a: unknown[]) => void>;
  const stats = new Map<string, { ms: number; calls: number; flops: number }>();
  const saved: [string, PropertyDescriptor | undefined][] = [];
  let depth = 0;
  for (const [name, flopsOf] of Object.entries(KERNEL_FLOPS)) {
    const f = target[name];
    if (typeof f !== 'function') continue;
    saved.push([name, Object.getOwnPropertyDescriptor(be, name)]);
    stats.set(name, { ms: 0, calls: 0, flops: 0 });
    target[name] = function (this: unknown, ...a: unknown[]) {
      if (depth++ > 0) { try { return f.apply(this, a); } finally { depth--; } }
      const t0 = now();
      try { return f.apply(this, a); } finally {
        depth--;
        const st = stats.get(name)!;
        st.ms += now() - t0; st.calls++; st.flops += (flopsOf as (...x: unknown[]) => number)(...a);
      }
    };
  }
  return {
    reset: () => { for (const st of stats.values()) { st.ms = 0; st.calls = 0; st.flops = 0; } },
    rows: (steps, stepMs) => {
      const rows: BreakdownRow[] = [];
      let inside = 0;
      for (const [what, st] of [...stats].sort((x, y) => y[1].ms - x[1].ms)) {
        if (st.calls === 0) continue;
        inside += st.ms / steps;
        rows.push({
          what, callsPerStep: +(st.calls / steps).toFixed(2), msPerStep: +(st.ms / steps).toFixed(3), share: +(st.ms / steps / stepMs).toFixed(3),
          ...(st.flops > 0 ? { gflops: +(st.flops / st.ms / 1e6).toFixed(1) } : {}),
        });
      }
      rows.push({ what: 'outside the kernels', callsPerStep: 1, msPerStep: +(stepMs - inside).toFixed(3), share: +((stepMs - inside) / stepMs).toFixed(3) });
      return rows;
    },
    restore: () => {
      for (const [name, d] of saved) {
        if (d) Object.defineProperty(be, name, d);
        else delete target[name]; // back to the prototype's method
      }
    },
  };
}

