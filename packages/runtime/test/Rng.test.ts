import { describe, expect, it } from "vitest"
import { Rng } from "../src/Rng.ts"

describe("Rng", () => {
  it("is deterministic for a seed and differs across seeds", () => {
    const a = Rng.fromSeed(42)
    const b = Rng.fromSeed(42)
    const c = Rng.fromSeed(43)
    const xs = Array.from({ length: 5 }, () => a.nextUint32())
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(xs)
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(xs)
  })

  it("resumes exactly from a saved state", () => {
    const a = Rng.fromSeed(7)
    for (let i = 0; i < 10; i++) a.next()
    const b = Rng.fromState(a.state())
    expect(Array.from({ length: 8 }, () => b.next())).toEqual(Array.from({ length: 8 }, () => a.next()))
  })

  it("draws uniform, normal and Beta(2,2) with the right moments", () => {
    const r = Rng.fromSeed(1)
    const n = 20000
    let su = 0,
      sn = 0,
      sn2 = 0,
      sb = 0,
      sb2 = 0
    for (let i = 0; i < n; i++) {
      const u = r.next()
      expect(u).toBeGreaterThanOrEqual(0)
      expect(u).toBeLessThan(1)
      su += u
      const z = r.normal()
      sn += z
      sn2 += z * z
      const b = r.beta(2, 2)
      sb += b
      sb2 += b * b
    }
    expect(su / n).toBeCloseTo(0.5, 1)
    expect(sn / n).toBeCloseTo(0, 1)
    expect(sn2 / n).toBeCloseTo(1, 1)
    // Beta(2,2): mean 1/2, variance ab/((a+b)^2 (a+b+1)) = 4/(16*5) = 0.05
    expect(sb / n).toBeCloseTo(0.5, 2)
    expect(sb2 / n - (sb / n) ** 2).toBeCloseTo(0.05, 2)
  })

  it("permutation contains every index once", () => {
    const p = Rng.fromSeed(3).permutation(100)
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i))
    expect(Array.from(p)).not.toEqual(Array.from({ length: 100 }, (_, i) => i))
  })

  it("rejects a malformed state", () => {
    expect(() => Rng.fromState([1, 2, 3])).toThrow(/4 words/)
  })
})
