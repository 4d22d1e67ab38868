import * as tf from "@tensorflow/tfjs"
import { describe, expect, it } from "vitest"
import { bingoLoss, bingoLossTerms, type BingoOptions } from "../src/bingoLoss.ts"
import { builtinLosses } from "../src/builtinLosses.ts"
import { infoNce } from "../src/infoNce.ts"
import { describeLossConformance, type Inputs, type LossConformance } from "./conformance.ts"
import { makeRng, type Matrix, naiveInfoNce, randomUnitRows, scalarOf, t2, useCpuBackend } from "./helpers.ts"

useCpuBackend()

/** s_a, s_p, s_m, t_a, t_p and the teacher queue. */
type Embedding = "sA" | "sP" | "sM" | "tA" | "tP" | "queue"

/** The options of one step: BINGO's, with the CutMix λ and the epoch. */
interface Step extends Partial<BingoOptions> {
  readonly lambda: number
  readonly epoch: number
}

interface Views extends Inputs<Embedding, Matrix> {
  readonly lambda: number
  readonly epoch: number
}

const bingoViews = (x: Inputs<Embedding, tf.Tensor2D>, lambda: number, epoch: number) => ({
  studentAnchor: x.sA,
  studentPositive: x.sP,
  studentMix: x.sM,
  teacherAnchor: x.tA,
  teacherPositive: x.tP,
  teacherQueue: x.queue,
  mixLambda: lambda,
  epoch
})

const tensorViews = (v: Views) =>
  bingoViews({ sA: t2(v.sA), sP: t2(v.sP), sM: t2(v.sM), tA: t2(v.tA), tP: t2(v.tP), queue: t2(v.queue) }, v.lambda, v.epoch)

const value = (v: Views, options: Partial<BingoOptions> = {}): number => scalarOf(() => bingoLoss(tensorViews(v), options))

/** The reference objective written out with loops (docs/method.md, "The loss"; haohang96/bingo main_moco.py). */
const naiveCode = (x: Inputs<Embedding, Matrix>, lambda: number, epoch: number, T: number, warmup: number): number => {
  const ce = (s: Matrix, t: Matrix) => naiveInfoNce(s, t, x.queue, T)
  const [ws, wc] = epoch > warmup - 1 ? [0.5, 0.5] : [1, 0]
  return (
    (ws * ce(x.sA, x.tA) +
      wc * ce(x.sA, x.tP) +
      ws * ce(x.sP, x.tP) +
      wc * ce(x.sP, x.tA) +
      lambda * ce(x.sM, x.tA) +
      (1 - lambda) * ce(x.sM, x.tP)) /
    3
  )
}
const naivePaper = (x: Inputs<Embedding, Matrix>, T: number): number =>
  naiveInfoNce(x.sA, x.tA, x.queue, T) + naiveInfoNce(x.sP, x.tA, x.queue, T)

// 2-d hand case, T = 1, queue {(-1, 0)}: CE(s, t) = −s·t + log(e^{s·t} + e^{s·n})
const handEmbeddings: Inputs<Embedding, Matrix> = {
  sA: [[1, 0]],
  sP: [[0, 1]],
  sM: [[0.6, 0.8]],
  tA: [[0.8, 0.6]],
  tP: [[0, 1]],
  queue: [[-1, 0]]
}
const hand: Views = { ...handEmbeddings, lambda: 0.25, epoch: 20 }
const ceAA = -0.8 + Math.log(Math.exp(0.8) + Math.exp(-1)) // s_a·t_a = 0.8, s_a·n = -1
const ceAP = -0 + Math.log(Math.exp(0) + Math.exp(-1)) // s_a·t_p = 0
const cePP = -1 + Math.log(Math.exp(1) + Math.exp(0)) // s_p·t_p = 1, s_p·n = 0
const cePA = -0.6 + Math.log(Math.exp(0.6) + Math.exp(0)) // s_p·t_a = 0.6
const ceMA = -0.96 + Math.log(Math.exp(0.96) + Math.exp(-0.6)) // s_m·t_a = 0.48 + 0.48, s_m·n = -0.6
const ceMP = -0.8 + Math.log(Math.exp(0.8) + Math.exp(-0.6)) // s_m·t_p = 0.8

const spec: LossConformance<Embedding, Step> = {
  name: "bingoLoss",
  seed: 42,
  inputs: { sA: "batch", sP: "batch", sM: "batch", tA: "batch", tP: "batch", queue: "queue" },
  compute: (x, { epoch, lambda, ...options }) => bingoLoss(bingoViews(x, lambda, epoch), options),
  // the defaults are the code form, T = 0.2, 11 warm-up epochs
  naive: (x, { epoch, form, lambda, temperature = 0.2, warmupEpochs = 11 }) =>
    form === "paper" ? naivePaper(x, temperature) : naiveCode(x, lambda, epoch, temperature, warmupEpochs),
  hand: [
    {
      title: "code form matches a hand computation after the warm-up (w_s = w_c = 0.5)",
      inputs: handEmbeddings,
      options: { temperature: 1, lambda: 0.25, epoch: 20 },
      expected: (0.5 * ceAA + 0.5 * ceAP + 0.5 * cePP + 0.5 * cePA + 0.25 * ceMA + 0.75 * ceMP) / 3
    },
    {
      title: "code form matches a hand computation during the warm-up (w_s = 1, w_c = 0)",
      inputs: handEmbeddings,
      options: { temperature: 1, lambda: 0.25, epoch: 3 },
      expected: (ceAA + cePP + 0.25 * ceMA + 0.75 * ceMP) / 3
    },
    {
      title: "paper form matches a hand computation: CE(s_a, t_a) + CE(s_p, t_a)",
      inputs: handEmbeddings,
      options: { temperature: 1, form: "paper", lambda: 0.25, epoch: 20 },
      expected: ceAA + cePA
    }
  ],
  random: {
    title: ", both forms, both phases",
    cases: [2, 30].flatMap((epoch) => [
      { seed: 42 + epoch, options: { lambda: 0.3, epoch } },
      { seed: 42 + epoch, options: { lambda: 0.3, epoch, form: "paper" as const } }
    ])
  },
  gradient: { options: { temperature: 0.5, lambda: 0.3, epoch: 15 }, wrt: ["sA", "sP", "sM"] },
  extreme: {
    title: " (T = 1e-3, and unscaled inputs)",
    sharp: { temperature: 1e-3, lambda: 0.3, epoch: 20 },
    unscaled: { temperature: 1, lambda: 0.3, epoch: 20 },
    gradientWrt: ["sA"]
  },
  leak: {
    values: [
      { lambda: 0.3, epoch: 12 },
      { lambda: 0.3, epoch: 0, form: "paper" }
    ],
    gradient: { lambda: 0.3, epoch: 12 }
  }
}

describeLossConformance(spec)

describe("bingoLoss", () => {
  it("bingoLossTerms names every term by hand value, all six even at weight 0 during the warm-up, with the weights and lambda", () => {
    const views = tensorViews({ ...hand, epoch: 3 })
    const out = bingoLossTerms(views, { temperature: 1 })
    const terms = Object.fromEntries(Object.entries(out.terms).map(([k, t]) => [k, t.dataSync()[0]!]))
    expect(Object.keys(terms)).toEqual(["aa", "ap", "pp", "pa", "ma", "mp"])
    const hands = [ceAA, ceAP, cePP, cePA, ceMA, ceMP]
    Object.values(terms).forEach((v, i) => expect(v).toBeCloseTo(hands[i]!, 6))
    expect(out.scalars).toEqual({ lambda: 0.25, wSelf: 1, wCross: 0 })
    expect(out.total.dataSync()[0]).toBeCloseTo((ceAA + cePP + 0.25 * ceMA + 0.75 * ceMP) / 3, 6)
    tf.dispose([out.total, ...Object.values(out.terms), ...Object.values(views).filter((x) => x instanceof tf.Tensor)])
    const paper = bingoLossTerms(tensorViews(hand), { temperature: 1, form: "paper" })
    expect(paper.terms["intra"]!.dataSync()[0]).toBeCloseTo(ceAA, 6)
    expect(paper.terms["inter"]!.dataSync()[0]).toBeCloseTo(cePA, 6)
    tf.dispose([paper.total, ...Object.values(paper.terms)])
  })

  it("takes its declared collapse value when every logit is equal (every embedding the same point)", () => {
    const bingo = builtinLosses.find((l) => l.name === "bingo")!
    const same = [[1, 0]]
    const q = 7
    const collapsed: Views = {
      sA: same,
      sP: same,
      sM: same,
      tA: same,
      tP: same,
      queue: Array.from({ length: q }, () => [1, 0]),
      lambda: 0.3,
      epoch: 20
    }
    for (const form of ["code", "paper"] as const) {
      expect(value(collapsed, { form })).toBeCloseTo(bingo.collapseValue!(q, { ...bingo.defaults, form }), 5)
    }
  })

  it("switches from the warm-up weights to (0.5, 0.5) at epoch 11 (0-based)", () => {
    const warm = (ceAA + cePP + 0.25 * ceMA + 0.75 * ceMP) / 3
    const after = (0.5 * (ceAA + ceAP + cePP + cePA) + 0.25 * ceMA + 0.75 * ceMP) / 3
    expect(value({ ...hand, epoch: 10 }, { temperature: 1 })).toBeCloseTo(warm, 6)
    expect(value({ ...hand, epoch: 11 }, { temperature: 1 })).toBeCloseTo(after, 6)
    expect(warm).not.toBeCloseTo(after, 3)
    // a shorter warm-up and custom post-warm-up weights
    expect(value({ ...hand, epoch: 2 }, { temperature: 1, warmupEpochs: 2, selfWeight: 0.8, crossWeight: 0.2 })).toBeCloseTo(
      (0.8 * (ceAA + cePP) + 0.2 * (ceAP + cePA) + 0.25 * ceMA + 0.75 * ceMP) / 3,
      6
    )
  })

  it("on identical inputs (s_a = s_p = s_m, t_a = t_p) code = CE(s, t) and paper = 2 CE(s, t)", () => {
    const rng = makeRng(41)
    const [s, t, queue] = [randomUnitRows(rng, 4, 8), randomUnitRows(rng, 4, 8), randomUnitRows(rng, 16, 8)]
    const ce = scalarOf(() => infoNce(t2(s), t2(t), t2(queue), 0.2))
    for (const epoch of [0, 50]) {
      const v: Views = { sA: s, sP: s, sM: s, tA: t, tP: t, queue, lambda: 0.37, epoch }
      expect(value(v)).toBeCloseTo(ce, 5)
      expect(value(v, { form: "paper" })).toBeCloseTo(2 * ce, 5)
    }
  })

  it("paper form ignores the mix and teacher-positive views, code form requires them", () => {
    const v = tensorViews(hand)
    const paperOnly = {
      studentAnchor: v.studentAnchor,
      studentPositive: v.studentPositive,
      teacherAnchor: v.teacherAnchor,
      teacherQueue: v.teacherQueue,
      epoch: 0
    }
    expect(scalarOf(() => bingoLoss(paperOnly, { form: "paper", temperature: 1 }))).toBeCloseTo(ceAA + cePA, 6)
    expect(() => bingoLoss(paperOnly)).toThrow(/needs studentMix, teacherPositive and mixLambda/)
    expect(() => bingoLoss({ ...v, mixLambda: 1.5 })).toThrow(/mixLambda must be in \[0, 1\]/)
    tf.dispose(Object.values(v).filter((x) => x instanceof tf.Tensor))
  })
})
