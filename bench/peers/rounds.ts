// The ratio of a peer to rnnkit taken round by round (bench:peers' "by round" column): a run's
// ratio of medians hides how far the host's speed drifted between rounds; the spread of the
// per-round ratios shows it.

/** What a report entry gives for this: its median step, per sequence, and each round's median step. */
export interface RoundTimes {
  msPerStep?: number;
  msPerSequence?: number;
  /** The median step of each round, ms (null: no step in that round). */
  roundMs?: (number | null)[];
}

/**
 * The entry's speed over the base's (rnnkit's), round r against round r, per sequence like the
 * run's own ratio (a peer's step may hold other sequences than rnnkit's): null where either has
 * no step in a round. Undefined when either has no rounds.
 */
export function roundRatios(base: RoundTimes, e: RoundTimes): (number | null)[] | undefined {
  if (!base.roundMs || !e.roundMs) return undefined;
  const perSeq = (t: RoundTimes, ms: number | null | undefined) =>
    ms == null || !t.msPerStep || !t.msPerSequence ? null : ms * t.msPerSequence / t.msPerStep;
  return base.roundMs.map((b, r) => {
    const pb = perSeq(base, b), pe = perSeq(e, e.roundMs![r]);
    return pb === null || pe === null || pe <= 0 ? null : +(pb / pe).toFixed(3);
  });
}

/** A ratio as the tables print it: 12x, 0.76x, 0.014x. */
export function fmtRatio(x: number): string { return x >= 10 ? `${x.toFixed(0)}x` : x >= 0.1 ? `${x.toFixed(2)}x` : `${x.toFixed(3)}x`; }

/** The lowest and highest of the round-by-round ratios ("0.70-0.82x"), or '' below two rounds. */
export function fmtRoundRange(r: (number | null)[] | undefined): string {
  const v = (r ?? []).filter((x): x is number => x !== null);
  if (v.length < 2) return '';
  return `${fmtRatio(Math.min(...v)).slice(0, -1)}-${fmtRatio(Math.max(...v))}`;
}
