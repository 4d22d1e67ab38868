/**
 * A small, fast, seedable random number generator (xoshiro128**) whose whole state is four
 * 32-bit words, so it can be checkpointed and restored exactly.
 *
 * Every source of randomness in bingo (weight init, shuffling, augmentations, bag positives,
 * CutMix boxes) draws from an `Rng`, so a seeded run is reproducible.
 */
export class Rng {
  private s: Uint32Array

  private constructor(state: Uint32Array) {
    this.s = state
  }

  /** A generator seeded from one integer (state expanded with splitmix32). */
  static fromSeed(seed: number): Rng {
    let x = seed >>> 0
    const s = new Uint32Array(4)
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0
      let z = x
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      s[i] = (z ^ (z >>> 16)) >>> 0
    }
    if (s[0]! === 0 && s[1]! === 0 && s[2]! === 0 && s[3]! === 0) s[0] = 1
    return new Rng(s)
  }

  /** Restore a generator from `state()`. */
  static fromState(state: ReadonlyArray<number>): Rng {
    if (state.length !== 4) throw new RangeError(`Rng state must have 4 words, got ${state.length}`)
    return new Rng(Uint32Array.from(state))
  }

  /** The generator's state, for checkpoints. */
  state(): Array<number> {
    return Array.from(this.s)
  }

  /** An independent generator derived from this one's next outputs (for a sub-task). */
  fork(): Rng {
    return Rng.fromSeed(this.nextUint32() ^ Math.imul(this.nextUint32(), 0x27d4eb2d))
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0
    const t = (s[1]! << 9) >>> 0
    s[2]! ^= s[0]!
    s[3]! ^= s[1]!
    s[1]! ^= s[2]!
    s[0]! ^= s[3]!
    s[2]! ^= t
    s[3] = rotl(s[3]!, 11)
    return result
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next()
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.next() < p
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    let u = 0
    while (u === 0) u = this.next()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next())
  }

  /** Gamma(shape, 1) by Marsaglia-Tsang (shape >= 1) with the usual boost for shape < 1. */
  gamma(shape: number): number {
    if (shape < 1) return this.gamma(shape + 1) * this.next() ** (1 / shape)
    const d = shape - 1 / 3
    const c = 1 / Math.sqrt(9 * d)
    for (;;) {
      let x = 0
      let v = 0
      do {
        x = this.normal()
        v = 1 + c * x
      } while (v <= 0)
      v = v * v * v
      const u = this.next()
      if (u < 1 - 0.0331 * x * x * x * x) return d * v
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v
    }
  }

  /** Beta(a, b) from two gamma draws. */
  beta(a: number, b: number): number {
    const x = this.gamma(a)
    const y = this.gamma(b)
    return x / (x + y)
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n)
    for (let i = 0; i < n; i++) p[i] = i
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const t = p[i]!
      p[i] = p[j]!
      p[j] = t
    }
    return p
  }
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0
