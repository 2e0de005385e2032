// Differential tests of the WebAssembly kernels against the reference backend.
//
// Every variant that can load in this process is tested (wasm-simd always; wasm-relaxed-simd
// when the engine has relaxed SIMD). On Node 20, where relaxed SIMD needs
// --experimental-wasm-relaxed-simd, the relaxed variant is tested by re-running this file in a
// child process with that flag (RNNKIT_KERNEL_TEST_VARIANTS=wasm-relaxed-simd). A variant that
// cannot load fails the run with the reason; the only way to accept a missing relaxed variant
// is RNNKIT_ALLOW_MISSING_RELAXED=1 (for engines without relaxed SIMD), which skips loudly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { gemmRef } from '../src/kernels/reference.js';
import { allocCache, gateWidth, type CellKind, type SeqCache } from '../src/kernels/types.js';
import {
  loadWasmBackend, unavailableReason, wasmVariant, wasmVariants, type WasmBackend, type WasmVariant,
} from '../src/kernels/wasm/backend.js';
import { backendFor, backendName, getBackend, getThreads, referenceBackend } from '../src/kernels/index.js';
import { assertWithin, gemmTolerance, nanArray, prng, randArray } from './kernel-helpers.js';

// ---------------------------------------------------------------------------------------------
// Which variants run here
// ---------------------------------------------------------------------------------------------

const isChild = process.env.RNNKIT_KERNEL_TEST_VARIANTS !== undefined;
const requested: WasmVariant[] = isChild
  ? (process.env.RNNKIT_KERNEL_TEST_VARIANTS!.split(',') as WasmVariant[])
  : [...wasmVariants];
const nodeMajor = Number(process.versions.node.split('.')[0]);
/** Node 20/21 gate relaxed SIMD behind this flag; Node 22+ has it on and rejects the flag. */
const relaxedFlagAccepted = nodeMajor < 22;

const runnable: { variant: WasmVariant; backend: WasmBackend }[] = [];
for (const variant of requested) {
  const why = unavailableReason(variant);
  if (why === null) {
    runnable.push({ variant, backend: loadWasmBackend(variant) });
    continue;
  }
  if (variant === 'wasm-relaxed-simd' && !isChild && relaxedFlagAccepted) {
    test(`wasm-relaxed-simd (child process with --experimental-wasm-relaxed-simd)`, () => {
      // Run the file directly (not `--test`: node:test refuses to nest a runner inside a test),
      // and without the parent runner's NODE_TEST_CONTEXT so the child reports on its own.
      const env: NodeJS.ProcessEnv = { ...process.env, RNNKIT_KERNEL_TEST_VARIANTS: 'wasm-relaxed-simd' };
      delete env.NODE_TEST_CONTEXT;
      const r = spawnSync(
        process.execPath,
        ['--experimental-wasm-relaxed-simd', '--test-reporter=spec', fileURLToPath(import.meta.url)],
        { env, encoding: 'utf8' },
      );
      const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
      // Show the child's summary lines (tests/pass/fail counts) in this run's output.
      const summary = output.split('\n').filter((l) => /^ℹ (tests|pass|fail|skipped|cancelled) /.test(l));
      console.log(`relaxed-SIMD child run:\n${summary.map((l) => `  ${l}`).join('\n')}`);
      assert.equal(r.status, 0, `relaxed-SIMD child run failed:\n${output}`);
      assert.ok(summary.some((l) => /^ℹ pass [1-9]/.test(l)), `relaxed-SIMD child ran no tests:\n${output}`);
    });
    continue;
  }
  const allow = variant === 'wasm-relaxed-simd' && process.env.RNNKIT_ALLOW_MISSING_RELAXED === '1';
  test(`${variant} loads`, { skip: allow ? `${why} (RNNKIT_ALLOW_MISSING_RELAXED=1)` : false }, () => {
    assert.fail(`${variant} cannot load in this process: ${why}`);
  });
}

// ---------------------------------------------------------------------------------------------
// Rational tanh / sigmoid accuracy
// ---------------------------------------------------------------------------------------------

for (const { variant, backend } of runnable) {
  test(`${variant}: rational tanh/sigmoid, max abs error < 1e-6 on [-20, 20], relative < 4e-7 near 0, ±Inf, NaN`, () => {
    const n = 400_001; // step 1e-4
    const x = new Float32Array(n + 6);
    for (let i = 0; i < n; i++) x[i] = -20 + i * 1e-4;
    x.set([Infinity, -Infinity, NaN, 0, 1e-30, -1e30], n);
    const th = backend.approx('tanh', x), sg = backend.approx('sigmoid', x);
    let eT = 0, eS = 0;
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      eT = Math.max(eT, Math.abs(th[i]! - Math.tanh(v)));
      eS = Math.max(eS, Math.abs(sg[i]! - 1 / (1 + Math.exp(-v))));
    }
    assert.ok(eT < 1e-6, `tanh max abs error ${eT}`);
    assert.ok(eS < 1e-6, `sigmoid max abs error ${eS}`);
    const at = (a: Float32Array, k: number): number => a[n + k]!;
    assert.ok(Math.abs(at(th, 0) - 1) < 1e-6 && Math.abs(at(th, 1) + 1) < 1e-6, 'tanh(±Inf) = ±1');
    assert.ok(Math.abs(at(sg, 0) - 1) < 1e-6 && Math.abs(at(sg, 1)) < 1e-6, 'sigmoid(+Inf) = 1, sigmoid(-Inf) = 0');
    assert.ok(Number.isNaN(at(th, 2)) && Number.isNaN(at(sg, 2)), 'NaN propagates');
    assert.equal(at(th, 3), 0, 'tanh(0) = 0 exactly');
    assert.equal(at(sg, 3), 0.5, 'sigmoid(0) = 1/2 exactly');
    assert.ok(Math.abs(at(th, 4) - 1e-30) <= 1e-36, 'tanh(x) ≈ x for tiny x');
    assert.ok(Math.abs(at(th, 5) + 1) < 1e-6, 'tanh(-1e30) = -1');
    // Near 0 the error is relative too (at most 2.4e-7 over this range, 1.3e-7 toward 0 from
    // α1/β0), so that small activations keep their digits: a floor of 2^-20 or more on x² (as an
    // Estrin form of the polynomials would need against subnormal powers) shows here (measured
    // 5.7e-7 with 2^-20).
    const tiny: number[] = [];
    for (let e = -30; e <= -2; e += 0.01) tiny.push(10 ** e, -(10 ** e));
    const xt = Float32Array.from(tiny), tt = backend.approx('tanh', xt);
    let rT = 0;
    for (let i = 0; i < xt.length; i++) rT = Math.max(rT, Math.abs(tt[i]! - Math.tanh(xt[i]!)) / Math.abs(Math.tanh(xt[i]!)));
    assert.ok(rT < 4e-7, `tanh max relative error for 1e-30 <= |x| <= 1e-2: ${rT}`);
  });
}

// The benchmark's multiply-add peak loop really runs n rounds of its 12 four-lane chains (a loop
// cut short, or chains dropped, would make bench:kernels's "% of peak" flatter than the truth).
for (const { variant, backend } of runnable) {
  test(`${variant}: fma_peak runs n rounds of 12 chains a·x + y`, () => {
    const k = backend.kernels as unknown as { fma_peak(n: number, x: number, y: number): number };
    // x = 1, y = 1: chain j (starting at j + 1) ends at j + 1 + n; 4 lanes each.
    for (const n of [0, 1, 10, 1000]) assert.equal(k.fma_peak(n, 1, 1), 4 * (78 + 12 * n), `n = ${n}`);
    // x = 2, y = 0: each chain doubles n times.
    assert.equal(k.fma_peak(3, 2, 0), 4 * 78 * 8);
  });
}

// ---------------------------------------------------------------------------------------------
// GEMV (the batch-1 recurrent product)
// ---------------------------------------------------------------------------------------------

for (const { variant, backend } of runnable) {
  test(`${variant}: gemv agrees with a float64 dot product on every K tail and row block; a row's bits never depend on its neighbours`, () => {
    const rnd = prng(808);
    const u = 2 ** -24;
    for (const rows of [1, 3, 4, 5, 8, 17, 33, 70]) {
      for (const K of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 31, 64, 67]) {
        for (const pad of [0, 3]) {
          const ldw = K + pad, what = `gemv rows=${rows} K=${K} ldw=${ldw}`;
          const W = randArray(rows * ldw + 1, rnd), h = randArray(K, rnd);
          const y = backend.gemv(W, ldw, K, h, 0, rows);
          const want = nanArray(rows + 4), bound = new Float64Array(rows);
          for (let r = 0; r < rows; r++) {
            let s = 0, a = 0;
            for (let k = 0; k < K; k++) { s += W[r * ldw + k]! * h[k]!; a += Math.abs(W[r * ldw + k]! * h[k]!); }
            want[r] = s;
            bound[r] = 2 * (K + 2) * u * a;
          }
          // want[rows..rows+4) stays NaN: the kernel writes nothing past the last row.
          assertWithin(y, want, (i) => bound[i]!, what);
          // Any sub-range of rows (other 4-row groupings, a lone row) gives the same bits.
          for (let r0 = 1; r0 < rows; r0 += 2) {
            const part = backend.gemv(W, ldw, K, h, r0, rows);
            for (let r = r0; r < rows; r++) assert.equal(part[r - r0], y[r], `${what}: row ${r} computed from row ${r0}`);
          }
        }
      }
    }
    // Special values: NaN and Inf propagate along their row only; zeros give exactly zero.
    const K = 13, rows = 6;
    const W = randArray(rows * K, rnd), h = randArray(K, rnd);
    W[1 * K + 12] = NaN; W[2 * K + 0] = Infinity; W[3 * K + 5] = -Infinity;
    for (let k = 0; k < K; k++) W[4 * K + k] = 0;
    const y = backend.gemv(W, K, K, h, 0, rows);
    assert.ok(Number.isNaN(y[1]!), 'NaN in the K tail reaches its row');
    assert.equal(y[2], h[0]! > 0 ? Infinity : -Infinity, '+Inf times h[0]');
    assert.equal(y[3], h[5]! > 0 ? -Infinity : Infinity, '-Inf times h[5]');
    assert.equal(y[4], 0, 'a zero row gives 0');
    assert.ok(Number.isFinite(y[0]!) && Number.isFinite(y[5]!), 'the other rows stay finite');
  });
}

// ---------------------------------------------------------------------------------------------
// GEMM
// ---------------------------------------------------------------------------------------------

const SIZES = [1, 3, 4, 5, 8, 17, 64];

/**
 * Tolerance for C[i,j]: both backends sum K float32 products (the reference rounds to float32
 * after every addition, the kernels in blocked/split order, with or without FMA), so each is
 * within K·u·S of the exact value, S = Σ_k |op(A)[i,k]|·|op(B)[k,j]| + |C0[i,j]|, u = 2^-24
 * (standard summation bound, to first order). Their difference is then <= 2(K+2)·u·S; the
 * extra 2 covers the rounding of the accumulate addition.
 */
function gemmCheck(
  backend: WasmBackend, transA: boolean, transB: boolean, M: number, N: number, K: number,
  accumulate: boolean, pad: number, rnd: () => number, special: 'none' | 'zeros' | 'large',
): void {
  const lda = (transA ? M : K) + pad, ldb = (transB ? K : N) + pad, ldc = N + pad;
  const aRows = transA ? K : M, bRows = transB ? N : K;
  const A = randArray(aRows * lda + 3, rnd), B = randArray(bRows * ldb + 3, rnd);
  if (special === 'zeros') {
    for (let i = 0; i < A.length; i += 2) A[i] = 0;
    for (let i = 0; i < B.length; i += 3) B[i] = 0;
  } else if (special === 'large') {
    for (let i = 0; i < A.length; i += 5) A[i]! *= 1e18;
    for (let i = 0; i < B.length; i += 7) B[i]! *= 1e17;
  }
  // C: NaN everywhere the kernel must not touch or must overwrite; finite values to accumulate into.
  const Cw = nanArray(M * ldc + 5);
  if (accumulate) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) Cw[i * ldc + j] = rnd() * 2 - 1;
  const C0 = Cw.slice();
  const Cr = Cw.slice();
  gemmRef(transA, transB, M, N, K, A, lda, B, ldb, Cr, ldc, accumulate);
  backend.gemm(transA, transB, M, N, K, A, lda, B, ldb, Cw, ldc, accumulate);
  assertWithin(Cw, Cr, gemmTolerance(transA, transB, K, A, lda, B, ldb, ldc, accumulate ? C0 : null), `gemm(${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}, M=${M} N=${N} K=${K}, acc=${accumulate}, pad=${pad}, ${special}) C`);
}

for (const { variant, backend } of runnable) {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const tag = `${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`;
      test(`${variant}: gemm ${tag}, all tails M,N,K in {${SIZES}}, accumulate, lda/ldb/ldc > width`, () => {
        const rnd = prng(0x9e3779b9 ^ (+transA * 2 + +transB));
        for (const M of SIZES) for (const N of SIZES) for (const K of SIZES) {
          for (const accumulate of [false, true]) {
            for (const pad of [0, 3]) gemmCheck(backend, transA, transB, M, N, K, accumulate, pad, rnd, 'none');
          }
        }
      });
      test(`${variant}: gemm ${tag}, zeros, large values, K = 0, blocked sizes`, () => {
        const rnd = prng(77 + +transA * 2 + +transB);
        for (const [M, N, K] of [[5, 17, 64], [17, 8, 3], [64, 64, 17], [4, 8, 1]] as const) {
          gemmCheck(backend, transA, transB, M, N, K, false, 1, rnd, 'zeros');
          gemmCheck(backend, transA, transB, M, N, K, true, 2, rnd, 'large');
        }
        // K = 0: C = accumulate ? C : 0.
        gemmCheck(backend, transA, transB, 5, 9, 0, false, 2, rnd, 'none');
        gemmCheck(backend, transA, transB, 5, 9, 0, true, 0, rnd, 'none');
        // Shapes that cross the kernels' K block (512) and M block (64), with tails.
        gemmCheck(backend, transA, transB, 70, 21, 300, false, 1, rnd, 'none');
        gemmCheck(backend, transA, transB, 133, 40, 520, true, 0, rnd, 'none');
        // K >= 1024 and >= M: computed in two parts of K (the second one's sum added to C after);
        // an odd K, and K = M at the edge. M > K (1031 x 1030) is not split.
        gemmCheck(backend, transA, transB, 70, 21, 1101, true, 3, rnd, 'none');
        gemmCheck(backend, transA, transB, 1030, 9, 1030, false, 0, rnd, 'none');
        gemmCheck(backend, transA, transB, 1031, 5, 1030, true, 1, rnd, 'none');
      });
    }
  }

  test(`${variant}: gemm rows from 5-row and 4-row tiles are bit-identical to the same rows computed 4 at a time`, () => {
    // Large calls compute most rows with a 5-row tile, the rest (and calls of 4 rows) with the
    // 4-row one: each element must be the same k-ordered chain of multiply-adds either way, which
    // the two-thread split by rows relies on. M = 143 and 141: blocks of 64 (60 + 4 rows) and a
    // last block of 15 or 13 rows (141: a lone last row, summed by the 1-row kernel both ways).
    // M = 517 and 770 with Aᵀ (rows over 2 KB apart): every block of a K block packed in one pass, then
    // the tiles of each block — 517: a last block of 5 rows (a 4-row group and a lone row), two K
    // blocks; 770: a last block of 2 rows, K in two parts, a narrow last panel (N = 9).
    const rnd = prng(0x5eed);
    for (const transA of [false, true]) {
      for (const [M, N, K, accumulate] of [[143, 21, 600, false], [141, 40, 70, true], [517, 21, 600, true], [770, 9, 1100, false]] as const) {
        const lda = (transA ? M : K) + 1, ldb = N + 2, ldc = N + 3;
        const A = randArray((transA ? K : M) * lda, rnd), B = randArray(K * ldb, rnd);
        const C0 = randArray(M * ldc, rnd);
        const whole = C0.slice(), byFour = C0.slice();
        backend.gemm(transA, false, M, N, K, A, lda, B, ldb, whole, ldc, accumulate);
        for (let r = 0; r < M; r += 4) {
          const rows = Math.min(4, M - r);
          backend.gemm(transA, false, rows, N, K, A.subarray(transA ? r : r * lda), lda, B, ldb, byFour.subarray(r * ldc), ldc, accumulate);
        }
        assert.deepEqual(new Uint32Array(whole.buffer), new Uint32Array(byFour.buffer), `M=${M} N=${N} K=${K} transA=${transA} acc=${accumulate}`);
      }
    }
  });

  test(`${variant}: gemm's lone last row (M % 4 == 1: panels three at a time, then the one or two left) gets the bits of the same row in a 4-row tile`, () => {
    // Without accumulation or a bias, a 4-row tile computes each element as one chain of
    // multiply-adds over k in order from zero, and so must the lone-row kernels (K <= 512, one K
    // block: with more, the tiles chain the next block onto C). N covers every panel remainder and
    // a partial last panel; a swapped panel, a skipped one or another summation order would differ.
    const rnd = prng(0x10e);
    for (const transA of [false, true]) for (const N of [5, 13, 21, 24, 32, 40, 61]) for (const K of [1, 7, 256, 512]) for (const M of [1, 5]) {
      const wide = M + 3, lda = (transA ? wide : K) + 1, ldb = N + 2, ldc = N + 3;
      const A = randArray((transA ? K : wide) * lda, rnd), B = randArray(K * ldb, rnd);
      const alone = nanArray(M * ldc), inTile = nanArray(wide * ldc);
      backend.gemm(transA, false, M, N, K, A, lda, B, ldb, alone, ldc, false);
      backend.gemm(transA, false, wide, N, K, A, lda, B, ldb, inTile, ldc, false);
      const r = M - 1;
      assertBits(alone.subarray(r * ldc, r * ldc + N), inTile.subarray(r * ldc, r * ldc + N), `M=${M} N=${N} K=${K} transA=${transA}: row ${r}`);
    }
  });

  test(`${variant}: gemm of one or two rows by Bᵀ (read as it lies, by gemv): column blocks with tails, and each row's bits as gemv gives them`, () => {
    // M <= 2 with op(B) = Bᵀ skips the packing: blocks of 128 columns of C, each a gemv over
    // rows of B, added to C (accumulate) or written. N crosses one, two and three blocks.
    const rnd = prng(0x9e37);
    for (const M of [1, 2]) for (const N of [1, 127, 128, 129, 300]) for (const K of [1, 7, 33, 259]) {
      for (const accumulate of [false, true]) gemmCheck(backend, false, true, M, N, K, accumulate, (N + K) % 2 ? 3 : 0, rnd, 'none');
    }
    gemmCheck(backend, false, true, 2, 300, 64, true, 1, rnd, 'large');
    // Row m of C is gemv's sum for row m of A (C + that sum when accumulating).
    const N = 300, K = 259, lda = K + 2, ldb = K + 1, ldc = N + 3;
    const A = randArray(2 * lda, rnd), B = randArray(N * ldb, rnd), C0 = randArray(2 * ldc, rnd);
    const C = C0.slice(), Cacc = C0.slice();
    backend.gemm(false, true, 2, N, K, A, lda, B, ldb, C, ldc, false);
    backend.gemm(false, true, 2, N, K, A, lda, B, ldb, Cacc, ldc, true);
    for (let m = 0; m < 2; m++) {
      const y = backend.gemv(B, ldb, K, A.subarray(m * lda, m * lda + K), 0, N);
      for (let j = 0; j < N; j++) {
        assert.equal(C[m * ldc + j], y[j], `row ${m} column ${j}`);
        assert.equal(Cacc[m * ldc + j], Math.fround(C0[m * ldc + j]! + y[j]!), `accumulated row ${m} column ${j}`);
      }
    }
  });

  test(`${variant}: memory growth between calls keeps results right; Float64Array is refused`, () => {
    const rnd = prng(5);
    gemmCheck(backend, false, true, 3, 5, 4, false, 0, rnd, 'none');
    gemmCheck(backend, false, false, 200, 300, 100, false, 0, rnd, 'none'); // grows memory
    gemmCheck(backend, true, false, 3, 5, 4, true, 1, rnd, 'none');
    const a = new Float64Array(4);
    assert.throws(() => backend.gemm(false, false, 2, 2, 2, a, 2, a, 2, a, 2, false), /float32 only/);
  });
}

// ---------------------------------------------------------------------------------------------
// Whole-sequence forward / backward
// ---------------------------------------------------------------------------------------------

interface CellConfig { kind: CellKind; resetAfter: boolean; label: string; hardSigmoid?: boolean }
const CELLS: CellConfig[] = [
  { kind: 'lstm', resetAfter: false, label: 'lstm' },
  { kind: 'gru', resetAfter: true, label: 'gru resetAfter' },
  { kind: 'gru', resetAfter: false, label: 'gru !resetAfter' },
  { kind: 'rnn_tanh', resetAfter: false, label: 'rnn_tanh' },
  { kind: 'rnn_relu', resetAfter: false, label: 'rnn_relu' },
  // The gates as hard sigmoids, clip(0.2·x + 0.5, 0, 1) (TF.js's default recurrent activation).
  { kind: 'lstm', resetAfter: false, hardSigmoid: true, label: 'lstm hardSigmoid' },
  { kind: 'gru', resetAfter: true, hardSigmoid: true, label: 'gru resetAfter hardSigmoid' },
  { kind: 'gru', resetAfter: false, hardSigmoid: true, label: 'gru !resetAfter hardSigmoid' },
];
const DIMS = [1, 3, 4, 5, 8, 17];
type LengthMode = 'null' | 'with0' | 'partial' | 'full';
const LENGTH_MODES: LengthMode[] = ['null', 'with0', 'partial', 'full'];

function makeLengths(mode: LengthMode, B: number, T: number, rnd: () => number): Int32Array | null {
  if (mode === 'null') return null;
  const l = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    if (mode === 'full') l[b] = T;
    else if (mode === 'partial') l[b] = b % 3 === 2 ? T : 1 + Math.floor(rnd() * (T - 1)); // in [1, T]
    else l[b] = b % 2 === 0 ? 0 : Math.floor(rnd() * (T + 1)); // in [0, T], 0 on even rows
  }
  return l;
}

/**
 * Tolerances. The kernels differ from the reference by (a) the rational tanh/sigmoid, |err| <
 * 3.3e-7 absolute per activation, and (b) float32 rounding in the recurrent products (K <= 68
 * terms) and gate arithmetic, ~1e-7 relative. Over T = 5 steps with weights ~ U(-1,1)/sqrt(H)
 * the state map is roughly non-expansive, so forward values stay within a few 1e-6 of the
 * reference: FWD_TOL = 1e-5 (absolute plus relative to |ref|, since cell states can exceed 1)
 * leaves a margin of a few. Backward compounds these differences through the chain rule
 * (products of a few gate derivatives, each perturbed by ~1e-6, with sums over T steps of
 * unit-scale upstream gradients), so it gets 4x more.
 */
const FWD_TOL = 1e-5;
const BWD_TOL = 4e-5;
const rel = (scale: number) => (_i: number, w: number): number => scale * (1 + Math.abs(w));

interface SeqCase {
  cell: CellConfig; T: number; B: number; H: number; lengths: Int32Array | null; reverse: boolean;
  special: 'none' | 'large' | 'inf' | 'zeros';
}

function seqCheck(backend: WasmBackend, c: SeqCase, rnd: () => number): void {
  const { cell, T, B, H, lengths, reverse, special } = c;
  const { kind, resetAfter, hardSigmoid } = cell;
  const G = gateWidth(kind, H), BH = B * H;
  const name = `${cell.label} T=${T} B=${B} H=${H} reverse=${reverse} lengths=${lengths ? `[${lengths}]` : 'null'} ${special}`;
  const wScale = 1 / Math.sqrt(H);
  const xg = randArray(T * B * G, rnd, special === 'large' ? 60 : 1);
  if (special === 'inf') for (let i = 0; i < xg.length; i += 7) xg[i] = i % 2 === 0 ? Infinity : -Infinity;
  if (special === 'large') for (let i = 0; i < xg.length; i += 11) xg[i]! *= 1e3; // |x| up to 6e4
  if (special === 'zeros') xg.fill(0);
  const whh = special === 'zeros' ? new Float32Array(G * H) : randArray(G * H, rnd, wScale);
  const bhn = kind === 'gru' && rnd() < 0.75 ? randArray(H, rnd, 0.5) : null;
  const h0 = randArray(BH, rnd, 0.8), c0 = kind === 'lstm' ? randArray(BH, rnd, 1.5) : null;
  const ldOut = H + 2, outOffset = 3;
  const outLen = outOffset + T * B * ldOut + 1;
  const mkCache = (): SeqCache<Float32Array> => {
    const cc = allocCache((n) => new Float32Array(n), kind, T, B, H);
    for (const a of [cc.h, cc.c, cc.gates, cc.aux]) a.fill(NaN);
    return cc;
  };
  const fwd = (be: typeof referenceBackend | WasmBackend): { out: Float32Array; cache: SeqCache<Float32Array> } => {
    const out = nanArray(outLen), cache = mkCache();
    be.seqForward({ kind, resetAfter, hardSigmoid, T, B, H, lengths, reverse, xg, whh, bhn, h0, c0, out, outOffset, ldOut, cache });
    return { out, cache };
  };
  const r = fwd(referenceBackend), w = fwd(backend);
  const ft = rel(FWD_TOL);
  assertWithin(w.out, r.out, ft, `${name}: out`);
  assertWithin(w.cache.h, r.cache.h, ft, `${name}: cache.h`);
  assertWithin(w.cache.c, r.cache.c, ft, `${name}: cache.c`);
  // gates/aux: the reference leaves padded rows untouched (NaN here); the kernels write zeros.
  const valid = (t: number, b: number): boolean => lengths === null || t < lengths[b]!;
  for (const [arr, width] of [['gates', G], ['aux', H]] as const) {
    const gw = w.cache[arr], gr = r.cache[arr];
    if (gr.length === 0) continue;
    const gwValid = gw.slice(), grValid = gr.slice();
    for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) {
      if (valid(t, b)) continue;
      const o = (t * B + b) * width;
      for (let k = 0; k < width; k++) assert.equal(gw[o + k], 0, `${name}: padded cache.${arr}[${o + k}] must be 0`);
      gwValid.fill(0, o, o + width); grValid.fill(0, o, o + width);
    }
    assertWithin(gwValid, grValid, ft, `${name}: cache.${arr}`);
  }

  // Backward from the reference's cache, so only the backward kernels are compared.
  const cache = r.cache;
  for (const a of [cache.gates, cache.aux]) for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i]!)) a[i] = 0;
  const ldDOut = H + 1, dOutOffset = 2;
  const withDOut = rnd() < 0.85;
  const dOut = withDOut ? randArray(dOutOffset + T * B * ldDOut, rnd) : null;
  const dhN = rnd() < 0.6 ? randArray(BH, rnd) : null;
  const dcN = kind === 'lstm' && rnd() < 0.6 ? randArray(BH, rnd) : null;
  const sameDgh = kind !== 'gru' && rnd() < 0.5;
  const bwd = (be: typeof referenceBackend | WasmBackend) => {
    const dxg = nanArray(T * B * G), dgh = sameDgh ? dxg : nanArray(T * B * G);
    const dh0 = nanArray(BH), dc0 = kind === 'lstm' ? nanArray(BH) : null;
    be.seqBackward({
      kind, resetAfter, hardSigmoid, T, B, H, lengths, reverse, whh, bhn, cache, dOut, dOutOffset, ldDOut,
      dhN, dcN, dxg, dgh, dh0, dc0,
    });
    return { dxg, dgh, dh0, dc0 };
  };
  const rb = bwd(referenceBackend), wb = bwd(backend);
  const bt = rel(BWD_TOL);
  assertWithin(wb.dxg, rb.dxg, bt, `${name}: dxg`);
  assertWithin(wb.dgh, rb.dgh, bt, `${name}: dgh`);
  assertWithin(wb.dh0, rb.dh0, bt, `${name}: dh0`);
  if (rb.dc0) assertWithin(wb.dc0!, rb.dc0, bt, `${name}: dc0`);
}

for (const { variant, backend } of runnable) {
  for (const cell of CELLS) {
    test(`${variant}: seqForward/seqBackward ${cell.label}, reverse x lengths x B,H in {${DIMS}}`, () => {
      const rnd = prng(1234 + CELLS.indexOf(cell));
      const T = 5;
      for (const reverse of [false, true]) for (const mode of LENGTH_MODES) {
        for (const B of DIMS) for (const H of DIMS) {
          seqCheck(backend, { cell, T, B, H, lengths: makeLengths(mode, B, T, rnd), reverse, special: 'none' }, rnd);
        }
      }
    });
    test(`${variant}: seqForward/seqBackward ${cell.label}, saturating and ±Inf inputs, zeros, T = 1 and 12`, () => {
      const rnd = prng(99 + CELLS.indexOf(cell));
      for (const reverse of [false, true]) {
        for (const [B, H] of [[3, 5], [8, 17], [4, 8]] as const) {
          const lengths = makeLengths('with0', B, 6, rnd);
          seqCheck(backend, { cell, T: 6, B, H, lengths, reverse, special: 'large' }, rnd);
          // ±Inf pre-activations saturate every gate; for ReLU they would become Inf states.
          if (cell.kind !== 'rnn_relu') seqCheck(backend, { cell, T: 6, B, H, lengths, reverse, special: 'inf' }, rnd);
          seqCheck(backend, { cell, T: 6, B, H, lengths: null, reverse, special: 'zeros' }, rnd);
          seqCheck(backend, { cell, T: 1, B, H, lengths: makeLengths('partial', B, 1, rnd), reverse, special: 'none' }, rnd);
          seqCheck(backend, { cell, T: 12, B, H, lengths: makeLengths('partial', B, 12, rnd), reverse, special: 'none' }, rnd);
        }
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Vanishing gradients and decaying states: flushed to zero below 2^-96, never subnormal
// ---------------------------------------------------------------------------------------------
// A gradient shrinking step by step through a long sequence passes through the subnormal range
// on its way to zero, where (on CPUs that take a microcode assist per subnormal operand) every
// product with it ran up to 180 times slower. The backward gate passes flush what they read and
// write below 2^-96 to +0, the forward ones the states they write (asm/kernels.ts, ftz). Below,
// small recurrent weights and gates make a gradient fall ~10x a step from a unit dOut at the last
// step, and a state with no input or bias shrink each step: the reference keeps the tiny values,
// the kernels must give exactly 0 for those, and agree with it wherever it is well above the
// threshold.

const FLUSH = 2 ** -96;

/**
 * The kernels' values against the reference's: none below 2^-96 but 0; 0 wherever the reference's
 * is below 2^-97 (and there are such values: the case reaches the range); within 1e-2 relative
 * above 2^-80 (float32 against float64 over up to 150 chained steps drifts to a few 1e-4; a value
 * flushed or lost would be off by 1), more than `minCompared` of them.
 */
function assertFlushed(got: Float32Array, want: Float32Array, what: string, minCompared: number): void {
  let tiny = 0, compared = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, v = Math.abs(want[i]!);
    assert.ok(g === 0 || Math.abs(g) >= FLUSH, `${what}[${i}] = ${g} is below 2^-96 but not 0`);
    if (v > 0 && v < FLUSH / 2) { tiny++; assert.equal(g, 0, `${what}[${i}]: reference ${want[i]}, kernels ${g}`); }
    if (v > 2 ** -80) { compared++; assert.ok(Math.abs(g - want[i]!) <= 1e-2 * v, `${what}[${i}]: reference ${want[i]}, kernels ${g}`); }
  }
  assert.ok(tiny > 0, `${what}: no reference value below 2^-97 (the case does not reach the range)`);
  assert.ok(compared > minCompared, `${what}: only ${compared} values above 2^-80`);
}

/** A gradient falling ~10x a step through 60 steps: small gates and recurrent weights. */
function flushBackwardCase(backend: WasmBackend, cell: CellConfig, rnd: () => number): void {
  const { kind, resetAfter, hardSigmoid } = cell;
  const T = 60, B = 3, H = 8, G = gateWidth(kind, H), BH = B * H;
  const cache = allocCache((n) => new Float32Array(n), kind, T, B, H);
  for (let i = 0; i < cache.h.length; i++) cache.h[i] = rnd() * 2 - 1;
  if (cache.c.length) for (let i = 0; i < cache.c.length; i++) cache.c[i] = rnd() * 2 - 1;
  // Gates in (0, 0.1): sigmoid derivatives ~0.05-0.1, an LSTM forget gate of ~0.05.
  for (let i = 0; i < cache.gates.length; i++) cache.gates[i] = 0.1 * rnd();
  for (let i = 0; i < cache.aux.length; i++) cache.aux[i] = rnd() * 2 - 1;
  const whh = randArray(G * H, rnd, 0.1), bhn = kind === 'gru' ? randArray(H, rnd) : null;
  const dOut = new Float32Array(T * BH);
  for (let i = (T - 1) * BH; i < T * BH; i++) dOut[i] = rnd() * 2 - 1;
  const run = (be: typeof referenceBackend | WasmBackend) => {
    const dxg = nanArray(T * B * G), dgh = nanArray(T * B * G), dh0 = nanArray(BH), dc0 = kind === 'lstm' ? nanArray(BH) : null;
    be.seqBackward({
      kind, resetAfter, hardSigmoid, T, B, H, lengths: null, reverse: false, whh, bhn, cache, dOut, dOutOffset: 0, ldDOut: H,
      dhN: null, dcN: null, dxg, dgh, dh0, dc0,
    });
    return { dxg, dgh };
  };
  const r = run(referenceBackend), w = run(backend);
  for (const key of ['dxg', 'dgh'] as const) assertFlushed(w[key], r[key], `${cell.label}: ${key}`, B * G);
}

/** A state shrinking through 150 steps: no input after the first step, no bias, small weights. */
function flushForwardCase(backend: WasmBackend, cell: CellConfig, rnd: () => number): void {
  const { kind, resetAfter, hardSigmoid } = cell;
  const T = 150, B = 3, H = 8, G = gateWidth(kind, H), BH = B * H;
  const xg = new Float32Array(T * B * G);
  // (ReLU: positive weights and inputs, else the state may hit exact zeros at once.)
  const relu = kind === 'rnn_relu';
  for (let i = 0; i < B * G; i++) xg[i] = relu ? 4 * rnd() : 4 * (rnd() * 2 - 1);
  const whh = relu ? randArray(G * H, rnd, 0.15).map(Math.abs) : randArray(G * H, rnd, 0.3);
  const bhn = kind === 'gru' ? new Float32Array(H) : null;
  const run = (be: typeof referenceBackend | WasmBackend) => {
    const out = nanArray(T * BH), cache = allocCache((n) => new Float32Array(n), kind, T, B, H);
    be.seqForward({
      kind, resetAfter, hardSigmoid, T, B, H, lengths: null, reverse: false, xg, whh, bhn,
      h0: new Float32Array(BH), c0: kind === 'lstm' ? new Float32Array(BH) : null, out, outOffset: 0, ldOut: H, cache,
    });
    return out;
  };
  assertFlushed(run(backend), run(referenceBackend), `${cell.label}: out`, BH);
}

for (const { variant, backend } of runnable) {
  test(`${variant}: gate passes flush below 2^-96 to zero: gradients vanishing through 60 steps, states decaying through 150, every cell`, () => {
    // (Not the hard-sigmoid cells: the same flushing code, and a decay the 1% comparison below
    // does not suit — their gates clip to exactly 0 or 1, and in the GRU without resetAfter over
    // 150 steps the two wasm builds (FMA or not) already end 7% apart at 1.5e-11.)
    for (const cell of CELLS.filter((c) => !c.hardSigmoid)) {
      flushBackwardCase(backend, cell, prng(777 + CELLS.indexOf(cell)));
      flushForwardCase(backend, cell, prng(555 + CELLS.indexOf(cell)));
    }
  });
}

// ---------------------------------------------------------------------------------------------
// A batch's rows alone and inside a wider batch: the same bits
// ---------------------------------------------------------------------------------------------
// Batch rows are independent sequences, and a step's recurrent product computes every element as
// one multiply-add chain over k in order, whichever register tile holds it: 5-row tiles for the
// first multiple of 20 rows in the relaxed build, 4-row tiles after them (B = 16: 4-row tiles
// only; B + 4 = 20: 5-row tiles only). So a batch of B rows and the same rows with 4 more must
// agree bit for bit — forward outputs and caches, backward's input and state gradients — and a
// kernel whose tiles summed in another order, or mixed up rows, would not.

/** Rows [0, B) of each of the n slots of a (n, B2, w) array. */
function firstRows(a: Float32Array, n: number, B2: number, w: number, B: number): Float32Array {
  const r = new Float32Array(n * B * w);
  for (let i = 0; i < n; i++) r.set(a.subarray(i * B2 * w, (i * B2 + B) * w), i * B * w);
  return r;
}

/** (n, B, w) -> (n, B2, w): rows [0, B) of every slot as given, the others random. */
function widen(a: Float32Array, n: number, B: number, w: number, B2: number, rnd: () => number): Float32Array {
  const r = randArray(n * B2 * w, rnd);
  for (let i = 0; i < n; i++) r.set(a.subarray(i * B * w, (i + 1) * B * w), i * B2 * w);
  return r;
}

function assertBits(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (!Object.is(g, w) && !(Number.isNaN(g) && Number.isNaN(w))) assert.fail(`${what}[${i}]: alone ${g}, in a wider batch ${w}`);
  }
}

for (const { variant, backend } of runnable) {
  test(`${variant}: a batch's rows give the same bits alone (B = 8, 16, 32) and inside a batch of B + 4 rows`, () => {
    const rnd = prng(777);
    const T = 4;
    for (const cell of CELLS) for (const B of [8, 16, 32]) for (const H of [5, 33, 64]) for (const reverse of [false, true]) {
      const { kind, resetAfter, hardSigmoid } = cell, G = gateWidth(kind, H), B2 = B + 4;
      const name = `${cell.label} B=${B} H=${H} reverse=${reverse}`;
      const lengths = makeLengths('partial', B, T, rnd)!;
      const lengths2 = Int32Array.from({ length: B2 }, (_, b) => (b < B ? lengths[b]! : 1 + (b % T)));
      const xg = randArray(T * B * G, rnd), whh = randArray(G * H, rnd, 1 / Math.sqrt(H));
      const bhn = kind === 'gru' ? randArray(H, rnd, 0.5) : null;
      const h0 = randArray(B * H, rnd, 0.8), c0 = kind === 'lstm' ? randArray(B * H, rnd, 1.5) : null;
      const dOut = randArray(T * B * H, rnd), dhN = randArray(B * H, rnd);
      const dcN = kind === 'lstm' ? randArray(B * H, rnd) : null;
      const run = (b: number, wide: boolean) => {
        const x = wide ? widen(xg, T, B, G, b, rnd) : xg;
        const h = wide ? widen(h0, 1, B, H, b, rnd) : h0, c = c0 && (wide ? widen(c0, 1, B, H, b, rnd) : c0);
        const out = nanArray(T * b * H), cache = allocCache((n) => new Float32Array(n), kind, T, b, H);
        const lens = wide ? lengths2 : lengths;
        backend.seqForward({ kind, resetAfter, hardSigmoid, T, B: b, H, lengths: lens, reverse, xg: x, whh, bhn, h0: h, c0: c, out, outOffset: 0, ldOut: H, cache });
        const dxg = nanArray(T * b * G), dgh = kind === 'gru' ? nanArray(T * b * G) : dxg;
        const dh0 = nanArray(b * H), dc0 = kind === 'lstm' ? nanArray(b * H) : null;
        backend.seqBackward({
          kind, resetAfter, hardSigmoid, T, B: b, H, lengths: lens, reverse, whh, bhn, cache,
          dOut: wide ? widen(dOut, T, B, H, b, rnd) : dOut, dOutOffset: 0, ldDOut: H,
          dhN: wide ? widen(dhN, 1, B, H, b, rnd) : dhN, dcN: dcN && (wide ? widen(dcN, 1, B, H, b, rnd) : dcN),
          dxg, dgh, dh0, dc0,
        });
        const rows = (a: Float32Array, n: number, w: number) => (wide ? firstRows(a, n, b, w, B) : a);
        return {
          out: rows(out, T, H), h: rows(cache.h, T + 1, H), c: rows(cache.c, kind === 'lstm' ? T + 1 : 0, H),
          gates: rows(cache.gates, cache.gates.length ? T : 0, G), aux: rows(cache.aux, cache.aux.length ? T : 0, H),
          dxg: rows(dxg, T, G), dgh: rows(dgh, T, G), dh0: rows(dh0, 1, H), dc0: dc0 ? rows(dc0, 1, H) : null,
        };
      };
      const alone = run(B, false), inWide = run(B2, true);
      for (const k of ['out', 'h', 'c', 'gates', 'aux', 'dxg', 'dgh', 'dh0'] as const) assertBits(alone[k], inWide[k], `${name}: ${k}`);
      if (alone.dc0) assertBits(alone.dc0, inWide.dc0!, `${name}: dc0`);
    }
  });
}

// Batch 1 multiplies by W_hh packed in blocks of 28 rows and in mixed groups of seven 4-row
// vectors across gate blocks (b1_plan in asm/kernels.ts: full blocks of 28 units before and after a
// region of 28 + H mod 28 units near H/2, cut into two mixed chunks). Each row is one multiply-add
// chain over k in order, as the GEMM's register tiles compute a batch row, so a batch-1 sequence
// gives the bits of the same sequence as a row of a batch, for every H: no split of H, no region,
// no partial vector (H mod 4 != 0) or padded group may change them. A transposed or misplaced
// block, a vector stored to the wrong unit or gate, or a row summed in another order would not
// give them. The sizes: H < 28 (no full block: the region is all of H), 28 and 56 (a region of
// one block), 29, 33, 61 (a unit left over), 57, 85, 256 (LSTM 256: W5a's layer, cut 12 | 20).
for (const { variant, backend } of runnable) {
  test(`${variant}: a batch-1 sequence gives the bits of the same sequence as row 0 of a batch of 4 (W_hh packed in blocks and mixed groups, every H)`, () => {
    const rnd = prng(4242);
    for (const cell of CELLS) for (const H of [1, 5, 16, 28, 29, 33, 56, 57, 61, 85, 256]) for (const reverse of [false, true]) {
      const { kind, resetAfter, hardSigmoid } = cell, G = gateWidth(kind, H), B2 = 4, T = 3;
      const name = `batch 1, ${cell.label} H=${H} reverse=${reverse}`;
      const xg = randArray(T * G, rnd), whh = randArray(G * H, rnd, 1 / Math.sqrt(H));
      const bhn = kind === 'gru' ? randArray(H, rnd, 0.5) : null;
      const h0 = randArray(H, rnd, 0.8), c0 = kind === 'lstm' ? randArray(H, rnd, 1.5) : null;
      const run = (b: number) => {
        const wide = b > 1;
        const out = nanArray(T * b * H), cache = allocCache((n) => new Float32Array(n), kind, T, b, H);
        backend.seqForward({
          kind, resetAfter, hardSigmoid, T, B: b, H, lengths: null, reverse, xg: wide ? widen(xg, T, 1, G, b, rnd) : xg, whh, bhn,
          h0: wide ? widen(h0, 1, 1, H, b, rnd) : h0, c0: c0 && (wide ? widen(c0, 1, 1, H, b, rnd) : c0), out, outOffset: 0, ldOut: H, cache,
        });
        const rows = (a: Float32Array, n: number, w: number) => (wide ? firstRows(a, n, b, w, 1) : a);
        return { out: rows(out, T, H), h: rows(cache.h, T + 1, H), c: rows(cache.c, kind === 'lstm' ? T + 1 : 0, H), gates: rows(cache.gates, cache.gates.length ? T : 0, G) };
      };
      const alone = run(1), inBatch = run(B2);
      for (const k of ['out', 'h', 'c', 'gates'] as const) assertBits(alone[k], inBatch[k], `${name}: ${k}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Backend selection
// ---------------------------------------------------------------------------------------------

if (!isChild) {
  test('float32 runs on the best loaded wasm variant (or RNNKIT_BACKEND), float64 on the reference', () => {
    const env = process.env.RNNKIT_BACKEND;
    const variant = env ? env : (wasmVariant ?? 'reference');
    // Two kernel threads by default on 2+ cores (the threaded build of the same variant).
    const threads = variant !== 'reference' && getThreads() === 2;
    const expected = threads ? `${variant}-threads` : variant;
    assert.equal(backendName(), expected);
    assert.equal(getBackend().name, expected);
    assert.equal(backendFor(new Float64Array(1)), referenceBackend);
    assert.equal(backendFor(new Float32Array(1)).name, expected);
    if (!env) assert.notEqual(wasmVariant, null, 'no WebAssembly variant loaded in this process');
  });
}
