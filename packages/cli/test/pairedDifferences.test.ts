import { describe, expect, it } from "@effect/vitest"
import { pairedDifferences } from "../src/study/pairedDifferences.ts"

const scores = (entries: ReadonlyArray<readonly [number, number]>) => new Map(entries)

describe("pairedDifferences", () => {
  it("a clear paired effect under a large per-arm std: paired flag, no unpaired flag", () => {
    const r = pairedDifferences(
      scores([
        [0, 0.7],
        [1, 0.8],
        [2, 0.9]
      ]),
      scores([
        [0, 0.68],
        [1, 0.785],
        [2, 0.875]
      ])
    )
    expect(r.seeds).toEqual([0, 1, 2])
    expect(r.n).toBe(3)
    // per-seed differences 0.02, 0.015, 0.025
    expect(r.d).toBeCloseTo((0.02 + 0.015 + 0.025) / 3, 12) // 0.02
    expect(r.sd).toBeCloseTo(Math.sqrt((0 + 0.005 ** 2 + 0.005 ** 2) / 2), 12) // 0.005
    // s_A² = (0.1² + 0 + 0.1²) / 2 = 0.01; mean(B) = 0.78, s_B² = (0.1² + 0.005² + 0.095²) / 2 = 0.009525
    expect(r.unpairedStd).toBeCloseTo(Math.sqrt(0.01 + 0.009525), 12) // 0.1397
    expect(r.paired).toBe(true) // 0.02 > 2 x 0.005
    expect(r.unpaired).toBe(false) // 0.02 < 2 x 0.1397
  })

  it("missing seeds: d, s_d and both stds over the seeds both arms have", () => {
    const r = pairedDifferences(
      scores([
        [0, 0.5],
        [1, 0.9],
        [2, 0.6]
      ]),
      scores([
        [2, 0.45],
        [0, 0.4]
      ])
    )
    expect(r.seeds).toEqual([0, 2])
    expect(r.n).toBe(2)
    // over seeds 0 and 2 only: differences 0.1 and 0.15 (A's seed 1 plays no part)
    expect(r.d).toBeCloseTo(0.125, 12)
    expect(r.sd).toBeCloseTo(Math.sqrt((0.025 ** 2 + 0.025 ** 2) / 1), 12) // 0.0354
    // s_A² = (0.05² + 0.05²) / 1 = 0.005, s_B² = (0.025² + 0.025²) / 1 = 0.00125
    expect(r.unpairedStd).toBeCloseTo(Math.sqrt(0.005 + 0.00125), 12) // 0.0791
    expect(r.paired).toBe(true) // 0.125 > 0.0707
    expect(r.unpaired).toBe(false) // 0.125 < 0.158
  })

  it("n = 1: d, no std and no flag; n = 0: not even d", () => {
    expect(
      pairedDifferences(
        scores([[1, 0.8]]),
        scores([
          [1, 0.75],
          [2, 0.7]
        ])
      )
    ).toEqual({ seeds: [1], n: 1, d: 0.8 - 0.75, sd: undefined, unpairedStd: undefined, paired: undefined, unpaired: undefined })
    expect(pairedDifferences(scores([[1, 0.8]]), scores([[2, 0.7]]))).toEqual({
      seeds: [],
      n: 0,
      d: undefined,
      sd: undefined,
      unpairedStd: undefined,
      paired: undefined,
      unpaired: undefined
    })
  })

  it("analytic: B = A - 2 on every seed gives d = 2, s_d = 0 (paired), s_A = s_B", () => {
    const r = pairedDifferences(
      scores([
        [0, 3],
        [1, 5],
        [2, 10]
      ]),
      scores([
        [0, 1],
        [1, 3],
        [2, 8]
      ])
    )
    // mean 6, deviations -3, -1, 4: s² = 26 / 2 = 13 for both arms
    expect(r).toEqual({ seeds: [0, 1, 2], n: 3, d: 2, sd: 0, unpairedStd: Math.sqrt(26), paired: true, unpaired: false })
  })

  it("symmetric: swapping A and B negates d and keeps the stds and flags", () => {
    const a = scores([
      [0, 0.61],
      [1, 0.52],
      [2, 0.7]
    ])
    const b = scores([
      [0, 0.4],
      [1, 0.43],
      [2, 0.49]
    ])
    const ab = pairedDifferences(a, b)
    const ba = pairedDifferences(b, a)
    expect(ba.d).toBeCloseTo(-ab.d!, 12)
    expect(ba.sd).toBeCloseTo(ab.sd!, 12)
    expect(ba.unpairedStd).toBeCloseTo(ab.unpairedStd!, 12)
    expect([ba.paired, ba.unpaired]).toEqual([ab.paired, ab.unpaired])
  })
})
