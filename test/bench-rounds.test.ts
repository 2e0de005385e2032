// Ratios taken round by round: bench:peers' ratio to rnnkit (bench/peers/rounds.ts) and
// bench:ab's B/A (bench/report.ts pairedRatios).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fmtRoundRange, roundRatios } from '../bench/peers/rounds.js';
import { pairedRatios } from '../bench/report.js';

test('round ratios: round r against round r, per sequence, null where a round has no step', () => {
  // rnnkit: 32 sequences a step; the peer: one sequence a step (as a batch-1 peer would time it).
  const base = { msPerStep: 32, msPerSequence: 1, roundMs: [32, 40, null, 30] };
  const peer = { msPerStep: 2, msPerSequence: 2, roundMs: [2, 1, 2.5, null] };
  // Per sequence rnnkit took 1, 1.25, -, 0.9375 ms; the peer 2, 1, 2.5, -: the peer's speed over
  // rnnkit's is rnnkit's time over the peer's.
  assert.deepEqual(roundRatios(base, peer), [0.5, 1.25, null, null]);
  assert.equal(roundRatios(base, { msPerStep: 2, msPerSequence: 2 }), undefined, 'no rounds (a slow peer timed once)');
  assert.equal(roundRatios({ msPerStep: 1, msPerSequence: 1 }, peer), undefined);
  // The ratio of the same rounds the other way round is the inverse.
  const back = roundRatios(peer, base)!;
  assert.deepEqual(back.map((x) => x === null ? null : +(1 / x).toFixed(3)), [0.5, 1.25, null, null]);
});

test('round range: lowest to highest of the rounds that have one, empty below two', () => {
  assert.equal(fmtRoundRange([0.76, null, 0.7, 0.82]), '0.70-0.82x');
  assert.equal(fmtRoundRange([43.2, 61.9]), '43-62x');
  assert.equal(fmtRoundRange([0.0143, 0.012]), '0.012-0.014x');
  assert.equal(fmtRoundRange([0.5, null]), '', 'one round only');
  assert.equal(fmtRoundRange(undefined), '');
});

test('paired B/A: each round B over A, then their median, geometric mean and range', () => {
  // Round 2 is slow for both builds (the host), round 3 for B alone.
  const a = [10, 20, 10, 10], b = [9, 18, 12, 8];
  const p = pairedRatios(a, b);
  assert.equal(p.n, 4);
  assert.equal(p.median, 0.9, 'of 0.8, 0.9, 0.9, 1.2');
  assert.ok(Math.abs(p.geomean - Math.pow(0.9 * 0.9 * 1.2 * 0.8, 1 / 4)) < 1e-12);
  assert.equal(p.min, 0.8);
  assert.equal(p.max, 1.2);
  // The ratio of the overall medians (10 and 10.5) says B is slower; round by round it is faster.
  assert.ok(p.median < 1 && p.geomean < 1);
  assert.throws(() => pairedRatios([1, 2], [1]), /two equal, non-empty lists expected, got 2 and 1/);
  assert.throws(() => pairedRatios([], []), /non-empty/);
});
