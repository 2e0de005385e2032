// One seeded generator feeds initialisation, dropout, shuffling, sampling and tests, so a run
// can be repeated bit for bit. xoshiro128** (Blackman & Vigna), seeded through splitmix32.

export interface Rng {
  /** Uniform in [0, 1), 2^-32 resolution. */
  next(): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Standard normal (Box–Muller, one value per call). */
  normal(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /**
   * out[i] = scale where next() < keep, else 0, for every i in order: the values a loop of next()
   * gives, and the generator left where that loop leaves it, but without a call per value.
   */
  dropoutMask<A extends Float32Array | Float64Array>(out: A, keep: number, scale: number): A;
  /** Fisher–Yates shuffle in place. */
  shuffle<T>(a: T[] | Int32Array | Uint32Array): void;
  /** Internal state, for checkpoints. */
  getState(): number[];
  setState(s: number[]): void;
}

export function rng(seed: number): Rng {
  let x = seed >>> 0;
  const split = (): number => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  // The state in a typed array: as closure variables its words (above 2^31, not small integers)
  // were boxed anew at every write, 30 ns per value (a dropout mask of 100,000 values, ad hoc).
  const s = new Uint32Array([split(), split(), split(), split()]);
  if ((s[0]! | s[1]! | s[2]! | s[3]!) === 0) s[0] = 1;
  const nextU32 = (): number => {
    const s1 = s[1]!, m = Math.imul(s1, 5);
    const result = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
    const t = s1 << 9;
    s[2]! ^= s[0]!; s[3]! ^= s1; s[1]! ^= s[2]!; s[0]! ^= s[3]!; s[2]! ^= t;
    const s3 = s[3]!;
    s[3] = (s3 << 11) | (s3 >>> 21);
    return result;
  };
  const next = (): number => nextU32() / 4294967296;
  return {
    next,
    dropoutMask(out, keep, scale) {
      // nextU32 with the state in locals (int32: the same bits), stored back once. The factor is
      // looked up, not chosen by a branch the random bits would mispredict half the time
      // (7 -> 2 ns per value, ad hoc); u < keep·2^32 is exactly u / 2^32 < keep.
      let s0 = s[0]! | 0, s1 = s[1]! | 0, s2 = s[2]! | 0, s3 = s[3]! | 0;
      const factor = Float64Array.of(scale, 0), threshold = keep * 4294967296;
      for (let i = 0; i < out.length; i++) {
        const m = Math.imul(s1, 5);
        const result = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
        const t = s1 << 9;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t;
        s3 = (s3 << 11) | (s3 >>> 21);
        out[i] = factor[+(result >= threshold)]!;
      }
      s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3;
      return out;
    },
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    normal: () => {
      let u = next();
      while (u === 0) u = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
    },
    int: (n) => Math.floor(next() * n),
    shuffle(a) {
      for (let i = a.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        const tmp = a[i]!; a[i] = a[j]!; a[j] = tmp;
      }
    },
    getState: () => [s[0]!, s[1]!, s[2]!, s[3]!],
    setState: (st) => { for (let i = 0; i < 4; i++) s[i] = st[i]! >>> 0; },
  };
}
