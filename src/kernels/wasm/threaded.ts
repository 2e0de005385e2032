// The two-thread WebAssembly backend: the same kernels as backend.ts, built for a shared memory
// (generated/{relaxed,simd}-threads.ts, from asm/kernels.ts + asm/kernels-threads.ts), with a
// second thread — a Node.js worker_threads Worker or a browser Web Worker running worker.ts —
// that instantiates the same compiled module on the same shared memory.
//
// Per call the main thread lays out and copies the data exactly as backend.ts does (host.ts), then
// runs each kernel either as the single-threaded export (problems below the size gates) or posts it to the worker
// through the control block in shared memory (threads-protocol.ts: argument words, then a bumped
// command number; Atomics.notify only when the worker sleeps) and runs the same *_mt export
// itself. Inside, the work is cut into phases of chunks that the two threads claim from opposite
// ends; a phase starts when all chunks of the previous one are finished (spin, then wait), so a
// thread only ever waits for a chunk its partner holds — a worker that is asleep or descheduled
// just leaves the chunks to the main thread. The main thread returns once every chunk is done;
// the worker is joined (or the command retracted, if it never picked it up) before the next
// two-thread call. No postMessage per call.
//
// Wall-clock gains need a free core: on a busy shared Linux machine the scheduler's per-session
// fair share (autogroup) gives a process about the same CPU with one thread or two, and then a
// second thread only adds its overhead (small: the chunks degrade to one-thread speed).
//
// Results are bit-identical to the single-threaded build of the same variant (every output
// element is computed by the same code in the same order; see asm/kernels-threads.ts), so turning
// threads on or off never changes results.
//
// Failure: if the worker dies or stops answering (timeoutMs), the call is recomputed on one
// thread from the caller's arrays (outputs are only written back after a successful call), a
// warning is emitted once, and the backend stays single-threaded from then on. The worker is
// unref'd: an idle worker never keeps a Node.js process alive. terminate() stops it.
//
// Browsers: shared memory needs a cross-origin isolated page; the main thread may not block, so
// it spins instead of sleeping, and the backend must be created with `await
// ThreadedWasmBackend.create()` (createSync blocks until the worker is up, which a browser's main
// thread cannot do).
import { unavailableReason, type WasmVariant } from './backend.js';
import { wasmBase64 as relaxedThreadsBase64 } from './generated/relaxed-threads.js';
import { wasmBase64 as simdThreadsBase64 } from './generated/simd-threads.js';
import {
  C_ARGS, C_DONE, C_MWAIT, C_OP, C_SEQ, C_STATE, C_TAKEN, C_WSLEEP, CTL_BYTES, OP_ADAM, OP_ARGC, OP_B1_PROJECT, OP_GEMM, OP_STACK_STEP, OP_GEMM_BATCHED, OP_GEMM_CHECKED, OP_GEMM_SIDE, OP_QUIT, OP_SOFTMAX,
  OP_SEQ_BACKWARD, OP_SEQ_FORWARD, S_ABORT, S_CANWAIT, S_CLAIM_LO, S_CLAIM_PHASE, S_DONE, S_SLICES, S_SPIN, S_WORKER_CHUNKS,
  ST_DEAD, ST_READY, ST_STARTING,
  S_HALF, S_HALF_TAKEN, S_LINE_WORDS, S_PROG, S_SPLIT, S_TAKEN, SYNC_BYTES, type WorkerInit,
} from './threads-protocol.js';
import { align64, decodeBase64, MAX_PAGES, PAGE, WasmHost, type CoreExports } from './host.js';

export interface ThreadedOptions {
  /** Kernel build; default: relaxed SIMD when this engine runs it, else plain SIMD. */
  variant?: WasmVariant;
  /** GEMMs with M·N·K below this run on one thread (default 2^23: below that, waking the worker costs more than it saves). */
  gemmMinWork?: number;
  /**
   * The same while the worker is still spinning after its last call (default 2^21, or gemmMinWork
   * if lower; a quarter of it for a product whose op(B) is packed already, a Dense layer's
   * weights inside withFixedWeights): a hand-over then costs ~0.2 µs instead of a wake-up's
   * 44-90. (While the call's own sequence loop keeps it busy: from gemmMinWork / 8.)
   */
  gemmMinWorkAwake?: number;
  /** GEMMs of 5 or more rows with fewer rows M than this run on one thread (default 8; rows are split by 4s). */
  gemmMinRows?: number;
  /**
   * GEMMs of 1-4 rows (a decoder's step, one token's Dense layers) with M·N·K at least this run
   * on two threads, each thread on its half of the columns (default 2^15, a 192 x 192 layer).
   * Alone, a layer whose weights stay in one core's L2 gains little or nothing (the worker
   * starts a little later and first pulls the row from the calling core), but a model whose
   * layers' weights overflow one L2 — a Transformer's 3.6 MB — keeps half of every layer in each
   * core's L2 instead of reading them all from L3: its one-row step's products ran twice as fast.
   */
  fewRowsMinWork?: number;
  /**
   * Sequence calls whose per-step recurrent product B·G·H is below this run on one thread
   * (default 2^17: from an LSTM with H = 182, a GRU with H = 209, a vanilla RNN with H = 363 at
   * batch 1 — where each thread's half of W_hh starts to pay for the per-step hand-over).
   */
  seqMinWork?: number;
  /** Sequence calls with fewer hidden units H than this run on one thread (default 16; units are split by 8s). */
  seqMinHidden?: number;
  /** Optimiser steps (Adam) over fewer values than this run on one thread (default 2^16). */
  elementwiseMin?: number;
  /**
   * Spin iterations before a waiting thread sleeps (barriers, hand-over, idle worker). Default
   * 200,000: ~1 ms of the idle worker's Atomics.load loop, so that between the calls of a
   * training step (a loss, an optimiser step, copies in between) the worker is still awake for
   * the next one. Waking a sleeping worker with Atomics.notify cost the main thread 44-90 µs per
   * call on the project's VM (0.4-0.8 ms per W1 or W2 step, 8 wake-ups each; 20,000 iterations
   * left it asleep for nearly every call).
   */
  spin?: number;
  /**
   * Thread 0's share of a sequence loop's batch rows (from 8 rows, where each thread runs a group
   * of rows through every step), fixed; default 0: measured. Each call then splits the rows by the
   * threads' speeds in the calls before (rowSplit, measuredShare): on a shared machine one core can
   * run 20-30% slower than the other for seconds at a time.
   */
  rowShare?: number;
  /** A worker silent for this long is given up (the call is then recomputed on one thread). */
  timeoutMs?: number;
  /** Where worker.js is (default: next to this file). */
  workerUrl?: URL | string;
}

type Opts = Required<Omit<ThreadedOptions, 'variant' | 'workerUrl'>>;
const DEFAULTS: Opts = {
  gemmMinWork: 2 ** 23, gemmMinWorkAwake: 2 ** 21, gemmMinRows: 8, fewRowsMinWork: 2 ** 15, seqMinWork: 2 ** 17, seqMinHidden: 16, elementwiseMin: 2 ** 16, spin: 200_000, rowShare: 0, timeoutMs: 30000,
};

/**
 * The rows of the first of a sequence loop's two row groups (thread 0's) for B >= 8 rows when
 * thread 0 runs `share` of the two threads' rows per unit of time: the multiple of 4, with at
 * least 4 rows in each group, that finishes soonest — max(r / share, (B - r) / (1 - share)) —
 * the nearer to half on a tie. (A multiple of 4 keeps each row in its 4-row tile: its bits.)
 */
export function rowSplit(B: number, share: number): number {
  let best = 0, bestT = Infinity;
  for (let r = 4; r <= B - 4; r += 4) {
    const t = Math.max(r / share, (B - r) / (1 - share));
    if (t < bestT - 1e-9 || (Math.abs(t - bestT) <= 1e-9 && Math.abs(2 * r - B) < Math.abs(2 * best - B))) { bestT = t; best = r; }
  }
  return best;
}

/**
 * Thread 0's share of the two threads' speed, measured by a sequence loop of T steps whose row
 * groups were r0 and B - r0 rows: seen0 is how many steps thread 1's group had run when thread 0
 * finished its group, seen1 the reverse. The first to finish ran T steps of its rows while its
 * partner ran `seen` of its own. Null when it tells nothing: the partner had not begun (a late
 * start, not a slow core).
 */
export function measuredShare(r0: number, B: number, T: number, seen0: number, seen1: number): number | null {
  const r1 = B - r0;
  if (seen0 > 0 && seen0 < T) return (r0 * T) / (r0 * T + r1 * seen0);
  if (seen1 > 0 && seen1 < T) return (r0 * seen1) / (r0 * seen1 + r1 * T);
  return seen0 >= T && seen1 >= T ? r0 / B : null;
}

/** The exports of the threaded build (pointers are byte addresses into the shared memory). */
interface ThreadedExports extends CoreExports {
  thread_scratch_bytes(): number;
  set_thread_scratch(p: number): void;
  gemm_mt(...a: number[]): void;
  gemm_side_mt(...a: number[]): void;
  adam_mt(...a: number[]): void;
  softmax_rows_mt(...a: number[]): void;
  gemm_batched_mt(...a: number[]): void;
  gemm_checked_mt(...a: number[]): void;
  b1_project_mt(...a: number[]): void;
  stack_step_mt(...a: number[]): void;
  seq_forward_mt_scratch_bytes(kind: number, resetAfter: number, B: number, H: number, I: number): number;
  seq_backward_mt_scratch_bytes(kind: number, B: number, H: number): number;
  seq_forward_mt(...a: number[]): void;
  seq_backward_mt(...a: number[]): void;
}

/** How long a starting worker may take to get ready (a loaded machine: seconds). */
const STARTUP_MS = 30000;
/** The worker is gone or silent: the call is recomputed on one thread. (Exported for the tests, which simulate a loss.) */
export class WorkerLost extends Error {}

// ---- environment: workers, blocking, warnings ----

interface WorkerHandle { post(m: WorkerInit): void; terminate(): void }
type NodeWorkerThreads = typeof import('node:worker_threads');

const proc = (globalThis as { process?: NodeJS.Process }).process;
function nodeWorkerThreads(): NodeWorkerThreads | undefined {
  const get = (proc as { getBuiltinModule?: (id: string) => unknown } | undefined)?.getBuiltinModule;
  return get?.call(proc, 'node:worker_threads') as NodeWorkerThreads | undefined;
}

function spawnWorker(url: URL | string, onGone: (why: string) => void): WorkerHandle {
  const wt = nodeWorkerThreads();
  if (wt) {
    // No inherited execArgv: options such as --input-type (node -e) would stop the worker from
    // starting, and V8 flags (relaxed SIMD on Node 20) are process-wide anyway.
    const w = new wt.Worker(url, { execArgv: [] });
    w.unref(); // an idle worker must not keep the process alive
    w.on('error', (e: Error) => onGone(`worker error: ${e.message}`));
    w.on('exit', (code: number) => onGone(`worker exited with code ${code}`));
    return { post: (m) => w.postMessage(m), terminate: () => { void w.terminate(); } };
  }
  const W = (globalThis as { Worker?: new (u: URL | string, o: object) => {
    postMessage(m: unknown): void; terminate(): void; onerror: ((e: { message?: string }) => void) | null;
  } }).Worker;
  if (typeof W !== 'function') throw new Error('rnnkit: this environment has no worker threads');
  const w = new W(url, { type: 'module' });
  w.onerror = (e) => onGone(`worker error: ${e.message ?? 'unknown'}`);
  return { post: (m) => w.postMessage(m), terminate: () => w.terminate() };
}

/** Whether this thread may block in Atomics.wait (no on a browser's main thread). */
function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** A warning through process.emitWarning (RnnkitWarning) where there is one, else console.warn. */
export function warn(message: string): void {
  if (proc && typeof proc.emitWarning === 'function') proc.emitWarning(message, 'RnnkitWarning');
  else console.warn(message);
}

/** Why the threaded backend cannot run `variant` here, or null if it can. */
export function threadedUnavailableReason(variant: WasmVariant): string | null {
  const why = unavailableReason(variant);
  if (why) return why;
  if (typeof SharedArrayBuffer === 'undefined') return 'no SharedArrayBuffer (browsers: the page must be cross-origin isolated)';
  if (!nodeWorkerThreads() && typeof (globalThis as { Worker?: unknown }).Worker !== 'function') return 'no worker threads';
  return null;
}

function defaultVariant(): WasmVariant {
  return unavailableReason('wasm-relaxed-simd') === null ? 'wasm-relaxed-simd' : 'wasm-simd';
}

const modules = new Map<WasmVariant, WebAssembly.Module>();
const moduleBytes = (v: WasmVariant): Uint8Array<ArrayBuffer> =>
  decodeBase64(v === 'wasm-relaxed-simd' ? relaxedThreadsBase64 : simdThreadsBase64);

function checkVariant(v: WasmVariant): void {
  const why = threadedUnavailableReason(v);
  if (why) throw new Error(`rnnkit: cannot start the two-thread ${v} backend: ${why}`);
}

/** Two threads on one shared memory; see the top of this file. */
export class ThreadedWasmBackend extends WasmHost {
  readonly name: string;
  readonly variant: WasmVariant;
  readonly threads = 2;
  readonly options: Readonly<Opts>;
  /** Calls run on two threads / on one (size gates, or after the worker was lost). */
  readonly calls = { threaded: 0, single: 0 };
  private readonly kt: ThreadedExports;
  private readonly ctl: Int32Array;
  private readonly sync: Int32Array;
  private readonly syncAddr: number;
  private readonly mainCanWait: boolean;
  private worker: WorkerHandle | null = null;
  /** createLazy: what starting the worker needs, until the first call big enough for it. */
  private deferred: { init: WorkerInit; url: URL | string } | null = null;
  private startedAt = 0;
  private seq = 0;
  private stopping = false;
  /** A two-thread call was posted and the worker has not been seen leaving it yet. */
  private pending = false;
  private lost: string | null = null;

  /**
   * Starts the worker and waits (blocking the calling thread) until it is ready. Node.js; in
   * browsers use `create`.
   */
  static createSync(options: ThreadedOptions = {}): ThreadedWasmBackend {
    const variant = options.variant ?? defaultVariant();
    checkVariant(variant);
    if (!canBlock()) {
      throw new Error('rnnkit: this thread may not block while the kernel worker starts (a browser\'s main thread); use await ThreadedWasmBackend.create()');
    }
    let mod = modules.get(variant);
    if (!mod) { mod = new WebAssembly.Module(moduleBytes(variant)); modules.set(variant, mod); }
    const b = new ThreadedWasmBackend(variant, mod, options);
    b.waitReadySync();
    return b;
  }

  /**
   * Returns at once, without a worker: the worker is started by the first call big enough for two
   * threads, and such calls run on one thread until it is ready (no call ever waits for it). What
   * the library does by default in Node.js on a machine with 2+ cores (see ../index.ts).
   */
  static createLazy(options: ThreadedOptions = {}): ThreadedWasmBackend {
    const variant = options.variant ?? defaultVariant();
    checkVariant(variant);
    let mod = modules.get(variant);
    if (!mod) { mod = new WebAssembly.Module(moduleBytes(variant)); modules.set(variant, mod); }
    return new ThreadedWasmBackend(variant, mod, options, true);
  }

  /** Starts the worker and resolves when it is ready (Node.js and browsers). */
  static async create(options: ThreadedOptions = {}): Promise<ThreadedWasmBackend> {
    const variant = options.variant ?? defaultVariant();
    checkVariant(variant);
    let mod = modules.get(variant);
    if (!mod) { mod = await WebAssembly.compile(moduleBytes(variant)); modules.set(variant, mod); }
    const b = new ThreadedWasmBackend(variant, mod, options);
    const deadline = performance.now() + Math.max(b.options.timeoutMs, STARTUP_MS);
    while (Atomics.load(b.ctl, C_STATE) === ST_STARTING) {
      if (b.lost) break;
      if (performance.now() > deadline) { b.terminate(); throw new Error('rnnkit: the kernel worker did not start'); }
      await new Promise((r) => setTimeout(r, 2));
    }
    if (Atomics.load(b.ctl, C_STATE) !== ST_READY) {
      b.terminate();
      throw new Error(`rnnkit: the kernel worker did not start${b.lost ? ` (${b.lost})` : ''}`);
    }
    return b;
  }

  private constructor(variant: WasmVariant, module: WebAssembly.Module, options: ThreadedOptions, lazy = false) {
    const opts: Opts = { ...DEFAULTS };
    for (const key of Object.keys(DEFAULTS) as (keyof Opts)[]) {
      const v = options[key];
      if (v !== undefined) {
        if (!(typeof v === 'number' && v >= 0)) throw new RangeError(`rnnkit: threads option ${key} must be a number >= 0, got ${v}`);
        opts[key] = v;
      }
    }
    if (opts.rowShare >= 1) throw new RangeError(`rnnkit: threads option rowShare must be below 1 (0: measured), got ${opts.rowShare}`);
    // (A lower gemmMinWork lowers it too: gemmMinWork 0 puts every product on two threads.)
    if (options.gemmMinWorkAwake === undefined) opts.gemmMinWorkAwake = Math.min(opts.gemmMinWorkAwake, opts.gemmMinWork);
    // The module declares a minimum of a few pages; start there and grow once the layout is known.
    const memory = ThreadedWasmBackend.sharedMemory();
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    const kt = instance.exports as unknown as ThreadedExports;
    super(kt, memory, 'rnnkit threaded wasm backend');
    this.kt = kt;
    this.variant = variant;
    this.name = `${variant}-threads`;
    this.options = opts;
    const scratchBytes = align64(kt.thread_scratch_bytes());
    const ctlAddr = this.base;
    this.syncAddr = ctlAddr + CTL_BYTES;
    const scratch0 = align64(this.syncAddr + SYNC_BYTES), scratch1 = scratch0 + scratchBytes;
    this.base = scratch1 + scratchBytes;
    const have = memory.buffer.byteLength;
    if (this.base > have) memory.grow(Math.ceil((this.base - have) / PAGE));
    kt.set_thread_scratch(scratch0);
    this.ctl = new Int32Array(memory.buffer, ctlAddr, CTL_BYTES >> 2);
    this.sync = new Int32Array(memory.buffer, this.syncAddr, SYNC_BYTES >> 2);
    this.mainCanWait = canBlock();
    this.sync[S_SPIN] = opts.spin;
    this.sync[S_SLICES] = Math.max(1, Math.round(opts.timeoutMs)); // 1 ms sleep slices
    this.sync[S_CANWAIT] = this.mainCanWait ? 1 : 0;
    this.sync[S_CANWAIT + 1] = 1;
    const init: WorkerInit = { module, memory, ctl: ctlAddr, sync: this.syncAddr, scratch: scratch1, spin: opts.spin };
    this.deferred = { init, url: options.workerUrl ?? new URL('./worker.js', import.meta.url) };
    if (!lazy) this.startWorker();
  }

  private startWorker(): void {
    const d = this.deferred!;
    this.deferred = null;
    this.startedAt = performance.now();
    this.worker = spawnWorker(d.url, (why) => this.workerGone(why));
    this.worker.post(d.init);
  }

  /**
   * Whether the worker can take a call now. A lazy backend starts it here (the first time a call
   * could use it) and answers false until it is ready; one that never gets ready is given up.
   */
  private workerReady(): boolean {
    if (this.lost !== null) return false;
    if (this.deferred) {
      try {
        this.startWorker();
      } catch (e) {
        this.deferred = null;
        this.giveUp(`cannot start the worker: ${(e as Error).message}`);
        return false;
      }
    }
    const state = Atomics.load(this.ctl, C_STATE);
    if (state === ST_READY) return true;
    if (state === ST_STARTING && performance.now() - this.startedAt > Math.max(this.options.timeoutMs, STARTUP_MS)) {
      this.giveUp('the worker did not start');
    }
    return false;
  }

  private static sharedMemory(): WebAssembly.Memory {
    // Shared memories reserve their maximum up front; try 4 GiB, then less (32-bit hosts).
    let err: unknown;
    for (const maximum of [MAX_PAGES, 16384, 4096]) {
      try {
        return new WebAssembly.Memory({ initial: 8, maximum, shared: true });
      } catch (e) {
        err = e;
      }
    }
    throw err;
  }

  private waitReadySync(): void {
    const deadline = performance.now() + Math.max(this.options.timeoutMs, STARTUP_MS);
    for (;;) {
      const s = Atomics.load(this.ctl, C_STATE);
      if (s === ST_READY) return;
      if (s === ST_DEAD || performance.now() > deadline) break;
      if (this.mainCanWait) Atomics.wait(this.ctl, C_STATE, s, 5);
    }
    this.terminate();
    throw new Error('rnnkit: the kernel worker did not start (see the worker\'s error, if any, on stderr)');
  }

  /** Whether calls can still use the worker (false once it was lost or terminated). */
  get threaded(): boolean {
    return (this.worker !== null || this.deferred !== null) && this.lost === null;
  }

  /**
   * Whether the worker is up and spinning, ready for a call without a wake-up: it spins for
   * `spin` iterations (~1 ms by default) after each call, then sleeps until the next.
   */
  get workerAwake(): boolean {
    return this.worker !== null && this.lost === null && Atomics.load(this.ctl, C_STATE) === ST_READY && Atomics.load(this.ctl, C_WSLEEP) === 0;
  }

  /**
   * Chunks of two-thread calls the worker has finished so far (the main thread takes the rest;
   * on a loaded machine the share shows how much the worker got to run).
   */
  get workerChunks(): number {
    return Atomics.load(this.sync, S_WORKER_CHUNKS);
  }

  /** Why the worker was given up (null while it works). */
  get lostReason(): string | null {
    return this.lost;
  }

  /** Stops the worker; the backend keeps working on one thread. */
  terminate(): void {
    if (!this.worker) {
      this.deferred = null; // a lazy backend whose worker never started
      this.lost ??= 'terminated';
      return;
    }
    this.stopping = true;
    // Retract a command the worker has not picked up (then C_TAKEN is settled for QUIT); one it
    // is running it finishes, and then it takes QUIT.
    if (this.pending) Atomics.compareExchange(this.ctl, C_TAKEN, (this.seq - 1) | 0, this.seq);
    this.pending = false;
    this.ctl[C_OP] = OP_QUIT;
    Atomics.store(this.ctl, C_SEQ, ++this.seq);
    Atomics.notify(this.ctl, C_SEQ);
    Atomics.store(this.sync, S_ABORT, 1);
    Atomics.notify(this.sync, S_DONE);
    this.worker.terminate();
    this.worker = null;
    this.lost ??= 'terminated';
  }

  private workerGone(why: string): void {
    Atomics.store(this.ctl, C_STATE, ST_DEAD);
    if (this.stopping || this.lost) return;
    this.giveUp(why);
  }

  private giveUp(why: string): void {
    if (this.lost) return;
    this.lost = why;
    // A worker that is only late (not dead) may still write where the last call's buffers were
    // until its termination lands: later calls lay out their buffers above all of those.
    this.base = align64(Math.max(this.top, this.base));
    Atomics.store(this.sync, S_ABORT, 1);
    Atomics.notify(this.sync, S_DONE);
    this.stopping = true;
    this.worker?.terminate();
    this.worker = null;
    warn(`rnnkit: the kernel worker thread was lost (${why}); continuing on one thread`);
  }

  /** Wakes a sleeping worker early (before copying the inputs), hiding part of its wake-up time. */
  private wake(): void {
    if (Atomics.load(this.ctl, C_WSLEEP) !== 0) Atomics.notify(this.ctl, C_SEQ, 1);
  }

  /**
   * Runs `exp` on both threads: posts (op, args) to the worker and runs thread 0 here. The kernel
   * returns on this thread once every chunk of the call is finished, so the outputs are complete;
   * the worker may still be on its way out of the kernel (it writes nothing more), and is joined
   * only before the next two-thread call re-initializes the sync block. Throws WorkerLost when
   * the worker died or stopped answering. `before`: JavaScript work on this thread that the call
   * neither reads nor writes, done once the command is posted (the worker starts on the chunks;
   * thread 0 claims what is left when it arrives).
   */
  private both(op: number, exp: (...a: number[]) => void, args: number[], before?: () => void): void {
    const ctl = this.ctl, sync = this.sync;
    // The worker reads OP_ARGC[op] arguments: a call with another count is the host's own bug.
    if (args.length !== OP_ARGC[op]) throw new Error(`${this.label}: operation ${op} takes ${OP_ARGC[op]} arguments, got ${args.length}`);
    this.join();
    sync[S_DONE] = 0;
    sync[S_CLAIM_LO] = 0;
    sync[S_CLAIM_PHASE] = -1; // no phase opened yet
    for (let line = 0; line < 4; line++) sync.fill(0, S_HALF + 16 * line, S_HALF + 16 * line + 2);
    for (let i = 0; i < args.length; i++) ctl[C_ARGS + i] = args[i]! | 0;
    ctl[C_OP] = op;
    const seq = this.seq = (this.seq + 1) | 0;
    Atomics.store(ctl, C_SEQ, seq); // publishes everything written above
    if (Atomics.load(ctl, C_WSLEEP) !== 0) Atomics.notify(ctl, C_SEQ, 1);
    this.pending = true;
    // Its error, if any, is thrown once this thread has done its part of the call.
    let beforeError: { e: unknown } | null = null;
    if (before) try { before(); } catch (e) { beforeError = { e }; }
    try {
      exp(0, this.syncAddr, ...args);
    } catch (e) {
      // A wait trapped: the worker gave up (abort flag) or held a chunk without progress.
      if (e instanceof WebAssembly.RuntimeError && Atomics.load(sync, S_ABORT) !== 0) {
        throw new WorkerLost('the worker stopped answering inside a kernel');
      }
      this.giveUp(`main thread error: ${(e as Error).message}`);
      throw e;
    }
    // (Each half a thread took was counted before it was computed, so before this call returned.)
    this.halves += sync[S_HALF + S_HALF_TAKEN]! + sync[S_HALF + 16 + S_HALF_TAKEN]!;
    if (beforeError) throw beforeError.e;
  }

  /**
   * Settles the last two-thread call: retracts it if the worker has not picked it up yet (the
   * main thread did all of its work), else waits (spin, then sleep in slices) until the worker
   * has left it.
   */
  private join(): void {
    if (!this.pending) return;
    const ctl = this.ctl, seq = this.seq;
    if (Atomics.compareExchange(ctl, C_TAKEN, (seq - 1) | 0, seq) === ((seq - 1) | 0)) {
      this.pending = false;
      return;
    }
    let i = 0, start = 0;
    const spin = this.options.spin;
    for (;;) {
      const d = Atomics.load(ctl, C_DONE);
      if (d === seq) { this.pending = false; return; }
      if (Atomics.load(ctl, C_STATE) !== ST_READY) throw new WorkerLost('the worker stopped');
      if (++i < spin) continue;
      i = 0;
      const now = performance.now();
      if (start === 0) start = now;
      else if (now - start > this.options.timeoutMs) throw new WorkerLost(`no answer from the worker in ${Math.round(now - start)} ms`);
      if (this.mainCanWait) {
        Atomics.store(ctl, C_MWAIT, 1);
        Atomics.wait(ctl, C_DONE, d, 5);
        Atomics.store(ctl, C_MWAIT, 0);
      }
    }
  }

  /** Runs `call(threaded)`; if the worker is lost on the way, gives it up and reruns on one thread. */
  private withFallback(threaded: boolean, call: (threaded: boolean) => void): void {
    if (!threaded) { this.calls.single++; call(false); return; }
    try {
      call(true);
      this.calls.threaded++;
    } catch (e) {
      if (!(e instanceof WorkerLost)) throw e;
      this.giveUp(e.message);
      this.calls.single++;
      call(false);
    }
  }

  // ---- WasmHost hooks: two threads for the kernels above the size gates ----

  protected override session(parallel: boolean, body: (mt: boolean) => void): void {
    const mt = parallel && this.workerReady();
    if (mt) this.wake();
    this.withFallback(mt, body);
  }

  protected override gemmParallel(M: number, N: number, K: number, engaged = false, byGemv = false, packedB = false): boolean {
    const work = M * N * K, o = this.options;
    // One or two rows computed by gemv (nothing packed): split like a batch-1 sequence step.
    if (byGemv) return work >= o.seqMinWork;
    // 1-4 rows: one block of rows, split by columns (gemm_mt).
    if (M <= 4) return work >= o.fewRowsMinWork;
    if (M < o.gemmMinRows) return false;
    // With the partner busy with the call's sequence loop, splitting pays from an eighth of the size.
    if (engaged) return work >= o.gemmMinWork / 8;
    // A worker still spinning after its last call: from gemmMinWorkAwake, or a quarter of it when
    // op(B) is packed already (the product is then all the call does).
    if (this.workerAwake) return work >= (packedB ? o.gemmMinWorkAwake / 4 : o.gemmMinWorkAwake);
    return work >= o.gemmMinWork;
  }

  protected override seqParallel(B: number, G: number, H: number): boolean {
    return H >= this.options.seqMinHidden && B * G * H >= this.options.seqMinWork;
  }

  protected override elementwiseParallel(n: number): boolean {
    return n >= this.options.elementwiseMin;
  }

  protected override runAdam(mt: boolean, args: number[]): void {
    if (mt) this.both(OP_ADAM, this.kt.adam_mt, args);
    else super.runAdam(false, args);
  }

  protected override runSoftmax(mt: boolean, args: number[]): void {
    if (mt) this.both(OP_SOFTMAX, this.kt.softmax_rows_mt, args);
    else super.runSoftmax(false, args);
  }

  /** With two threads, `before` runs on this thread once the worker has the product. */
  protected override runGemm(mt: boolean, args: number[], before?: () => void): void {
    if (mt) this.both(OP_GEMM, this.kt.gemm_mt, args, before);
    else { before?.(); this.kt.gemm(...args); }
  }

  protected override runGemmChecked(mt: boolean, args: number[], before?: () => void): void {
    if (mt) this.both(OP_GEMM_CHECKED, this.kt.gemm_checked_mt, args, before);
    else super.runGemmChecked(false, args, before);
  }

  protected override runB1Project(mt: boolean, args: number[]): void {
    if (mt) this.both(OP_B1_PROJECT, this.kt.b1_project_mt, args);
    else super.runB1Project(false, args);
  }

  protected override quiesce(): boolean {
    try {
      this.join();
      return true;
    } catch (e) {
      if (!(e instanceof WorkerLost)) throw e;
      this.giveUp(e.message);
      return false;
    }
  }

  protected override runStackStep(mt: boolean, args: number[]): void {
    if (mt) this.both(OP_STACK_STEP, this.kt.stack_step_mt, args);
    else super.runStackStep(false, args);
  }

  protected override runGemmBatched(mt: boolean, args: number[]): void {
    if (mt) this.both(OP_GEMM_BATCHED, this.kt.gemm_batched_mt, args);
    else super.runGemmBatched(false, args);
  }

  protected override runGemmSide(mt: boolean, gemmArgs: number[], sideArgs: number[] | null): void {
    if (!sideArgs) this.runGemm(mt, gemmArgs);
    else if (mt) this.both(OP_GEMM_SIDE, this.kt.gemm_side_mt, [...gemmArgs, ...sideArgs]);
    else super.runGemmSide(false, gemmArgs, sideArgs);
  }

  protected override runSeqForward(mt: boolean, args: number[]): void {
    if (mt) this.rowLoop(OP_SEQ_FORWARD, this.kt.seq_forward_mt, args);
    else this.kt.seq_forward(...args);
  }

  protected override runSeqBackward(mt: boolean, args: number[]): void {
    if (mt) this.rowLoop(OP_SEQ_BACKWARD, this.kt.seq_backward_mt, args);
    else this.kt.seq_backward(...args);
  }

  /** Thread 0's share of the threads' speed, as the sequence loops measured it (see rowSplit). */
  private share = 0.5;
  /**
   * Times a thread of a sequence loop, out of row groups, took part of the rows its partner was
   * running (their remaining steps) instead of waiting for it (a statistic).
   */
  get rangesTaken(): number { return this.taken; }
  private taken = 0;
  /** Halves of steps split by units (below 8 rows) a thread took from its partner, late to the step (a statistic). */
  get halvesTaken(): number { return this.halves; }
  private halves = 0;

  /**
   * A two-thread sequence loop (arguments: kind, resetAfter, T, B, ...): from 8 rows, the row
   * groups split by the threads' measured speeds (or options.rowShare), and the speeds this call
   * shows folded into the estimate — half of the way to it, and within [0.2, 0.8].
   */
  private rowLoop(op: number, exp: (...a: number[]) => void, args: number[]): void {
    const T = args[2]!, B = args[3]!, fixed = this.options.rowShare > 0, sync = this.sync;
    const r0 = B >= 8 ? rowSplit(B, fixed ? this.options.rowShare : this.share) : 0;
    this.join(); // (the worker has left the last call: it reads and writes these words)
    sync[S_SPLIT] = r0;
    sync.fill(0, S_PROG, S_PROG + S_LINE_WORDS);
    sync.fill(0, S_PROG + 16, S_PROG + 16 + S_LINE_WORDS);
    this.both(op, exp, args);
    this.taken += sync[S_PROG + S_TAKEN]! + sync[S_PROG + 16 + S_TAKEN]!;
    // Each thread ran one group, or the measure tells nothing.
    if (r0 === 0 || fixed || sync[S_PROG + 2] !== 1 || sync[S_PROG + 18] !== 1) return;
    const m = measuredShare(r0, B, T, sync[S_PROG + 1]!, sync[S_PROG + 17]!);
    if (m !== null) this.share = Math.min(0.8, Math.max(0.2, this.share + 0.5 * (m - this.share)));
  }

  /** Thread 0's share of the threads' speed as the sequence loops measured it (0.5 until one has). */
  get rowShareEstimate(): number { return this.share; }

  protected override seqForwardScratch(mt: boolean, code: number, resetAfter: number, B: number, H: number, I: number): number {
    return mt ? this.kt.seq_forward_mt_scratch_bytes(code, resetAfter, B, H, I) : this.kt.seq_forward_scratch_bytes(code, resetAfter, B, H, I);
  }

  protected override seqBackwardScratch(mt: boolean, code: number, B: number, H: number): number {
    return mt ? this.kt.seq_backward_mt_scratch_bytes(code, B, H) : this.kt.seq_backward_scratch_bytes(code, B, H);
  }
}
