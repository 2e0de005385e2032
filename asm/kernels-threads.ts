// rnnkit two-thread kernels (AssemblyScript). NOT a module of its own: tools/build-wasm.mjs
// appends this file to asm/kernels.ts and compiles the concatenation as one source with
// `--enable threads --importMemory --sharedMemory` (builds 'simd-threads' and
// 'relaxed-threads'), so everything here sees the single-threaded kernels' internals (the
// packed GEMM, the gate passes) without those being exported from the single-threaded builds,
// whose binaries stay exactly what asm/kernels.ts alone compiles to.
//
// Execution model (see src/kernels/wasm/threaded.ts): two instances of this module, one per
// thread (the main thread is thread 0, a worker thread 1), on one shared memory; each instance
// has its own packed-A block and edge tile (set_thread_scratch). For one call both threads run
// the same *_mt export with the same arguments and their own `tid`.
//
// Work is a sequence of phases, each cut into chunks (row blocks of a GEMM; groups of batch rows
// of a sequence, each run through every step — rows are independent sequences, so from 8 rows
// the threads need not meet per step, and a thread out of rows takes half of what its partner
// has left, see give_rows; below that, blocks of 8·k hidden units of one step). Threads claim chunks dynamically from the two ends of a phase —
// thread 0 from the front, thread 1 from the back, so with equal speeds each keeps the same half
// (and its weight panels stay in its core's cache) — and count finished chunks; a phase starts
// once every chunk of the previous one is finished. So a thread never waits for its partner
// unless the partner holds an unfinished chunk: a descheduled or sleeping partner (a loaded
// machine) just leaves its share to the running thread, and the call degrades to one-thread speed
// instead of stalling at a barrier.
//
// Results are bit-identical to the single-threaded build: every output element is computed by
// the same kernel code in the same order whichever thread runs its chunk (GEMM row blocks start at
// multiples of 4, so the 4-row tiles and the lone-last-row kernel fall on the same rows; a
// sequence's row groups run the one-thread loop's own step functions on their rows, which also
// start at multiples of 4; per-step products split by hidden units are split by output columns,
// each computed alone; the gate passes are elementwise).
//
// Memory discipline: a thread writes shared memory only while it holds a claimed chunk (its
// private packing of a step's A operand is done lazily, on its first chunk of the phase), so once
// every chunk is finished nothing writes any more — the main thread may then return and reuse the
// memory while a late partner is still leaving the kernel (the loader joins it before the next
// two-thread call, which re-initializes the sync block).

// ---- sync block (64-byte aligned, owned and initialized per call by the loader) ----
// Three cache lines, so that a thread spinning on one word does not pull away the line its
// partner is about to write, and the settings read at every wait stay shared in both cores:
//   +0   chunks finished in this call        +4   chunks finished by thread 1 since the start
//                                                  (never reset; a statistic)
//   +64  claim word (i64): phase << 32 | hi << 16 | lo; chunks [lo, hi) of `phase` are unclaimed
//   +128 sleepers (threads inside wait32)    +132 abort flag (nonzero: a thread gave up)
//   +136 spin iterations before sleeping     +140 sleep slices (1 ms) without progress before
//                                                  giving up, 0 = never (threads that may block)
//   +144 thread 0 may block (1/0)            +148 thread 1 may block (1/0)
//   +152 rows of the first row group of a sequence loop (see row_split; 0: row_group's groups)
//   +192, +256 thread 0's and thread 1's line (reset by the loader per call): steps its first
//        row group has run, the partner's count when it finished that group, the groups it ran;
//        then the rows it gives its partner (see give_rows): +12 a request (set by the partner),
//        +16 the answer (1 rows given, 2 refused), +20 and +24 the rows [lo, hi) given and +28
//        the step they start at; +32 the ranges it took from its partner (a statistic)
//   +320, +384 the halves of steps split by units (see b1_next_half): the last step whose half h was
//        claimed, by thread h or taken by its partner — written by its owner at every step, so
//        on a line of its own, which the partner reads only when it would take the half; +4 the
//        halves thread h took from its partner (a statistic)
//   +448, +512 the last step whose half h is finished (b1_half_done), spun on by the partner
//        (the loader zeroes these lines' words before each call)
const SY_DONE: usize = 0;
const SY_WORKER_CHUNKS: usize = 4;
const SY_CLAIM: usize = 64;
const SY_SLEEP: usize = 128;
const SY_ABORT: usize = 132;
const SY_SPIN: usize = 136;
const SY_SLICES: usize = 140;
const SY_CANWAIT: usize = 144;
const SY_SPLIT: usize = 152;
const SY_PROG: usize = 192;
const SY_HALF: usize = 320;
const SY_HALF_DONE: usize = 448;
// Words of a thread's line, at SY_PROG + 64·tid.
const LN_REQ: usize = 12;
const LN_ANS: usize = 16;
const LN_LO: usize = 20;
const LN_HI: usize = 24;
const LN_STEP: usize = 28;
const LN_TAKEN: usize = 32;
const ANS_GIVEN = 1, ANS_REFUSED = 2;

/** Bytes of per-thread scratch: the packed-A block, the edge tile (TILE_BYTES) and pack_a_5t_wide's buffer. */
export function thread_scratch_bytes(): usize { return align64(<usize>APACK_BYTES) + align64(<usize>TILE_BYTES) + <usize>WIDE_BYTES; }

/** Points this instance's packed-A block, edge tile and wide buffer at `p` (thread_scratch_bytes() bytes). */
export function set_thread_scratch(p: usize): void {
  threadApack = p;
  threadTile = p + align64(<usize>APACK_BYTES);
  threadWide = threadTile + align64(<usize>TILE_BYTES);
}

/** Sink of touch_lines (a global, so that the loads are not dead code). */
let touched: i32 = 0;

/** Loads one word of every 64-byte line of [p, p + bytes): the reads overlap instead of queueing. */
function touch_lines(p: usize, bytes: usize): i32 {
  let x: i32 = 0;
  for (let o: usize = 0; o < bytes; o += 64) x |= load<i32>(p + o);
  return x;
}

/** Chunks the last claim of this thread took (wasm globals are per instance, i.e. per thread). */
let claimedRun: i32 = 1;

/**
 * Claims chunks of phase `p` (n chunks): thread 0 the lowest unclaimed, thread 1 the highest.
 * One chunk, or with `den` > 0 a run of max(1, (unclaimed + 1) / den) chunks (fewer claims per
 * phase: each is a round trip of a cache line between the cores); with `mid` >= 0 a thread's
 * run reaches `mid` while its side of it has unclaimed chunks (thread 0 [lo, mid), thread 1
 * [mid, hi), each cut to what is left: a late thread's partner may have taken some of them).
 * Returns the run's first chunk and sets claimedRun to its length; -1 when none is left. The
 * first thread to ask for a phase opens it (the caller has waited for the previous phase to
 * finish, so it is fully claimed).
 */
function claim(sync: usize, tid: i32, p: i32, n: i32, den: i32 = 0, mid: i32 = -1): i32 {
  for (;;) {
    const w = atomic.load<i64>(sync, SY_CLAIM);
    const wp = <i32>(w >> 32);
    if (wp < p) {
      atomic.cmpxchg<i64>(sync, w, (<i64>p << 32) | (<i64>n << 16), SY_CLAIM);
      continue;
    }
    if (wp > p) return -1;
    const lo = <i32>(w & 0xffff), hi = <i32>((w >> 16) & 0xffff);
    if (lo >= hi) return -1;
    let k = den > 0 ? max(1, (hi - lo + 1) / den) : 1;
    // Up to mid, but never past what is left: the partner may have taken chunks of this side.
    if (tid == 0 && lo < mid) k = min(mid, hi) - lo;
    else if (tid != 0 && mid >= 0 && hi > mid) k = hi - max(mid, lo);
    const nw = tid == 0 ? w + k : w - (<i64>k << 16);
    if (atomic.cmpxchg<i64>(sync, w, nw, SY_CLAIM) == w) {
      claimedRun = k;
      return tid == 0 ? lo : hi - k;
    }
  }
  return -1; // not reached
}

/** Counts `n` finished chunks (after all their writes) and wakes a sleeping partner. */
function chunk_done(sync: usize, tid: i32, n: i32 = 1): void {
  if (tid != 0) atomic.add<i32>(sync, n, SY_WORKER_CHUNKS);
  atomic.add<i32>(sync, n, SY_DONE);
  if (atomic.load<i32>(sync, SY_SLEEP) != 0) atomic.notify(sync + SY_DONE, 2);
}

/**
 * Sleeps one slice (1 ms) on the word at `at` while it holds `v`, counted as a sleeper, so that
 * whoever changes the word sees the sleeper and notifies (or wait32 sees the change and returns).
 * Returns `slept` + 1, the slices slept since the waiter last saw progress (the caller resets it
 * to 0 then); past `slices` (> 0) without progress the partner is given up: abort flag, trap.
 */
function nap(sync: usize, at: usize, v: i32, slices: i32, slept: i32): i32 {
  atomic.add<i32>(sync, 1, SY_SLEEP);
  memory.atomic.wait32(at, v, 1_000_000);
  atomic.sub<i32>(sync, 1, SY_SLEEP);
  if (slices > 0 && ++slept > slices) {
    atomic.store<i32>(sync, 1, SY_ABORT);
    unreachable();
  }
  return slept;
}

/**
 * Waits until `target` chunks of this call are finished: spins, then (where the thread may
 * block) sleeps in 1 ms slices. Traps when the partner gave up (abort flag) or made no progress
 * for the slice budget — a dead partner holding a chunk — so nothing hangs.
 */
function wait_done(sync: usize, tid: i32, target: i32): void {
  let d = atomic.load<i32>(sync, SY_DONE);
  if (d >= target) return;
  const spin = atomic.load<i32>(sync, SY_SPIN);
  const slices = atomic.load<i32>(sync, SY_SLICES);
  const canWait = atomic.load<i32>(sync + (<usize>tid << 2), SY_CANWAIT) != 0;
  let i = 0, slept = 0, seen = d;
  for (;;) {
    d = atomic.load<i32>(sync, SY_DONE);
    if (d >= target) return;
    if (atomic.load<i32>(sync, SY_ABORT) != 0) unreachable();
    if (++i < spin) continue;
    i = 0;
    // A thread that may not block (a browser's main thread) spins on, relying on the abort flag.
    if (!canWait) continue;
    // Announce the sleeper before wait32 checks the count: either the finisher sees the sleeper
    // and notifies, or wait32 sees the new count and returns at once.
    if (d != seen) { seen = d; slept = 0; }
    slept = nap(sync, sync + SY_DONE, d, slices, slept);
  }
}

// ---- Steps split by hidden units (below 8 rows): a half for each thread ----
// A batch-1 step lasts a few microseconds (LSTM H = 256: 18 and 19 passes of ~0.35 µs on the two
// threads), so how the threads meet shows in it: claiming chunks from the shared claim word and
// counting them in the shared done count moved those lines between the cores at every claim and
// count, each a locked operation waiting for the line (W5a, bench:ab: 0.955 of the time with the
// fixed halves below). So a step split by units is cut into two fixed halves — at batch 1 thread
// 0's the plan's chunks before its middle (through M0), thread 1's the rest, what the claims gave
// each when neither was late; at 2-7 rows the first and the second half of the unit chunks — and
// a thread claims its own half on a line that only it writes (a locked
// operation on a line in its own cache), computes it, publishes it finished on a second line, and
// waits on its partner's. A partner late to a step (not yet in the call, waking from its sleep;
// descheduled) leaves its half to be taken: after B1_PATIENCE spins without it, the waiting thread
// claims that half itself if it is still unclaimed, and the owner, arriving, finds it taken and
// waits for it as for the other half. Every unit is computed by the same code whichever thread
// runs it: the same bits.

/** Spins of a thread waiting at a step before it tries to take its partner's half (~2 µs). */
const B1_PATIENCE: i32 = 400;

/** Claims half h of step n (n >= 1, counted within the call): false when it was claimed already. */
function b1_half_claim(sync: usize, h: i32, n: i32): bool {
  const at = sync + SY_HALF + (<usize>h << 6);
  for (;;) {
    const w = atomic.load<i32>(at);
    if (w >= n) return false;
    if (atomic.cmpxchg<i32>(at, w, n) == w) return true;
  }
  return false; // not reached
}

/**
 * The half of step n that thread tid computes first: its own, unless its partner took it
 * (then as b1_next_half). Each half computed is published (b1_half_done), then b1_next_half says
 * what is next:
 *   for (let h = b1_first_half(sync, tid, n); h >= 0; h = b1_next_half(sync, tid, n)) { ...; b1_half_done(...); }
 */
// @ts-ignore: decorator
@inline function b1_first_half(sync: usize, tid: i32, n: i32): i32 {
  return b1_half_claim(sync, tid, n) ? tid : b1_next_half(sync, tid, n);
}

/**
 * Publishes half h of step n finished (after all of its writes) and wakes a sleeping
 * partner; the worker (tid 1) counts the half's `chunks` in its statistic as chunk_done does.
 */
function b1_half_done(sync: usize, tid: i32, h: i32, n: i32, chunks: i32): void {
  if (tid != 0) atomic.add<i32>(sync, chunks, SY_WORKER_CHUNKS);
  const at = sync + SY_HALF_DONE + (<usize>h << 6);
  atomic.store<i32>(at, n);
  if (atomic.load<i32>(sync, SY_SLEEP) != 0) atomic.notify(at, 2);
}

/**
 * The half of step n that thread tid computes next: waits until both halves are finished
 * (-1) — spinning, then sleeping, trapping on the abort flag or a partner without progress, as
 * wait_done — unless, after B1_PATIENCE spins, it claims its partner's unfinished half (1 - tid).
 */
function b1_next_half(sync: usize, tid: i32, n: i32): i32 {
  if (atomic.load<i32>(sync, SY_HALF_DONE) >= n && atomic.load<i32>(sync, SY_HALF_DONE + 64) >= n) return -1;
  const spin = atomic.load<i32>(sync, SY_SPIN);
  const slices = atomic.load<i32>(sync, SY_SLICES);
  const canWait = atomic.load<i32>(sync + (<usize>tid << 2), SY_CANWAIT) != 0;
  let i = 0, patience = 0, slept = 0, seen = -1, tried = false;
  for (;;) {
    const d0 = atomic.load<i32>(sync, SY_HALF_DONE), d1 = atomic.load<i32>(sync, SY_HALF_DONE + 64);
    if (d0 >= n && d1 >= n) return -1;
    // The half not finished: the partner's, or this thread's own when the partner took it. The
    // partner's is tried once, after B1_PATIENCE spins or before the first sleep, if sooner.
    const h = d0 < n ? 0 : 1;
    if (h != tid && !tried && (++patience >= B1_PATIENCE || i + 1 >= spin)) {
      tried = true;
      if (b1_half_claim(sync, h, n)) {
        atomic.add<i32>(sync + SY_HALF + (<usize>tid << 6), 1, 4); // (a statistic)
        return h;
      }
    }
    if (atomic.load<i32>(sync, SY_ABORT) != 0) unreachable();
    if (++i < spin) continue;
    i = 0;
    if (!canWait) continue;
    if (d0 + d1 != seen) { seen = d0 + d1; slept = 0; }
    slept = nap(sync, sync + SY_HALF_DONE + (<usize>h << 6), h == 0 ? d0 : d1, slices, slept);
  }
  return -1; // not reached
}

// ---- products with a pre-packed A operand ----

/** Bytes of op(A) (M×K) packed over all K blocks as gemm_packed blocks them. */
// @ts-ignore: decorator
@inline function apack_bytes(M: i32, K: i32): usize {
  return align64(<usize>((M + 3) & ~3) * <usize>K * 4);
}

/** Packs op(A) (M×K, element [i,k] at A + i*rs + k*ks) for every K block of gemm_packed. */
function pack_a_all(M: i32, K: i32, A: usize, rs: usize, ks: usize, dst: usize): void {
  const M4 = <usize>((M + 3) & ~3);
  const nkb = (K + KC - 1) / KC;
  const kcMax = (K + nkb - 1) / nkb;
  for (let pc = 0; pc < K; pc += kcMax) {
    pack_a_4(M, min(kcMax, K - pc), A + <usize>pc * ks, rs, ks, dst + M4 * <usize>pc * 4);
  }
}

/**
 * C[M,N] = A·op(B) with A packed by pack_a_all and op(B) packed (panels at P + p*pstride): the
 * same tiles, K blocks and accumulation order as gemm_packed (accumulate = false, K >= 1), so the
 * same results, without re-packing A for every block of columns.
 */
function gemm_prepacked(M: i32, N: i32, K: i32, Ap: usize, P: usize, pstride: usize, C: usize, ldc: i32): void {
  if (M <= 0 || N <= 0) return;
  const ldcB = <usize>ldc << 2;
  const M4 = <usize>((M + 3) & ~3);
  const np = (N + 7) >> 3;
  const nkb = (K + KC - 1) / KC;
  const kcMax = (K + nkb - 1) / nkb;
  for (let pc = 0; pc < K; pc += kcMax) {
    const kc = min(kcMax, K - pc);
    const acc = pc > 0;
    const bK = P + (<usize>pc << 5);
    const aK = Ap + M4 * <usize>pc * 4;
    const groupBytes = <usize>kc << 4;
    for (let jp = 0; jp < np; jp++) {
      const nr = min(8, N - (jp << 3));
      const b = bK + <usize>jp * pstride;
      const cj = C + (<usize>jp << 5);
      let a = aK;
      for (let i = 0; i + 1 < M; i += 4) { // (a lone last row: after the panels, as gemm_packed)
        gemm_f32_4x8(kc, a, b, cj + <usize>i * ldcB, ldcB, acc, min(4, M - i), nr, 0);
        a += groupBytes;
      }
    }
    if (M % 4 == 1) gemm_row_panels(kc, aK + <usize>(M >> 2) * groupBytes, bK, pstride, np, N, C + <usize>(M - 1) * ldcB, acc, 0);
  }
}

// ---- Adam ----

/**
 * adam_update for thread `tid` of 2: blocks of at least 16,384 elements (at most 4,096 blocks),
 * claimed one at a time. Elementwise, so the results are adam_update's whoever runs a block.
 */
export function adam_mt(tid: i32, sync: usize, p: usize, g: usize, m: usize, v: usize, vh: usize, n: i32, cf: usize, mo: usize, vo: usize, po: usize): void {
  const per = max(16384, ((n + 4095) / 4096 + 1) & ~1), nc = (n + per - 1) / per;
  for (let c = claim(sync, tid, 0, nc); c >= 0; c = claim(sync, tid, 0, nc)) {
    adam_range(p, g, m, v, vh, c * per, min(n, (c + 1) * per), cf, mo, vo, po);
    chunk_done(sync, tid);
  }
  wait_done(sync, tid, nc);
}

// ---- softmax ----

/**
 * softmax_rows for thread `tid` of 2: blocks of whole rows (at least 16,384 values each, at most
 * 64 blocks), claimed one at a time. Each row is computed alone, so the results are softmax_rows'
 * whoever runs a block.
 */
export function softmax_rows_mt(tid: i32, sync: usize, x: usize, y: usize, rows: i32, k: i32, sums: usize): void {
  const per = max(max(1, 16384 / max(k, 1)), (rows + 63) / 64), nc = (rows + per - 1) / per;
  const rowB = <usize>k << 2;
  for (let c = claim(sync, tid, 0, nc); c >= 0; c = claim(sync, tid, 0, nc)) {
    const r0 = c * per, r1 = min(rows, r0 + per);
    softmax_rows(x + <usize>r0 * rowB, y + <usize>r0 * rowB, r1 - r0, k, sums + (<usize>r0 << 3));
    chunk_done(sync, tid);
  }
  wait_done(sync, tid, nc);
}

// ---- batch-1 input projection ----

/**
 * b1_project for thread `tid` of 2: the chunks of the plan claimed in runs, each thread its half
 * first (then half of what is left of a late partner's), each brought up to date (`mode`) and
 * multiplied by the thread that claims it; then the edge rows on thread 0 (the calling thread:
 * the host reads y when its call returns). A row's bits do not depend on who computes it.
 */
export function b1_project_mt(tid: i32, sync: usize, kind: i32, H: i32, K: i32, W: usize, P: usize, mode: i32, x: usize, bias: usize, y: usize): void {
  b1_plan(kind, H);
  const nc = b1_chunks(), mid = b1Qa + 1;
  for (let c0 = claim(sync, tid, 0, nc, 2, mid); c0 >= 0; c0 = claim(sync, tid, 0, nc, 2, mid)) {
    const run = claimedRun;
    if (mode != B1_CURRENT) for (let c = c0; c < c0 + run; c++) b1_refresh(kind, H, K, W, P, c, mode);
    gemv_b1(kind, H, K, P, c0, c0 + run, 0, gate_blocks(kind), x, y, bias);
    chunk_done(sync, tid, run);
  }
  wait_done(sync, tid, nc);
  // Once every chunk is done (and copied, in its mode): the edge rows, on the calling thread.
  if (tid == 0) b1_edge_rows(gate_width(kind, H), K, b1_copy_at(kind, K, P), x, bias, y);
}

// ---- batched GEMM ----

/**
 * `count` independent products as gemm's (product c: A + c·sA, B + c·sB, C + c·sC floats), each
 * computed whole by the thread that claims it — one per batch row of an attention (its scores, its
 * weighted sum), too small to split. P: two scratch blocks of `pBytes`, one per thread.
 */
export function gemm_batched_mt(
  tid: i32, sync: usize, count: i32, transA: bool, transB: bool, M: i32, N: i32, K: i32,
  A: usize, sA: i32, lda: i32, B: usize, sB: i32, ldb: i32, C: usize, sC: i32, ldc: i32, accumulate: bool, P: usize, pBytes: i32,
): void {
  const Pt = P + <usize>tid * <usize>pBytes;
  for (let c = claim(sync, tid, 0, count); c >= 0; c = claim(sync, tid, 0, count)) {
    gemm(transA, transB, M, N, K, A + (<usize>c * sA << 2), lda, B + (<usize>c * sB << 2), ldb, C + (<usize>c * sC << 2), ldc, accumulate, Pt, 0, 0);
    chunk_done(sync, tid);
  }
  wait_done(sync, tid, count);
}

// ---- GEMM ----

/**
 * gemm for thread `tid` of 2 (same arguments on both threads; see `gemm`). P: gemm_scratch_bytes.
 * Phase 0 packs op(B) by blocks of panels (none when PB holds it packed already), phase 1
 * multiplies by blocks of rows (multiples of 4),
 * or a product with a long K by parts of K (k_split), whose sum is then phase 2.
 */
export function gemm_mt(
  tid: i32, sync: usize, transA: bool, transB: bool, M: i32, N: i32, K: i32,
  A: usize, lda: i32, B: usize, ldb: i32, C: usize, ldc: i32, accumulate: bool, P: usize, bias: usize, PB: usize,
): void {
  gemm_run(tid, sync, transA, transB, M, N, K, A, lda, B, ldb, C, ldc, accumulate, P, bias, PB, 0, 0, 0, 0, 0, 0, 0);
}

/**
 * gemm_checked for thread `tid` of 2: the packing phase compares each block of panels' rows of W
 * with the copy B and packs again the blocks that changed (refresh_panels), each thread its
 * blocks, before the products read the panels.
 */
export function gemm_checked_mt(
  tid: i32, sync: usize, transA: bool, transB: bool, M: i32, N: i32, K: i32,
  A: usize, lda: i32, B: usize, ldb: i32, C: usize, ldc: i32, accumulate: bool, P: usize, bias: usize, PB: usize,
  W: usize, flag: usize,
): void {
  gemm_run(tid, sync, transA, transB, M, N, K, A, lda, B, ldb, C, ldc, accumulate, P, bias, PB, 0, 0, 0, 0, 0, W, flag);
}

/**
 * gemm_mt with a side job as the first chunk of the products' phase: the per-token sums of the
 * gate gradients (ids != 0: scatter_add_rows(src, ids, n, w, dst)) or the column sums of n rows of
 * w floats (ids == 0: col_sum(src, n, w, dst), a bias gradient). The main thread runs it (a pass
 * over memory, the worker idle while it ran alone) while the worker starts on the product, then
 * joins it (with K in two parts, the worker then takes part 0's last rows: side_tail_rows). Both
 * must be independent: the side job reads src and writes dst only, which the product neither
 * writes nor reads. The results are those of the side job, then the gemm.
 */
export function gemm_side_mt(
  tid: i32, sync: usize, transA: bool, transB: bool, M: i32, N: i32, K: i32,
  A: usize, lda: i32, B: usize, ldb: i32, C: usize, ldc: i32, accumulate: bool, P: usize, bias: usize, PB: usize,
  src: usize, ids: usize, n: i32, w: i32, dst: usize,
): void {
  gemm_run(tid, sync, transA, transB, M, N, K, A, lda, B, ldb, C, ldc, accumulate, P, bias, PB, src, ids, n, w, dst, 0, 0);
}

/**
 * Rows of part 0 of a product split along K (M x N, K) that thread 1 takes after part 1 when
 * thread 0 runs a side job first (per-token sums, ids != 0, or the column sums of n rows of w
 * floats): the job's cost in rows of part 0, halved (4 to M/2), so that both threads end
 * together. The other rows are a multiple of 4 (the tail starts where a 4-row tile of the whole
 * would: a lone last row stays the last row of a chunk), so the bits are those of one chunk. The
 * job's cost per element in multiply-adds of the product, measured on the AMD host: W3's 12,800 x
 * 512 per-token sums 3.1 ms beside 36 ms for dW_hh's 839 M multiply-adds (11 each); 7,228 x 512
 * column sums 1.2 ms beside dW_ih's 10.7 ms for 237 M (8 each). A row of part 0 costs N·K/2.
 */
function side_tail_rows(M: i32, N: i32, K: i32, n: i32, w: i32, ids: usize): i32 {
  const cost = <i64>max(n, 0) * <i64>max(w, 0) * (ids != 0 ? 11 : 8);
  const rows = max(4, min(M >> 1, <i32>min<i64>(<i64>M, cost / (<i64>N * <i64>K))));
  return M - ((M - rows) & ~3);
}

/** gemm_side_mt's side job. */
function side_job(src: usize, ids: usize, n: i32, w: i32, dst: usize): void {
  if (ids != 0) scatter_add_rows(src, ids, n, w, dst);
  else col_sum(src, n, w, dst);
}

/**
 * gemm_mt with an optional side job (src != 0: see gemm_side_mt), or with the packed op(B)
 * checked against weights W first (W != 0: see gemm_checked_mt).
 */
function gemm_run(
  tid: i32, sync: usize, transA: bool, transB: bool, M: i32, N: i32, K: i32,
  A: usize, lda: i32, B: usize, ldb: i32, C: usize, ldc: i32, accumulate: bool, P: usize, bias: usize, PB: usize,
  src: usize, ids: usize, n: i32, w: i32, dst: usize, W: usize, flag: usize,
): void {
  const side = src != 0 ? 1 : 0;
  if (M <= 0 || N <= 0) { // both threads return (same arguments), thread 0 after the side job
    if (side && tid == 0) side_job(src, ids, n, w, dst);
    return;
  }
  if (rows_by_gemv(transA, transB, M, K)) {
    // Blocks of columns, each a gemv over rows of B as it lies (nothing packed).
    const nc = (N + GEMV_COLS - 1) / GEMV_COLS;
    for (let c = claim(sync, tid, 0, side + nc); c >= 0; c = claim(sync, tid, 0, side + nc)) {
      if (c < side) side_job(src, ids, n, w, dst);
      else {
        const j0 = (c - side) * GEMV_COLS;
        gemm_by_gemv(M, K, A, lda, B, ldb, C, ldc, accumulate, bias, j0, min(N, j0 + GEMV_COLS));
      }
      chunk_done(sync, tid);
    }
    wait_done(sync, tid, side + nc);
    return;
  }
  const np = (N + 7) >> 3;
  const ppc = max(1, (np + 15) / 16); // panels per packing chunk
  // op(B) packed already at PB (see gemm): no packing phase, unless it is checked against W.
  const n0 = K > 0 && (PB == 0 || W != 0) ? (np + ppc - 1) / ppc : 0;
  const panels = PB != 0 ? PB : P;
  // Rows per chunk: a multiple of 4, ~16 chunks, at most MC rows (and few enough chunks for the
  // 16-bit claim fields).
  const rpc = max(max(4, min(MC, (((M + 15) >> 4) + 3) & ~3)), (((M + 32767) >> 15) + 3) & ~3);
  const n1 = (M + rpc - 1) / rpc;
  const ldbB = <usize>ldb << 2;
  for (let c = claim(sync, tid, 0, n0); c >= 0; c = claim(sync, tid, 0, n0)) {
    const p0 = c * ppc, p1 = min(np, p0 + ppc);
    const j0 = p0 << 3;
    if (W != 0) {
      if (refresh_panels(W, B, ldb, K, j0, min(N, p1 << 3), PB)) atomic.store<i32>(flag, 1);
    } else {
      const bsrc = transB ? B + <usize>j0 * ldbB : B + (<usize>j0 << 2);
      pack_b_nr8(transB, K, min(N, p1 << 3) - j0, bsrc, ldb, P + <usize>p0 * <usize>K * 32);
    }
    chunk_done(sync, tid);
  }
  wait_done(sync, tid, n0);
  const ldaB = <usize>lda << 2;
  const rs: usize = transA ? 4 : ldaB;
  const ks: usize = transA ? ldaB : 4;
  if (k_split(M, K)) {
    // A long K in two parts (see gemm_part), each in blocks of rows (four; eight after a side
    // job, whose thread then takes fewer): phase 1, thread 0 takes part 0's blocks from the front
    // and thread 1 part 1's from the back (each its own part, more only from a late partner);
    // phase 2 sums part 1 into C by blocks of rows. Rows that gemm_packed packs a K block at a
    // time (packs_wide) go whole, one chunk per part: with blocks of a quarter or an eighth of
    // them, each packing read 128-256 rows' share of every 2 KB row again. W3's dW_hh (512 x 128
    // x 12800, one thread the per-token sums first) 39 -> 34 ms with its two other products.
    // Beside a side job, part 0's last rows (side_tail_rows) are a chunk of their own, between
    // part 0's other rows and part 1: thread 0 runs the side job and then part 0's other rows
    // while thread 1 runs part 1 and then, unless thread 0 came to them first, those rows.
    const Q = part1_c(P, N, K);
    const qs = side ? 8 : 4;
    const wide = packs_wide(rs, ks, M);
    const tail = side && wide ? side_tail_rows(M, N, K, n, w, ids) : 0;
    const rb = wide ? M : (((M + 3) >> 2) + qs - 1) / qs * 4, nb = (M + rb - 1) / rb;
    const n1k = side + (tail > 0 ? 3 : 2 * nb);
    for (let c = claim(sync, tid, 1, n1k); c >= 0; c = claim(sync, tid, 1, n1k)) {
      const q = c - side;
      if (q < 0) side_job(src, ids, n, w, dst);
      else if (tail > 0) {
        // chunks: part 0's rows [0, M - tail), part 0's rows [M - tail, M), part 1's rows
        const p = q >> 1, m0 = q == 1 ? M - tail : 0, m = q == 0 ? M - tail : q == 1 ? tail : M;
        gemm_part(p, m0, m, N, K, A, rs, ks, panels, C, ldc, accumulate, bias, Q);
      } else {
        const p = q / nb, m0 = (q % nb) * rb;
        gemm_part(p, m0, min(rb, M - m0), N, K, A, rs, ks, panels, C, ldc, accumulate, bias, Q);
      }
      chunk_done(sync, tid);
    }
    wait_done(sync, tid, n0 + n1k);
    const r2 = max(4, (M + 15) >> 4), n2 = (M + r2 - 1) / r2;
    for (let c = claim(sync, tid, 2, n2); c >= 0; c = claim(sync, tid, 2, n2)) {
      add_rows(C, ldc, Q, N, c * r2, min(M, (c + 1) * r2));
      chunk_done(sync, tid);
    }
    wait_done(sync, tid, n0 + n1k + n2);
    return;
  }
  const ldcB = <usize>ldc << 2;
  if (M <= 4 && side == 0) {
    // One to four rows (a decoder's step): one block of rows, so by blocks of three panels
    // instead, thread 0 the first half of the columns and thread 1 the second (more only from a
    // late partner) — each core keeps its half of a weight matrix in its own L2 from call to
    // call. Every column is computed alone, in k order, whatever block it is in (gemm_packed's
    // 4-row tiles and lone-row panels), so the bits are those of the one-block product.
    const pstride = <usize>K * 32, nc = (np + 2) / 3, mid = (nc + 1) >> 1;
    for (let c0 = claim(sync, tid, 1, nc, 2, mid); c0 >= 0; c0 = claim(sync, tid, 1, nc, 2, mid)) {
      const run = claimedRun, p0 = c0 * 3, j0 = p0 << 3, j1 = min(N, (c0 + run) * 24);
      const bj = accumulate || bias == 0 ? 0 : bias + (<usize>j0 << 2);
      gemm_packed(M, j1 - j0, K, A, rs, ks, panels + <usize>p0 * pstride, pstride, C + (<usize>j0 << 2), ldc, accumulate, bj, !transA);
      chunk_done(sync, tid, run);
    }
    wait_done(sync, tid, n0 + nc);
    return;
  }
  for (let c = claim(sync, tid, 1, side + n1); c >= 0; c = claim(sync, tid, 1, side + n1)) {
    if (c < side) side_job(src, ids, n, w, dst);
    else {
      const m0 = (c - side) * rpc, m = min(M, m0 + rpc) - m0;
      // Aᵀ keeps to 4-row tiles here: with two threads, 5-row tiles measured 5-10% slower on the
      // narrow weight-gradient products (1024x64x2048: 55 against 60 GFLOP/s) and no faster on
      // wide ones, though 0-6% faster on one thread; other packing orders did not help.
      gemm_packed(m, N, K, A + <usize>m0 * rs, rs, ks, panels, <usize>K * 32, C + <usize>m0 * ldcB, ldc, accumulate, accumulate ? 0 : bias, !transA);
    }
    chunk_done(sync, tid);
  }
  wait_done(sync, tid, n0 + side + n1);
}

// ---- sequences ----

/**
 * Hidden units per chunk of the unit-split loops below 8 rows (W_hhᵀ packed per chunk, the packing
 * claimed by chunks, the steps split in halves of them): a multiple of 8 giving 8 to 32 chunks
 * (fewer when H < 64), about one per 2^17 multiply-adds of the step's recurrent product (B·G·H).
 * (Chosen when the steps' chunks were claimed one at a time: batch 1 measured 0.84 ms per W5a
 * sequence with 8 chunks, 1.07 with 4, 1.3 with 2; batch 1 has its own plan since.)
 */
// @ts-ignore: decorator
@inline function unit_chunk(B: i32, G: i32, H: i32): i32 {
  const chunks = <i32>min<i64>(32, max<i64>(8, (<i64>B * G * H) >> 17));
  return max(8, ((H + chunks - 1) / chunks + 7) & ~7);
}

/**
 * Scratch bytes of seq_forward_mt: with row groups seq_forward's; else W_hhᵀ packed per (unit
 * chunk, gate block), the per-step product gh (B×G), and per thread a private packed-A buffer
 * (B×H) and h_prev ⊙ mask (B×H, recurrent dropout).
 */
export function seq_forward_mt_scratch_bytes(kind: i32, resetAfter: bool, B: i32, H: i32, I: i32): usize {
  // Row groups: seq_forward's layout (W_hhᵀ packed whole, gh, the per-step projection's), the A
  // blocks being per thread. (Below 8 rows there is no per-step projection: I is not used.)
  if (row_group(B) > 0) return seq_forward_scratch_bytes(kind, resetAfter, B, H, I);
  const U = unit_chunk(B, gate_width(kind, H), H), nc = (H + U - 1) / U;
  const packed = B == 1 ? 0 : <usize>(nc * gate_blocks(kind)) * align64(packed_bytes(H, U)); // batch 1: W_hh packed by the caller
  return packed + align64(<usize>B * gate_width(kind, H) * 4) + 2 * apack_bytes(B, H) + 2 * align64(<usize>B * H * 4);
}

/**
 * Rows per row group of the batch-split sequence loops (see seq_forward_mt): a multiple of 4
 * (the GEMM's row tiles, so a group's products are the same tiles as one product over every
 * row), the one nearest to half the batch — each thread runs its rows through every step
 * together, reading W_hhᵀ's packing once per step for all of them (with quarters a thread ran two
 * groups one after the other and streamed it twice as often: bench:ab W2-GRU 0.983, W3 0.976, W5b
 * 0.979, W1 1.000 for halves) — and a late partner still leaves its group to the running thread.
 * Rounding to the nearest multiple keeps the two groups within 4 rows of each other, the rows
 * left over (B = 17: 8, 8 and 1) being a third group that the first thread done takes; 0 below 8
 * rows (the loops then split hidden units).
 */
// @ts-ignore: decorator
@inline function row_group(B: i32): i32 {
  return B < 8 ? 0 : ((B + 4) >> 3) << 2;
}

/**
 * The rows of the first of two row groups when the loader set them (SY_SPLIT: a multiple of 4,
 * at least 4 rows in each group), else 0 (row_group's groups). The loader moves the split toward
 * the threads' speeds as the last calls measured them (row_progress): on this shared machine one
 * core can run 20-30% slower than the other for seconds at a time, and with fixed halves its
 * partner then waits that long at the end of every sequence loop. The first group's rows are a
 * multiple of 4, so that every row lies in the 4-row tile it lies in when one thread runs all the
 * rows: with K in several blocks (an LSTM's backward product by W_hh, K = 4H > KC) a full tile
 * continues each chain from C while a partial tile or a lone row adds its block's chain to C, so
 * a row moved into another kind of tile would change its bits (measured: a split at 13 of 32 rows
 * changed dxg at H = 256). So aligned, the split changes no bits.
 */
// @ts-ignore: decorator
@inline function row_split(sync: usize, B: i32): i32 {
  const sp = atomic.load<i32>(sync, SY_SPLIT);
  return sp >= 4 && sp <= B - 4 && (sp & 3) == 0 ? sp : 0;
}

/** Records that thread tid's row group has run `steps` steps (its partner reads it). */
// @ts-ignore: decorator
@inline function row_progress(sync: usize, tid: i32, steps: i32): void {
  atomic.store<i32>(sync + SY_PROG + (<usize>tid << 6), steps);
}

/**
 * Thread tid has finished a row group: counts it and, for its first, records how many steps the
 * partner's group had run then (before chunk_done, so the loader reads both once the call returns).
 */
function row_group_done(sync: usize, tid: i32): void {
  const mine = sync + SY_PROG + (<usize>tid << 6);
  const groups = atomic.load<i32>(mine, 8) + 1;
  if (groups == 1) atomic.store<i32>(mine, atomic.load<i32>(sync + SY_PROG + (<usize>(1 - tid) << 6)), 4);
  atomic.store<i32>(mine, groups, 8);
}

// ---- Sharing a row group's remaining steps ----
// A thread that has run its row groups and finds none left asks its partner for rows (take_rows)
// instead of waiting for it: the partner, at the end of its current step, gives away the upper
// half of the rows it runs (give_rows) — their state lies in shared memory, so the remaining
// steps of those rows can run on either core — and both go on, each with its part. On this
// shared machine one core often runs 10-30% slower than the other for a whole call, and with
// fixed groups the faster thread then waited for that long. The part given starts at a multiple
// of 4 rows from the group's first row (itself a multiple of 4), so every row stays in the tile
// kind it has when one thread runs every row (see row_split): the same bits.

/** Rows a running range must have, and steps it must have left, to give half of them away. */
const GIVE_MIN_ROWS = 8;
const GIVE_MIN_STEPS = 2;

/** Set by next_rows (and take_rows): the rows [rowsLo, rowsHi) to run from step rowsStep on. */
let rowsLo = 0, rowsHi = 0, rowsStep = 0;

/**
 * The next rows of a row-group loop's phase p for this thread: a group it claims (rowsStep 0; ng
 * groups, split at sp or every RG rows as row_split and row_group say), else rows taken from its
 * partner (rowsStep > 0). False when neither is left: `target` rows of the call are finished.
 */
function next_rows(sync: usize, tid: i32, p: i32, ng: i32, sp: i32, RG: i32, B: i32, target: i32): bool {
  const gi = claim(sync, tid, p, ng);
  if (gi < 0) return take_rows(sync, tid, target);
  rowsLo = sp > 0 ? (gi == 0 ? 0 : sp) : gi * RG;
  rowsHi = sp > 0 ? (gi == 0 ? sp : B) : min(B, rowsLo + RG);
  rowsStep = 0;
  return true;
}

/**
 * After step s of a range of rows [r0, r1) (T steps in all): if the partner asked for rows, gives
 * it the upper half, [m, r1) from step s + 1 on, or refuses (too few rows or steps left). Returns
 * the end of the rows this thread goes on with, r1 or m.
 */
// @ts-ignore: decorator
@inline function answer_request(sync: usize, tid: i32, r0: i32, r1: i32, s: i32, T: i32): i32 {
  const mine = sync + SY_PROG + (<usize>tid << 6);
  return atomic.load<i32>(mine, LN_REQ) == 0 ? r1 : give_rows(sync, mine, r0, r1, s, T);
}

function give_rows(sync: usize, mine: usize, r0: i32, r1: i32, s: i32, T: i32): i32 {
  atomic.store<i32>(mine, 0, LN_REQ);
  let keep = r1;
  if (r1 - r0 >= GIVE_MIN_ROWS && T - s - 1 >= GIVE_MIN_STEPS) {
    keep = r0 + (((r1 - r0) >> 3) << 2);
    store<i32>(mine, keep, LN_LO);
    store<i32>(mine, r1, LN_HI);
    store<i32>(mine, s + 1, LN_STEP);
    atomic.store<i32>(mine, ANS_GIVEN, LN_ANS); // (after the rows' state and the words above)
  } else {
    atomic.store<i32>(mine, ANS_REFUSED, LN_ANS);
  }
  if (atomic.load<i32>(sync, SY_SLEEP) != 0) atomic.notify(mine + LN_ANS, 1);
  return keep;
}

/**
 * A thread with no row group left asks its partner for part of the rows it runs and waits for
 * the answer, spinning and then sleeping as wait_done does, or until `target` rows are finished
 * (the partner ended its rows without seeing the request). Returns whether rows were taken (then
 * rowsLo, rowsHi, rowsStep say which).
 */
function take_rows(sync: usize, tid: i32, target: i32): bool {
  const theirs = sync + SY_PROG + (<usize>(1 - tid) << 6);
  let d = atomic.load<i32>(sync, SY_DONE);
  if (d >= target) return false;
  atomic.store<i32>(theirs, 1, LN_REQ);
  const spin = atomic.load<i32>(sync, SY_SPIN);
  const slices = atomic.load<i32>(sync, SY_SLICES);
  const canWait = atomic.load<i32>(sync + (<usize>tid << 2), SY_CANWAIT) != 0;
  let i = 0, slept = 0, seen = d;
  for (;;) {
    const a = atomic.load<i32>(theirs, LN_ANS);
    if (a != 0) {
      atomic.store<i32>(theirs, 0, LN_ANS);
      if (a != ANS_GIVEN) return false;
      rowsLo = load<i32>(theirs, LN_LO);
      rowsHi = load<i32>(theirs, LN_HI);
      rowsStep = load<i32>(theirs, LN_STEP); // (>= 1: given after a step)
      atomic.add<i32>(sync + SY_PROG + (<usize>tid << 6), 1, LN_TAKEN);
      return true;
    }
    d = atomic.load<i32>(sync, SY_DONE);
    if (d >= target) return false;
    if (atomic.load<i32>(sync, SY_ABORT) != 0) unreachable();
    if (++i < spin) continue;
    i = 0;
    if (!canWait) continue;
    // Sleeps on the answer word: either give_rows sees the sleeper and notifies, or wait32 sees
    // the answer and returns at once. (Rows finished without an answer: seen within a slice.)
    if (d != seen) { seen = d; slept = 0; }
    slept = nap(sync, theirs + LN_ANS, 0, slices, slept);
  }
  return false; // not reached
}

/**
 * Units [c0·U, c1·U) of forward step s (chunks c0 <= c < c1; batch 1: the chunks of b1_plan,
 * [b1_start(c0), b1_start(c1))), every batch row: the recurrent products of those units in the
 * first `nFirst` gate blocks (the product's input hIn — h_prev, or aux for `nOnly` — read as it
 * lies at batch 1, times W_hh packed for it by the caller (gemv_b1); else packed in Ap, one chunk
 * at a time against its packed block of W_hhᵀ), then the fused gate pass of those units
 * (fwd_gates). `nOnly`: GRU without resetAfter's second product —
 * the n block from aux = r ⊙ h_prev, then the candidate pass.
 */
function fwd_chunks(
  kind: i32, resetAfter: bool, T: i32, B: i32, H: i32, lengths: usize, reverse: bool, slim: bool, s: i32,
  xg: usize, xids: usize, bhn: usize, out: usize, ldOut4: usize, outStep4: usize,
  ch: usize, cc: usize, cgates: usize, caux: usize,
  c0: i32, c1: i32, U: i32, nFirst: i32, nOnly: bool, hIn: usize, gh: usize, Ap: usize, P: usize, blk: usize, whhP: usize,
): void {
  const G = gate_width(kind, H), nb = gate_blocks(kind);
  const gStart = nOnly ? 2 : 0, gEnd = nOnly ? 3 : nFirst;
  let j0 = c0 * U, j1 = min(H, c1 * U);
  if (B == 1) {
    j0 = b1_start(c0); j1 = b1_start(c1);
    gemv_b1(kind, H, H, whhP, c0, c1, gStart, gEnd, hIn, gh);
  } else {
    for (let g = gStart; g < gEnd; g++) {
      for (let c = c0; c < c1; c++) {
        const col = <usize>g * H + c * U;
        gemm_prepacked(B, min(H, (c + 1) * U) - c * U, H, Ap, P + <usize>(c * nb + g) * blk, <usize>H * 32, gh + (col << 2), G);
      }
    }
  }
  fwd_gates(kind, resetAfter, T, B, H, lengths, reverse, slim, s, xg, xids, bhn, out, ldOut4, outStep4, ch, cc, cgates, caux, gh, 0, B, j0, j1, nOnly, hIn);
}

/**
 * Rows [r0, r1) of a row-group forward loop from step s0 to the end (`own`: the thread's claimed
 * group, whose steps are counted for the speed measure), giving rows to the partner when it asks.
 * Returns the end of the rows this thread ran to the last step.
 */
function fwd_rows(
  tid: i32, sync: usize, kind: i32, resetAfter: bool, T: i32, B: i32, H: i32, lengths: usize, reverse: bool, slim: bool,
  xg: usize, xids: usize, bhn: usize, out: usize, ldOut4: usize, outStep4: usize,
  ch: usize, cc: usize, cgates: usize, caux: usize, P: usize, Pn: usize, gh: usize, whhP: usize, hmask: usize, hm: usize,
  r0: i32, r1: i32, s0: i32, own: bool, xp: usize, I: i32, Pih: usize, bias: usize,
): i32 {
  for (let s = s0; s < T; s++) {
    fwd_step(kind, resetAfter, T, B, H, lengths, reverse, slim, s, xg, xids, bhn, out, ldOut4, outStep4,
      ch, cc, cgates, caux, P, Pn, gh, whhP, r0, r1, hmask, hm, xp, I, Pih, bias);
    if (own) row_progress(sync, tid, s + 1);
    r1 = answer_request(sync, tid, r0, r1, s, T);
  }
  return r1;
}

/**
 * seq_forward for thread `tid` of 2 (same arguments on both threads; see seq_forward).
 *
 * From 8 batch rows the batch is split: rows are independent sequences, so a group of rows
 * (row_group) runs through all T steps on the thread that claimed it (seq_forward's step on those
 * rows), with no hand-over between the threads per step; each thread reads all of W_hhᵀ, packed
 * once; a late partner leaves its groups to the running thread, and a thread out of groups takes
 * half of the rows its partner runs from its next step on (give_rows). Below 8 rows each step is
 * split by hidden units instead: each thread computes its half of the unit chunks for every row,
 * and the threads meet once per step (b1_next_half; batch 1: W_hh packed in blocks of rows by the
 * caller, whhP, each thread keeping its blocks in its own core's cache). A per-step projection
 * (xp) only with row groups: each thread projects its rows of each step.
 */
export function seq_forward_mt(
  tid: i32, sync: usize,
  kind: i32, resetAfter: bool, T: i32, B: i32, H: i32, lengths: usize, reverse: bool,
  xg: usize, xids: usize, whh: usize, bhn: usize, out: usize, ldOut: i32, outStep: i32,
  ch: usize, cc: usize, cgates: usize, caux: usize, scratch: usize, slim: bool, whhP: usize, repack: i32,
  hmask: usize, xp: usize, I: i32, wih: usize, bias: usize,
): void {
  kind = cell_kind(kind);
  const G = gate_width(kind, H), nb = gate_blocks(kind);
  const H4 = <usize>H << 2, G4 = <usize>G << 2;
  const ldOut4 = <usize>ldOut << 2, outStep4 = <usize>outStep << 2;
  const split = kind == GRU && !resetAfter;
  let phase = 0, target = 0;

  const RG = row_group(B);
  // (Per-step projections only with row groups, seq_projects_steps: the unit chunks read xg.)
  if (xp != 0 && RG == 0) unreachable();
  if (RG > 0) {
    // Phase 0: pack W_hhᵀ as seq_forward does (r|z and n apart for GRU without resetAfter), and
    // W_ihᵀ for a per-step projection, by chunks of 8-column panels; phase 1: the row groups.
    const N1 = split ? 2 * H : G, np1 = (N1 + 7) >> 3, np2 = np1 + (split ? (H + 7) >> 3 : 0);
    const np = np2 + (xp != 0 ? (G + 7) >> 3 : 0);
    const P = scratch, Pn = split ? P + align64(packed_bytes(H, 2 * H)) : 0;
    const gh = split ? Pn + align64(packed_bytes(H, H)) : P + align64(packed_bytes(H, G));
    const Pih = xp != 0 ? xp_panels_at(kind, resetAfter, B, H, scratch) : 0;
    const pstride = <usize>H * 32, ppc = max(1, (np + 15) / 16), n0 = (np + ppc - 1) / ppc;
    target = n0;
    for (let c = claim(sync, tid, phase, n0); c >= 0; c = claim(sync, tid, phase, n0)) {
      for (let p = c * ppc; p < min(np, (c + 1) * ppc); p++) {
        if (p >= np2) { // panel q of W_ihᵀ
          const q = p - np2, c0 = q << 3;
          pack_b_nr8(true, I, min(G, c0 + 8) - c0, wih + <usize>c0 * (<usize>I << 2), I, Pih + <usize>q * <usize>I * 32);
          continue;
        }
        const n = p < np1, q = n ? p : p - np1, c0 = q << 3; // panel q of the r|z (or only) block, or of the n block
        const cols = min(n ? N1 : H, c0 + 8) - c0;
        const src = whh + (<usize>((n ? 0 : 2 * H) + c0)) * H4;
        pack_b_nr8(true, H, cols, src, H, (n ? P : Pn) + <usize>q * pstride);
      }
      chunk_done(sync, tid);
    }
    wait_done(sync, tid, target);
    // Phase 1 counts finished rows (a group's may end on the other thread, see give_rows).
    const sp = row_split(sync, B), ng = sp > 0 ? 2 : (B + RG - 1) / RG;
    phase++; target += B;
    const hm = gh + align64(<usize>B * G4);
    while (next_rows(sync, tid, phase, ng, sp, RG, B, target)) {
      const r0 = rowsLo, own = rowsStep == 0;
      const end = fwd_rows(tid, sync, kind, resetAfter, T, B, H, lengths, reverse, slim, xg, xids, bhn, out, ldOut4, outStep4,
        ch, cc, cgates, caux, P, Pn, gh, whhP, hmask, hm, r0, rowsHi, rowsStep, own, xp, I, Pih, bias);
      if (own) row_group_done(sync, tid);
      chunk_done(sync, tid, end - r0);
    }
    wait_done(sync, tid, target);
    return;
  }

  const gemv1row = B == 1;
  if (gemv1row) b1_plan(kind, H);
  const U = gemv1row ? 0 : unit_chunk(B, G, H), nc = gemv1row ? b1_chunks() : (H + U - 1) / U;
  const blk = gemv1row ? 0 : align64(packed_bytes(H, U));
  const gh = scratch + <usize>(nc * nb) * blk;
  const Ap = gh + align64(<usize>B * G4) + <usize>tid * apack_bytes(B, H);
  const hm = gh + align64(<usize>B * G4) + 2 * apack_bytes(B, H) + <usize>tid * align64(<usize>B * H4); // this thread's h_prev ⊙ mask
  const nFirst = split ? 2 : nb; // GRU without resetAfter: the n block after the reset

  // Phase 0: pack W_hhᵀ for each chunk's units in each gate block (rows g*H + j of W_hh).
  // Batch 1 reads W_hh packed by b1_plan's chunks (gemv_b1), packed here only when it changed.
  // The steps are split in halves of the chunks (batch 1: the plan's, thread 0 the chunks through
  // M0, thread 1 the rest, where the passes balance; see b1_next_half), each half computed as one
  // range of units.
  const mid = gemv1row ? b1Qa + 1 : nc >> 1;
  if (gemv1row && repack != B1_CURRENT) {
    // W_hh changed since it was packed (B1_PACK), or may have (B1_CHECK, B1_COPY): claimed in
    // runs, each thread its half of the plan first (then half of what is left of a late
    // partner's), so that each thread packs or checks the chunks it then multiplies by, in its
    // own core's cache.
    target = nc;
    for (let c0 = claim(sync, tid, phase, nc, 2, mid); c0 >= 0; c0 = claim(sync, tid, phase, nc, 2, mid)) {
      const run = claimedRun;
      for (let c = c0; c < c0 + run; c++) b1_refresh(kind, H, H, whh, whhP, c, repack);
      chunk_done(sync, tid, run);
    }
    wait_done(sync, tid, target);
  } else if (!gemv1row) {
    target = nc;
    for (let c = claim(sync, tid, phase, nc); c >= 0; c = claim(sync, tid, phase, nc)) {
      const j0 = c * U, w = min(H, j0 + U) - j0;
      for (let g = 0; g < nb; g++) {
        pack_b_nr8(true, H, w, whh + (<usize>g * H + j0) * H4, H, scratch + <usize>(c * nb + g) * blk);
      }
      chunk_done(sync, tid);
    }
    wait_done(sync, tid, target);
  }

  for (let s = 0; s < T; s++) {
    const t = reverse ? T - 1 - s : s;
    // Phase: products h_prev·W_hhᵀ for a chunk's units (every gate block, or r|z), then the
    // fused gate pass on those units for every batch row; GRU without resetAfter then a second
    // phase for the n block, whose product reads every column of this step's aux = r ⊙ h_prev.
    const passes = split ? 2 : 1;
    for (let pass = 0; pass < passes; pass++) {
      const nOnly = pass == 1;
      let packed = false;
      // The step's product input: h_prev, or this step's aux = r ⊙ h_prev for the n block.
      let hIn = nOnly ? caux + (slim ? 0 : <usize>t * B * H4) : ch + <usize>slot_prev(slim, reverse, s, t) * B * H4;
      // Batch 1: all of its lines requested at once (the partner wrote half of them in its
      // cache), instead of two at a time as gemv's blocks come to them.
      if (gemv1row) touched = touch_lines(hIn, H4);
      // Recurrent dropout: the products read h_prev ⊙ mask, this thread's own copy (made with
      // its packing, on its first chunk).
      const masked = hmask != 0 && !nOnly;
      // The step's halves (see b1_next_half), step n of the call's steps.
      const n = s * passes + pass + 1;
      for (let h = b1_first_half(sync, tid, n); h >= 0; h = b1_next_half(sync, tid, n)) {
        if (!packed) {
          if (masked) { mul_row(hm, hIn, hmask, B * H); hIn = hm; }
          if (!gemv1row) pack_a_all(B, H, hIn, H4, 4, Ap);
          packed = true;
        }
        fwd_chunks(kind, resetAfter, T, B, H, lengths, reverse, slim, s, xg, xids, bhn, out, ldOut4, outStep4,
          ch, cc, cgates, caux, h == 0 ? 0 : mid, h == 0 ? mid : nc, U, nFirst, nOnly, hIn, gh, Ap, scratch, blk, whhP);
        b1_half_done(sync, tid, h, n, h == 0 ? mid : nc - mid);
      }
    }
  }
}

/**
 * stack_step for thread `tid` of 2 (same arguments on both threads). Per layer: the projection by
 * the batch-1 plan's halves (b1_next_half), its edge rows (G mod 8 of them) as one chunk claimed
 * by either thread, then the step by the halves as seq_forward_mt's batch-1 steps (GRU without
 * resetAfter: its two passes), each starting once the one before is finished. Then thread 0 moves the new states into the slots
 * the next step reads and runs the head (the threads have finished every chunk; the host reads
 * the probabilities when this thread returns).
 */
export function stack_step_mt(tid: i32, sync: usize, desc: usize, nl: i32, head: usize, x0: usize): void {
  let phase = 0, target = 0, halfSteps = 0;
  for (let l = 0; l < nl; l++) {
    const kind = cell_kind(sl_word(desc, l, 0)), resetAfter = (sl_word(desc, l, 1) & 1) != 0;
    const H = sl_word(desc, l, 2), K = sl_word(desc, l, 3), H4 = <usize>H << 2, G = gate_width(kind, H);
    // SL_TABLE: x is the token's row of the projected table, the step's xg: no projection phases.
    const fromTable = (sl_word(desc, l, 1) & SL_TABLE) != 0;
    const pih = sl_ptr(desc, l, 4), whhP = sl_ptr(desc, l, 5), bias = sl_ptr(desc, l, 6), x = sl_x(desc, l, x0), xg = fromTable ? x : sl_ptr(desc, l, 9);
    const ch = sl_ptr(desc, l, 10), cc = sl_ptr(desc, l, 11), gates = sl_ptr(desc, l, 12), aux = sl_ptr(desc, l, 13);
    const out = sl_ptr(desc, l, 14), gh = sl_ptr(desc, l, 15), bhn = sl_ptr(desc, l, 7);
    b1_plan(kind, H);
    const nc = b1_chunks(), mid = b1Qa + 1, byGemv = (sl_word(desc, l, 1) & SL_GEMV) != 0;
    if (byGemv && !fromTable) {
      // (A layer whose own call reads W_ih as it lies: one chunk, as its one-row product.)
      target++;
      if (claim(sync, tid, phase, 1) >= 0) { stack_project_gemv(desc, l, kind, H, x); chunk_done(sync, tid); }
      wait_done(sync, tid, target);
      phase++;
    } else if (!fromTable) {
      const n = ++halfSteps;
      for (let h = b1_first_half(sync, tid, n); h >= 0; h = b1_next_half(sync, tid, n)) {
        gemv_b1(kind, H, K, pih, h == 0 ? 0 : mid, h == 0 ? mid : nc, 0, gate_blocks(kind), x, xg, bias);
        b1_half_done(sync, tid, h, n, h == 0 ? mid : nc - mid);
      }
      if ((G & 7) != 0) {
        target++;
        if (claim(sync, tid, phase, 1) >= 0) {
          b1_edge_rows(G, K, b1_copy_at(kind, K, pih), x, bias, xg);
          chunk_done(sync, tid);
        }
        wait_done(sync, tid, target);
        phase++;
      }
    }
    const split = kind == GRU && !resetAfter, nFirst = split ? 2 : gate_blocks(kind), passes = split ? 2 : 1;
    for (let pass = 0; pass < passes; pass++) {
      const nOnly = pass == 1, hIn = nOnly ? aux : ch;
      touched = touch_lines(hIn, H4);
      // As seq_forward_mt's batch-1 steps: the plan's halves.
      const n = ++halfSteps;
      for (let h = b1_first_half(sync, tid, n); h >= 0; h = b1_next_half(sync, tid, n)) {
        fwd_chunks(kind, resetAfter, 1, 1, H, 0, false, true, 0, xg, 0, bhn, out, H4, H4,
          ch, cc, gates, aux, h == 0 ? 0 : mid, h == 0 ? mid : nc, 0, nFirst, nOnly, hIn, gh, 0, 0, 0, whhP);
        b1_half_done(sync, tid, h, n, h == 0 ? mid : nc - mid);
      }
    }
  }
  if (tid != 0) return;
  for (let l = 0; l < nl; l++) {
    const H4 = <usize>sl_word(desc, l, 2) << 2, ch = sl_ptr(desc, l, 10), cc = sl_ptr(desc, l, 11);
    memory.copy(ch, ch + H4, H4);
    if (cc != 0) memory.copy(cc, cc + H4, H4);
  }
  if (head != 0) stack_head(head, sl_ptr(desc, nl - 1, 14));
}

/**
 * Scratch bytes of seq_backward_mt: W_hh packed per unit chunk (K = G rows × the chunk's
 * columns), four shared B×H rows (dh, dc, dh_prev, d(r⊙h)), and per thread a private packed-A
 * buffer (B×G) and h_prev ⊙ mask (B×H, recurrent dropout).
 */
export function seq_backward_mt_scratch_bytes(kind: i32, B: i32, H: i32): usize {
  if (row_group(B) > 0) return seq_backward_scratch_bytes(kind, B, H); // row groups: seq_backward's layout
  const G = gate_width(kind, H);
  const U = unit_chunk(B, G, H), nc = (H + U - 1) / U;
  return <usize>nc * align64(packed_bytes(G, U)) + 4 * align64(<usize>B * H * 4) + 2 * apack_bytes(B, G) + 2 * align64(<usize>B * H * 4);
}

/**
 * Gate-backward pass of step t for units [j0, j1) of every batch row (seq_backward's first loop,
 * restricted to those units): adds dOut into dh, writes the units' columns of dxg (and dgh) in
 * every gate block, updates dc.
 */
// @ts-ignore: decorator
@inline function bwd_gate_units(
  kind: i32, resetAfter: bool, t: i32, B: i32, H: i32, lengths: usize,
  ch: usize, cc: usize, cgates: usize, caux: usize, dOut: usize, ldD4: usize, dStep4: usize,
  dxg: usize, dgh: usize, dh: usize, dc: usize, reverse: bool, j0: i32, j1: i32,
): void {
  const G = gate_width(kind, H), nb = gate_blocks(kind);
  const H4 = <usize>H << 2, G4 = <usize>G << 2, BH4 = <usize>B * H4;
  const cur = slot_cur(false, reverse, 0, t), prev = slot_prev(false, reverse, 0, t);
  const hPrev = ch + <usize>prev * BH4, hCur = ch + <usize>cur * BH4;
  const cPrev = cc + <usize>prev * BH4, cCur = cc + <usize>cur * BH4;
  const gatesT = cgates + <usize>t * B * G4, auxT = caux + <usize>t * BH4;
  const dxT = dxg + <usize>t * B * G4, dgT = dgh + <usize>t * B * G4;
  const w = j1 - j0, jv = j0 + (w & ~3);
  const u0 = <usize>j0 << 2, w4 = <usize>w << 2;
  for (let b = 0; b < B; b++) {
    const bo = <usize>b * H4;
    const dx = dxT + <usize>b * G4, dg = dgT + <usize>b * G4;
    if (!row_valid(lengths, b, t)) {
      for (let g = 0; g < nb; g++) {
        const col = (<usize>g * H + j0) << 2;
        memory.fill(dx + col, 0, w4);
        if (dg != dx) memory.fill(dg + col, 0, w4);
      }
      continue;
    }
    const dhb = dh + bo;
    if (dOut != 0) add_row(dhb + u0, dOut + <usize>t * dStep4 + <usize>b * ldD4 + u0, w);
    const gt = gatesT + <usize>b * G4;
    if (hardGates) bwd_row(kind, resetAfter, j0, jv, j1, H4, gt, cCur + bo, cPrev + bo, dhb, dc + bo, auxT + bo, hPrev + bo, hCur + bo, dx, dg, gt, true);
    else bwd_row(kind, resetAfter, j0, jv, j1, H4, gt, cCur + bo, cPrev + bo, dhb, dc + bo, auxT + bo, hPrev + bo, hCur + bo, dx, dg, gt, false);
    if (kind == LSTM && dg != dx) {
      for (let g = 0; g < nb; g++) {
        const col = (<usize>g * H + j0) << 2;
        memory.copy(dg + col, dx + col, w4);
      }
    } else if (kind != GRU && dg != dx) {
      memory.copy(dg + u0, dx + u0, w4);
    }
  }
}

/** Rows [r0, r1) of a row-group backward loop from step s0 on: as fwd_rows. */
function bwd_rows(
  tid: i32, sync: usize, kind: i32, resetAfter: bool, T: i32, B: i32, H: i32, lengths: usize, reverse: bool,
  ch: usize, cc: usize, cgates: usize, caux: usize, dOut: usize, ldD4: usize, dStep4: usize,
  dxg: usize, dgh: usize, P: usize, dh: usize, hmask: usize, r0: i32, r1: i32, s0: i32, own: bool,
): i32 {
  for (let s = s0; s < T; s++) {
    bwd_step(kind, resetAfter, T, B, H, lengths, reverse, s, ch, cc, cgates, caux, dOut, ldD4, dStep4, dxg, dgh, P, dh, r0, r1, hmask);
    if (own) row_progress(sync, tid, s + 1);
    r1 = answer_request(sync, tid, r0, r1, s, T);
  }
  return r1;
}

/**
 * seq_backward for thread `tid` of 2 (same arguments on both threads; see seq_backward).
 * Phases: (0) pack a chunk's columns of W_hh, initialize its dh/dc, gate pass of the first step;
 * then per step [GRU without resetAfter: d(r⊙h) = d_an·W_hn and the r gradients], then
 * dh_prev = dgh_t·W_hh for a chunk's units followed, on the same units, by the next step's gate
 * pass (which needs only those units of dh/dc) or, after the last step, the copy to dh0/dc0.
 */
export function seq_backward_mt(
  tid: i32, sync: usize,
  kind: i32, resetAfter: bool, T: i32, B: i32, H: i32, lengths: usize, reverse: bool,
  whh: usize, ch: usize, cc: usize, cgates: usize, caux: usize,
  dOut: usize, ldDOut: i32, dOutStep: i32, dhN: usize, dcN: usize,
  dxg: usize, dgh: usize, dh0: usize, dc0: usize, scratch: usize, hmask: usize,
): void {
  kind = cell_kind(kind);
  const G = gate_width(kind, H);
  const H4 = <usize>H << 2, G4 = <usize>G << 2, BH4 = <usize>B * H4;
  const ldD4 = <usize>ldDOut << 2, dStep4 = <usize>dOutStep << 2;
  const split = kind == GRU && !resetAfter;

  const RG = row_group(B);
  if (RG > 0) {
    // Row groups, as in seq_forward_mt. Phase 0: pack W_hh (K = G × N = H) as seq_backward does,
    // by chunks of 8-column panels; phase 1: each group through every step.
    const P = scratch, pstride = <usize>G * 32, dh = P + align64(packed_bytes(G, H));
    const np = (H + 7) >> 3, ppc = max(1, (np + 15) / 16), n0 = (np + ppc - 1) / ppc;
    for (let c = claim(sync, tid, 0, n0); c >= 0; c = claim(sync, tid, 0, n0)) {
      for (let p = c * ppc; p < min(np, (c + 1) * ppc); p++) {
        const c0 = p << 3;
        pack_b_nr8(false, G, min(H, c0 + 8) - c0, whh + (<usize>c0 << 2), H, P + <usize>p * pstride);
      }
      chunk_done(sync, tid);
    }
    wait_done(sync, tid, n0);
    // Phase 1 counts finished rows (a group's may end on the other thread, see give_rows).
    const sp = row_split(sync, B), ng = sp > 0 ? 2 : (B + RG - 1) / RG;
    while (next_rows(sync, tid, 1, ng, sp, RG, B, n0 + B)) {
      const r0 = rowsLo, own = rowsStep == 0;
      if (own) bwd_rows_begin(B, H, dhN, dcN, dh, r0, rowsHi);
      const end = bwd_rows(tid, sync, kind, resetAfter, T, B, H, lengths, reverse, ch, cc, cgates, caux, dOut, ldD4, dStep4,
        dxg, dgh, P, dh, hmask, r0, rowsHi, rowsStep, own);
      bwd_rows_end(B, H, dh0, dc0, dh, r0, end);
      if (own) row_group_done(sync, tid);
      chunk_done(sync, tid, end - r0);
    }
    wait_done(sync, tid, n0 + B);
    return;
  }

  const U = unit_chunk(B, G, H), nc = (H + U - 1) / U;
  const blk = align64(packed_bytes(G, U));
  const pstride = <usize>G * 32;
  const dh = scratch + <usize>nc * blk;
  const dc = dh + align64(BH4);
  const dhp = dc + align64(BH4);
  const drh = dhp + align64(BH4);
  const Ap = drh + align64(BH4) + <usize>tid * apack_bytes(B, G);
  const hm = drh + align64(BH4) + 2 * apack_bytes(B, G) + <usize>tid * align64(BH4); // this thread's h_prev ⊙ mask
  const Kd = split ? 2 * H : G; // K of the dh_prev product

  // Phase 0: W_hh packed by chunks, and the first step's gate pass.
  const tFirst = reverse ? 0 : T - 1;
  for (let c = claim(sync, tid, 0, nc); c >= 0; c = claim(sync, tid, 0, nc)) {
    const j0 = c * U, j1 = min(H, j0 + U), w4 = <usize>(j1 - j0) << 2;
    pack_b_nr8(false, G, j1 - j0, whh + (<usize>j0 << 2), H, scratch + <usize>c * blk);
    for (let b = 0; b < B; b++) {
      const bo = <usize>b * H4 + (<usize>j0 << 2);
      if (dhN != 0) memory.copy(dh + bo, dhN + bo, w4); else memory.fill(dh + bo, 0, w4);
      if (dcN != 0) memory.copy(dc + bo, dcN + bo, w4); else memory.fill(dc + bo, 0, w4);
    }
    bwd_gate_units(kind, resetAfter, tFirst, B, H, lengths, ch, cc, cgates, caux, dOut, ldD4, dStep4, dxg, dgh, dh, dc, reverse, j0, j1);
    chunk_done(sync, tid);
  }
  wait_done(sync, tid, nc);

  // The steps' phases split in halves of the unit chunks (see b1_next_half), n counting them.
  const mid = nc >> 1;
  let n = 0;
  for (let s = 0; s < T; s++) {
    const t = reverse ? s : T - 1 - s;
    const prev = slot_prev(false, reverse, s, t);
    const hPrev = ch + <usize>prev * BH4;
    const gatesT = cgates + <usize>t * B * G4;
    const dxT = dxg + <usize>t * B * G4, dgT = dgh + <usize>t * B * G4;

    if (split) {
      // Phase: d(r⊙h) = d_an · W_hn (rows [2H, 3H) of W_hh) reads every column of d_an.
      n++;
      let packed = false;
      // The reset multiplied the state the products saw: h_prev, or (recurrent dropout) this
      // thread's copy of h_prev ⊙ mask, made with its packing.
      let hIn = hPrev;
      for (let h = b1_first_half(sync, tid, n); h >= 0; h = b1_next_half(sync, tid, n)) {
        if (!packed) {
          pack_a_all(B, H, dxT + 2 * H4, G4, 4, Ap);
          if (hmask != 0) { mul_row(hm, hPrev, hmask, B * H); hIn = hm; }
          packed = true;
        }
        for (let c = h == 0 ? 0 : mid; c < (h == 0 ? mid : nc); c++) {
          const j0 = c * U, j1 = min(H, j0 + U);
          gemm_prepacked(B, j1 - j0, H, Ap, scratch + <usize>c * blk + 2 * H4 * 8, pstride, drh + (<usize>j0 << 2), H);
          gru_rb_bwd_r_rows(B, H, lengths, t, 0, B, j0, j1, gatesT, hIn, drh, dxT, dgT);
        }
        b1_half_done(sync, tid, h, n, h == 0 ? mid : nc - mid);
      }
    }

    // Phase: dh_prev = dgh_t · W_hh reads every gate column of dgh_t; then the chunk's next gate pass.
    n++;
    let packed = false;
    for (let h = b1_first_half(sync, tid, n); h >= 0; h = b1_next_half(sync, tid, n)) {
      if (!packed) { pack_a_all(B, Kd, dgT, G4, 4, Ap); packed = true; }
      for (let c = h == 0 ? 0 : mid; c < (h == 0 ? mid : nc); c++) {
        const j0 = c * U, j1 = min(H, j0 + U), w = j1 - j0;
        const u0 = <usize>j0 << 2, w4 = <usize>w << 2;
        gemm_prepacked(B, w, Kd, Ap, scratch + <usize>c * blk, pstride, dhp + u0, H);
        for (let b = 0; b < B; b++) {
          if (!row_valid(lengths, b, t)) continue; // padded rows keep dh unchanged
          const bo = <usize>b * H4;
          if (kind != GRU) {
            if (hmask != 0) mul_row(dh + bo + u0, dhp + bo + u0, hmask + bo + u0, w);
            else memory.copy(dh + bo + u0, dhp + bo + u0, w4);
            continue;
          }
          const z = gatesT + <usize>b * G4 + H4, r = gatesT + <usize>b * G4;
          gru_dh_prev(dh + bo, dhp + bo, z, drh + bo, r, j0, j1, split, hmask != 0 ? hmask + bo : 0);
        }
        if (s + 1 < T) {
          const tNext = reverse ? t + 1 : t - 1;
          bwd_gate_units(kind, resetAfter, tNext, B, H, lengths, ch, cc, cgates, caux, dOut, ldD4, dStep4, dxg, dgh, dh, dc, reverse, j0, j1);
        } else {
          for (let b = 0; b < B; b++) {
            const bo = <usize>b * H4 + u0;
            memory.copy(dh0 + bo, dh + bo, w4);
            if (dc0 != 0) memory.copy(dc0 + bo, dc + bo, w4);
          }
        }
      }
      b1_half_done(sync, tid, h, n, h == 0 ? mid : nc - mid);
    }
  }
}
