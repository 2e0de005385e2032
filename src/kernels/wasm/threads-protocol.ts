// The hand-over protocol between the main thread and the kernel worker of the two-thread
// WebAssembly backend (threaded.ts, worker.ts). Everything lives in the shared wasm memory:
//
// Control block (CTL_BYTES at a 64-byte aligned address, viewed as Int32):
//   [C_SEQ]      command number, bumped by the main thread after writing C_OP and the arguments
//                (only once the previous command is settled, see C_TAKEN)
//   [C_OP]       what to run (OP_*)
//   [C_ARGS..]   the i32 arguments of the *_mt export after (tid, sync)
//   [C_DONE]     the last command number the worker finished (worker-written, own cache line)
//   [C_WSLEEP]   1 while the worker sleeps in Atomics.wait on C_SEQ (main notifies only then)
//   [C_STATE]    ST_STARTING -> ST_READY (worker instantiated) -> ST_DEAD (worker failed/quit)
//   [C_MWAIT]    1 while the main thread sleeps in Atomics.wait on C_DONE (main-written line)
//   [C_TAKEN]    the last command number claimed, by compare-and-swap from its predecessor:
//                by the worker (it will run the command) or by the main thread (retracted: the
//                main thread did all the work before the worker picked the command up, so it
//                need not wait for the worker at all). Exactly one side wins for each command.
// Sync block (SYNC_BYTES, used inside the wasm kernels, see asm/kernels-threads.ts): finished
// chunks, sleepers, abort flag, spin count, sleep-slice budget, per thread whether it may block,
// and the chunk-claim word; the main thread resets the count and the claim word before each
// two-thread call (after the worker has left the previous one or the command was retracted).
//
// Waiting everywhere is spin-then-wait: a bounded number of Atomics.load iterations (a wake-up
// through Atomics.wait/notify costs ~45 us on Node 20, a spin hand-over ~0.3 us), then a sleep
// that the other side ends with Atomics.notify only when the sleeper flag says it is needed.

export const CTL_BYTES = 256;
export const C_SEQ = 0;
export const C_OP = 1;
export const C_ARGS = 2;
export const MAX_ARGS = 30; // (C_ARGS + MAX_ARGS <= C_DONE)
export const C_DONE = 32;
export const C_WSLEEP = 33;
export const C_STATE = 34;
export const C_MWAIT = 48;
export const C_TAKEN = 56;

export const OP_GEMM = 1;
export const OP_SEQ_FORWARD = 2;
export const OP_SEQ_BACKWARD = 3;
export const OP_QUIT = 4;
export const OP_GEMM_SIDE = 5;
export const OP_ADAM = 6;
export const OP_SOFTMAX = 7;
export const OP_GEMM_BATCHED = 8;
export const OP_GEMM_CHECKED = 9;
export const OP_B1_PROJECT = 10;
export const OP_STACK_STEP = 11;

/** Number of i32 arguments after (tid, sync) of each operation's export. */
export const OP_ARGC: Record<number, number> = {
  [OP_GEMM]: 15, [OP_SEQ_FORWARD]: 27, [OP_SEQ_BACKWARD]: 23, [OP_GEMM_SIDE]: 20, [OP_ADAM]: 10, [OP_SOFTMAX]: 5, [OP_GEMM_BATCHED]: 18,
  [OP_GEMM_CHECKED]: 17, [OP_B1_PROJECT]: 9, [OP_STACK_STEP]: 4,
};
/** The wasm export each operation runs. */
export const OP_EXPORT: Record<number, string> = {
  [OP_GEMM]: 'gemm_mt', [OP_SEQ_FORWARD]: 'seq_forward_mt', [OP_SEQ_BACKWARD]: 'seq_backward_mt',
  [OP_GEMM_SIDE]: 'gemm_side_mt', [OP_ADAM]: 'adam_mt', [OP_SOFTMAX]: 'softmax_rows_mt',
  [OP_GEMM_BATCHED]: 'gemm_batched_mt', [OP_GEMM_CHECKED]: 'gemm_checked_mt', [OP_B1_PROJECT]: 'b1_project_mt',
  [OP_STACK_STEP]: 'stack_step_mt',
};

export const ST_STARTING = 0;
export const ST_READY = 1;
export const ST_DEAD = 2;

/** Sync block, Int32 indexes (byte offsets x4 in asm/kernels-threads.ts): nine cache lines. */
export const SYNC_BYTES = 576;
export const S_DONE = 0; // chunks finished in the current call
export const S_WORKER_CHUNKS = 1; // chunks the worker finished, cumulative (a statistic)
/** The i64 claim word (phase << 32 | hi << 16 | lo) as two Int32s: low half, high half (phase). */
export const S_CLAIM_LO = 16;
export const S_CLAIM_PHASE = 17;
export const S_SLEEP = 32;
export const S_ABORT = 33;
export const S_SPIN = 34;
export const S_SLICES = 35;
export const S_CANWAIT = 36; // + tid
/** Rows of the first row group of a sequence loop (0: the kernels' halves). */
export const S_SPLIT = 38;
/**
 * Thread t's line, at S_PROG + 16t: steps its first row group has run, the partner's when it
 * finished that group, groups run; then the rows it gives its partner (request, answer, rows, step:
 * asm/kernels-threads.ts's give_rows) and, at S_TAKEN, the ranges it took from its partner.
 */
export const S_PROG = 48;
export const S_TAKEN = 8;
/** The words of a thread's line that the loader resets per sequence call. */
export const S_LINE_WORDS = 9;
/**
 * The halves of the steps split by units, below 8 rows (asm/kernels-threads.ts, b1_next_half): at
 * S_HALF + 16h the last step whose half h was claimed and, at S_HALF_TAKEN after it, the halves
 * thread h took from its partner in the call; at S_HALF + 32 + 16h the last step whose half h is
 * finished. A line each, reset per call.
 */
export const S_HALF = 80;
export const S_HALF_TAKEN = 1;

/** What the worker receives (postMessage / the first message), all structured-cloneable. */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Byte addresses of the control block, the sync block and the worker's private scratch. */
  ctl: number;
  sync: number;
  scratch: number;
  /** Spin iterations before sleeping while idle. */
  spin: number;
}
