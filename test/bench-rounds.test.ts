// bench/peers/rounds.ts: bench:peers' ratio to rnnkit taken round by round.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fmtRoundRange, roundRatios } from '../bench/peers/rounds.js';

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
