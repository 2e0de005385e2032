// bench/breakdown.ts: the per-kernel split of a benchmark step (`npm run bench -- --breakdown`).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { instrument, KERNEL_FLOPS } from '../bench/breakdown.js';
import type { Backend, LayerForwardArgs } from '../src/kernels/types.js';

/** A clock the fake kernels advance: durations are exact, whatever the machine's load. */
let clock = 0;
const spin = (ms: number): void => { clock += ms; };

class FakeBackend {
  readonly name = 'fake';
  gemmCalls = 0;
  gemm(_tA: boolean, _tB: boolean, _M: number, _N: number, _K: number): void { this.gemmCalls++; spin(2); }
  /** Calls gemm inside, as composed layer ops do: counted once, as layerForward. */
  layerForward(_a: LayerForwardArgs): void { this.gemm(false, true, 8, 8, 8); spin(3); }
  /** An own property (not on the prototype): restored as it was. */
  denseForward = (_a: { rows: number; K: number; U: number }): void => { spin(1); };
}

test('breakdown: outermost calls timed once each, flops of each entry point, the rest of the step, methods restored', () => {
  const be = new FakeBackend();
  const ownDense = be.denseForward;
  const probe = instrument(be as unknown as Backend, () => clock);
  const lf = { kind: 'lstm', T: 30, B: 20, H: 50, I: 40 } as unknown as LayerForwardArgs;
  const t0 = clock;
  be.layerForward(lf); be.layerForward(lf); // each: one nested gemm (not counted as gemm)
  be.gemm(false, false, 400, 600, 700);
  be.denseForward({ rows: 300, K: 400, U: 500 });
  spin(10); // outside the kernels
  const stepMs = clock - t0;
  assert.equal(be.gemmCalls, 3, 'the wrapped methods still run');
  const rows = probe.rows(1, stepMs);
  const by = new Map(rows.map((r) => [r.what, r]));
  assert.deepEqual([...by.keys()].sort(), ['denseForward', 'gemm', 'layerForward', 'outside the kernels']);
  const layer = by.get('layerForward')!, gemm = by.get('gemm')!, dense = by.get('denseForward')!;
  assert.equal(layer.callsPerStep, 2);
  assert.equal(gemm.callsPerStep, 1, 'the gemm calls inside layerForward are not counted again');
  assert.equal(layer.msPerStep, 10, 'layerForward: 2 x (3 ms + its gemm\'s 2 ms)');
  assert.equal(gemm.msPerStep, 2);
  assert.equal(dense.msPerStep, 1);
  // Flops: an LSTM layer forward is 2·T·B·4H·(I + H); a GEMM 2MNK; both over their own time.
  const layerFlops = 2 * (2 * 30 * 20 * 200 * (40 + 50));
  assert.equal(KERNEL_FLOPS['layerForward']!(lf as never), layerFlops / 2);
  assert.equal(layer.gflops, +(layerFlops / 10 / 1e6).toFixed(1));
  assert.equal(gemm.gflops, (2 * 400 * 600 * 700) / 2 / 1e6);
  assert.equal(dense.gflops, (2 * 300 * 400 * 500) / 1 / 1e6, 'dense: 2·rows·K·U flops in 1 ms');
  // The rest is the step minus the kernels, and the shares add up to the whole step.
  assert.equal(stepMs, 23);
  assert.equal(by.get('outside the kernels')!.msPerStep, 10);
  assert.deepEqual(rows.map((r) => r.share), [10 / 23, 2 / 23, 1 / 23, 10 / 23].map((x) => +x.toFixed(3)));
  assert.deepEqual(rows.map((r) => r.what), ['layerForward', 'gemm', 'denseForward', 'outside the kernels'], 'kernels by time, then the rest');

  // reset() starts a new count; restore() puts back the prototype's methods and the own property.
  probe.reset();
  assert.equal(probe.rows(1, 1).length, 1, 'after reset only the rest remains');
  probe.restore();
  assert.equal(Object.hasOwn(be, 'layerForward'), false);
  assert.equal(Object.hasOwn(be, 'gemm'), false);
  assert.equal(be.denseForward, ownDense);
  be.gemm(false, false, 1, 1, 1);
  assert.equal(probe.rows(1, 1).length, 1, 'calls after restore() are not counted');
});
