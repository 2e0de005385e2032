// bench/workloads.ts: timing with the weights fixed (`npm run bench -- --fixed-weights`).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { timeWorkload, WORKLOADS } from '../bench/workloads.js';
import { getBackend } from '../src/kernels/index.js';

test('bench: --fixed-weights runs an inference workload\'s warm-up and timed steps in one withFixedWeights scope; training workloads refuse it', () => {
  assert.throws(() => timeWorkload('W1', {}, true), /fixed weights: W1 trains \(its weights change every step\); only W5a, W5b take them/);
  // A cheap inference workload, to see in which scope its steps run.
  const be = getBackend() as { fixedWeights?: <T>(fn: () => T) => T };
  const own = Object.getOwnPropertyDescriptor(be, 'fixedWeights');
  const inherited = be.fixedWeights;
  assert.ok(inherited, 'the float32 backend has fixedWeights');
  let open = 0, scopes = 0;
  be.fixedWeights = <T>(fn: () => T): T => { open++; scopes++; try { return inherited.call(be, fn) as T; } finally { open--; } };
  // The scopes open at each step of each run.
  const runs: number[][] = [];
  WORKLOADS['test-infer'] = {
    description: 'test', warmup: 1, reps: 3, inference: true,
    setup: () => { const seen: number[] = []; runs.push(seen); return { step: () => { seen.push(open); }, tokens: 1, sequences: 1 }; },
  };
  try {
    const fixed = timeWorkload('test-infer', {}, true);
    assert.equal(fixed.times.length, 3);
    assert.equal(scopes, 1, 'one scope for the whole run');
    timeWorkload('test-infer', {}, false);
    assert.equal(scopes, 1, 'no scope without fixed weights');
    const [withScope, without] = runs as [number[], number[]];
    assert.ok(withScope.length >= 4 && withScope.every((d) => d === 1), `every step inside the scope: ${withScope.slice(0, 8).join(',')}`);
    assert.ok(without.length >= 4 && without.every((d) => d === 0), `no step inside one: ${without.slice(0, 8).join(',')}`);
  } finally {
    delete WORKLOADS['test-infer'];
    if (own) Object.defineProperty(be, 'fixedWeights', own); else delete (be as { fixedWeights?: unknown }).fixedWeights;
  }
});
