import * as tf from "@tensorflow/tfjs"
import { beforeAll, describe, expect, it } from "vitest"
import { contrastiveCollapseValue, embeddingHealth, gradientNorm, healthDefaults, judgeEpoch } from "../src/TrainingHealth.ts"

beforeAll(async () => {
  await tf.setBackend("cpu")
})

const health = (rows: Array<Array<number>>) => {
  const z = tf.tensor2d(rows)
  const h = embeddingHealth(z)
  const [spread, embeddingStd, dead] = Array.from(h.dataSync())
  tf.dispose([z, h])
  return { spread: spread!, embeddingStd: embeddingStd!, dead: dead! }
}

describe("embeddingHealth", () => {
  it("is 0 spread and all units dead when every row is the same point", () => {
    const h = health([
      [0.6, 0.8],
      [0.6, 0.8],
      [0.6, 0.8]
    ])
    expect(h.spread).toBeCloseTo(0, 6)
    expect(h.embeddingStd).toBeCloseTo(0, 6)
    expect(h.dead).toBe(1)
  })

  it("matches hand values: ±e1, ±e2 has zero mean, so spread sqrt(1 - |mean|^2) = 1 and std 1/sqrt(2) per unit", () => {
    const h = health([
      [1, 0],
      [-1, 0],
      [0, 1],
      [0, -1]
    ])
    expect(h.spread).toBeCloseTo(1, 6)
    expect(h.embeddingStd).toBeCloseTo(Math.SQRT1_2, 6)
    expect(h.dead).toBe(0)
  })

  it("counts a unit that never varies as dead and gives spread = sqrt(1 - |mean|^2)", () => {
    // column 1 constant 0.6; column 0 = ±0.8 -> mean (0, 0.6), |mean|^2 = 0.36
    const h = health([
      [0.8, 0.6],
      [-0.8, 0.6]
    ])
    expect(h.spread).toBeCloseTo(Math.sqrt(1 - 0.36), 6)
    expect(h.dead).toBeCloseTo(0.5, 6)
  })

  it("leaks no tensor", () => {
    const z = tf.tensor2d([
      [1, 0],
      [0, 1]
    ])
    const before = tf.memory().numTensors
    embeddingHealth(z).dispose()
    expect(tf.memory().numTensors).toBe(before)
    z.dispose()
  })
})

describe("gradientNorm", () => {
  it("is the L2 norm over every entry of every gradient", () => {
    const g = [tf.tensor1d([3, 0]), tf.tensor2d([[0, 4]]), tf.tensor1d([12])]
    const n = gradientNorm(g)
    expect(n.dataSync()[0]).toBeCloseTo(13, 5)
    tf.dispose([...g, n])
  })
})

describe("judgeEpoch", () => {
  const healthy = { spread: 0.8, embeddingStd: 0.1, dead: 0 }
  const c = contrastiveCollapseValue(2048)

  it("ln(Q + 1) is the collapse value: ln(2049) = 7.6251", () => {
    expect(c).toBeCloseTo(7.6251, 4)
  })

  it("passes a healthy epoch", () => {
    expect(judgeEpoch({ loss: 6.5, previousLosses: [7, 6.8], collapseValue: c, embeddings: [["student", healthy]] })._tag).toBe("Healthy")
  })

  it("calls a spread below the threshold and not rising a collapse, naming the network", () => {
    const low = { spread: 0.01, embeddingStd: 0.001, dead: 1 }
    const v = judgeEpoch({
      loss: 6.5,
      previousLosses: [6.6],
      collapseValue: c,
      embeddings: [
        ["student", healthy],
        ["teacher", low]
      ],
      previousSpreads: { student: 0.7, teacher: 0.02 }
    })
    expect(v).toMatchObject({ _tag: "Collapsed", network: "teacher" })
    // rising from a low start (a random network spreading out) is not a collapse
    const rising = judgeEpoch({
      loss: 6.5,
      previousLosses: [6.6],
      collapseValue: c,
      embeddings: [["student", low]],
      previousSpreads: { student: 0.005 }
    })
    expect(rising._tag).toBe("Drifting")
    // the first epoch: only a spread below a tenth of the threshold (a constant network)
    expect(judgeEpoch({ loss: 6.5, previousLosses: [], collapseValue: c, embeddings: [["student", { ...low, spread: 0.03 }]] })._tag).toBe(
      "Drifting"
    )
    expect(judgeEpoch({ loss: 6.5, previousLosses: [], collapseValue: c, embeddings: [["student", { ...low, spread: 0.001 }]] })._tag).toBe(
      "Collapsed"
    )
  })

  it("calls a loss sitting at ln(Q + 1) two epochs running a collapse (every logit equal), even with spread left", () => {
    const v = judgeEpoch({ loss: 7.6251, previousLosses: [7.2064, 7.625], collapseValue: c, embeddings: [["student", healthy]] })
    expect(v).toMatchObject({ _tag: "Collapsed", network: "student" })
    // the first epoch at that value is not enough (the loss starts near it)
    expect(judgeEpoch({ loss: 7.6251, previousLosses: [7.2064], collapseValue: c, embeddings: [["student", healthy]] })._tag).not.toBe(
      "Collapsed"
    )
  })

  it("warns on a low spread, dead units, and a loss rising two epochs running towards the collapse value", () => {
    const low = judgeEpoch({
      loss: 6,
      previousLosses: [],
      collapseValue: c,
      embeddings: [["student", { spread: 0.1, embeddingStd: 0.01, dead: 0.6 }]]
    })
    expect(low._tag).toBe("Drifting")
    expect(low._tag === "Drifting" && low.warnings.length).toBe(2)
    const rising = judgeEpoch({ loss: 7.58, previousLosses: [6.86, 7.2], collapseValue: c, embeddings: [["teacher", healthy]] })
    expect(rising._tag === "Drifting" && rising.warnings[0]).toMatch(/rose two epochs running/)
    // one rise (a loss whose pair weights change after a warm-up) is not a drift
    expect(judgeEpoch({ loss: 7.07, previousLosses: [7.0], collapseValue: c, embeddings: [["student", healthy]] })._tag).toBe("Healthy")
  })

  it("has defaults with the collapse threshold below the warning threshold", () => {
    expect(healthDefaults.collapseSpread).toBeLessThan(healthDefaults.warnSpread)
  })
})
