import * as tf from "@tensorflow/tfjs"
import { describe, expect, it } from "vitest"
import { bingoLoss, bingoLossTerms, type BingoOptions } from "../src/bingoLoss.ts"
import { builtinLosses } from "../src/builtinLosses.ts"
import { infoNce } from "../src/infoNce.ts"
import {
  expectAllClose,
  expectFinite,
  expectNoLeak,
  finiteDifferenceGrad,
  grad2d,
  grads2d,
  makeRng,
  type Matrix,
  naiveInfoNce,
  randomUnitRows,
  scalarOf,
  t2,
  useCpuBackend
} from "./helpers.ts"

useCpuBackend()

interface Views {
  readonly sA: Matrix
  readonly sP: Matrix
  readonly sM: Matrix
  readonly tA: Matrix
  readonly tP: Matrix
  readonly queue: Matrix
  readonly lambda: number
  readonly epoch: number
}

const tensorViews = (v: Views) => ({
  studentAnchor: t2(v.sA),
  studentPositive: t2(v.sP),
  studentMix: t2(v.sM),
  teacherAnchor: t2(v.tA),
  teacherPositive: t2(v.tP),
  teacherQueue: t2(v.queue),
  mixLambda: v.lambda,
  epoch: v.epoch
})

const value = (v: Views, options: Partial<BingoOptions> = {}): number => scalarOf(() => bingoLoss(tensorViews(v), options))

/** The reference objective written out with loops (METHOD.md / haohang96/bingo main_moco.py). */
const naiveCode = (v: Views, T: number, warmup = 11): number => {
  const ce = (s: Matrix, t: Matrix) => naiveInfoNce(s, t, v.queue, T)
  const [ws, wc] = v.epoch > warmup - 1 ? [0.5, 0.5] : [1, 0]
  return (ws * ce(v.sA, v.tA) + wc * ce(v.sA, v.tP) + ws * ce(v.sP, v.tP) + wc * ce(v.sP, v.tA) +
    v.lambda * ce(v.sM, v.tA) + (1 - v.lambda) * ce(v.sM, v.tP)) / 3
}
const naivePaper = (v: Views, T: number): number => naiveInfoNce(v.sA, v.tA, v.queue, T) + naiveInfoNce(v.sP, v.tA, v.queue, T)

const randomViews = (seed: number, b: number, d: number, q: number, epoch: number, scale = 1): Views => {
  const rng = makeRng(seed)
  return {
    sA: randomUnitRows(rng, b, d, scale),
    sP: randomUnitRows(rng, b, d, scale),
    sM: randomUnitRows(rng, b, d, scale),
    tA: randomUnitRows(rng, b, d, scale),
    tP: randomUnitRows(rng, b, d, scale),
    queue: randomUnitRows(rng, q, d, scale),
    lambda: 0.3,
    epoch
  }
}

// 2-d hand case, T = 1, queue {(-1, 0)}: CE(s, t) = −s·t + log(e^{s·t} + e^{s·n})
const hand: Views = {
  sA: [[1, 0]],
  sP: [[0, 1]],
  sM: [[0.6, 0.8]],
  tA: [[0.8, 0.6]],
  tP: [[0, 1]],
  queue: [[-1, 0]],
  lambda: 0.25,
  epoch: 20
}
const ceAA = -0.8 + Math.log(Math.exp(0.8) + Math.exp(-1)) // s_a·t_a = 0.8, s_a·n = -1
const ceAP = -0 + Math.log(Math.exp(0) + Math.exp(-1)) // s_a·t_p = 0
const cePP = -1 + Math.log(Math.exp(1) + Math.exp(0)) // s_p·t_p = 1, s_p·n = 0
const cePA = -0.6 + Math.log(Math.exp(0.6) + Math.exp(0)) // s_p·t_a = 0.6
const ceMA = -0.96 + Math.log(Math.exp(0.96) + Math.exp(-0.6)) // s_m·t_a = 0.48 + 0.48, s_m·n = -0.6
const ceMP = -0.8 + Math.log(Math.exp(0.8) + Math.exp(-0.6)) // s_m·t_p = 0.8

describe("bingoLoss", () => {
  it("code form matches a hand computation after the warm-up (w_s = w_c = 0.5)", () => {
    const expected = (0.5 * ceAA + 0.5 * ceAP + 0.5 * cePP + 0.5 * cePA + 0.25 * ceMA + 0.75 * ceMP) / 3
    expect(value(hand, { temperature: 1 })).toBeCloseTo(expected, 6)
  })

  it("code form matches a hand computation during the warm-up (w_s = 1, w_c = 0)", () => {
    const expected = (ceAA + cePP + 0.25 * ceMA + 0.75 * ceMP) / 3
    expect(value({ ...hand, epoch: 3 }, { temperature: 1 })).toBeCloseTo(expected, 6)
  })

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
    const collapsed: Views = { sA: same, sP: same, sM: same, tA: same, tP: same, queue: Array.from({ length: q }, () => [1, 0]), lambda: 0.3, epoch: 20 }
    for (const form of ["code", "paper"] as const) {
      expect(value(collapsed, { form })).toBeCloseTo(bingo.collapseValue!(q, { ...bingo.defaults, form }), 5)
    }
  })

  it("paper form matches a hand computation: CE(s_a, t_a) + CE(s_p, t_a)", () => {
    expect(value(hand, { temperature: 1, form: "paper" })).toBeCloseTo(ceAA + cePA, 6)
  })

  it("switches from the warm-up weights to (0.5, 0.5) at epoch 11 (0-based)", () => {
    const warm = (ceAA + cePP + 0.25 * ceMA + 0.75 * ceMP) / 3
    const after = (0.5 * (ceAA + ceAP + cePP + cePA) + 0.25 * ceMA + 0.75 * ceMP) / 3
    expect(value({ ...hand, epoch: 10 }, { temperature: 1 })).toBeCloseTo(warm, 6)
    expect(value({ ...hand, epoch: 11 }, { temperature: 1 })).toBeCloseTo(after, 6)
    expect(warm).not.toBeCloseTo(after, 3)
    // a shorter warm-up and custom post-warm-up weights
    expect(value({ ...hand, epoch: 2 }, { temperature: 1, warmupEpochs: 2, selfWeight: 0.8, crossWeight: 0.2 }))
      .toBeCloseTo((0.8 * (ceAA + cePP) + 0.2 * (ceAP + cePA) + 0.25 * ceMA + 0.75 * ceMP) / 3, 6)
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
    const paperOnly = { studentAnchor: v.studentAnchor, studentPositive: v.studentPositive, teacherAnchor: v.teacherAnchor, teacherQueue: v.teacherQueue, epoch: 0 }
    expect(scalarOf(() => bingoLoss(paperOnly, { form: "paper", temperature: 1 }))).toBeCloseTo(ceAA + cePA, 6)
    expect(() => bingoLoss(paperOnly)).toThrow(/needs studentMix, teacherPositive and mixLambda/)
    expect(() => bingoLoss({ ...v, mixLambda: 1.5 })).toThrow(/mixLambda must be in \[0, 1\]/)
    tf.dispose(Object.values(v).filter((x) => x instanceof tf.Tensor))
  })

  it("agrees with a naive loop implementation on random inputs, both forms, both phases", () => {
    for (const epoch of [2, 30]) {
      const v = randomViews(42 + epoch, 4, 8, 16, epoch)
      expectAllClose([value(v)], [naiveCode(v, 0.2)], 1e-5)
      expectAllClose([value(v, { form: "paper" })], [naivePaper(v, 0.2)], 1e-5)
    }
  })

  it("has the finite-difference gradient with respect to s_a, s_p and s_m", () => {
    const v = randomViews(43, 2, 3, 4, 15)
    const T = 0.5
    const grads = tf.tidy(() => {
      const fixed = tensorViews(v)
      return grads2d((sA: tf.Tensor2D, sP: tf.Tensor2D, sM: tf.Tensor2D) =>
        bingoLoss({ ...fixed, studentAnchor: sA, studentPositive: sP, studentMix: sM }, { temperature: T })
      )([t2(v.sA), t2(v.sP), t2(v.sM)]).map((g) => g.arraySync() as Matrix)
    })
    const fd = [
      finiteDifferenceGrad((x) => value({ ...v, sA: x }, { temperature: T }), v.sA),
      finiteDifferenceGrad((x) => value({ ...v, sP: x }, { temperature: T }), v.sP),
      finiteDifferenceGrad((x) => value({ ...v, sM: x }, { temperature: T }), v.sM)
    ]
    grads.forEach((g, i) => {
      expectFinite(g)
      expectAllClose(g, fd[i]!, 2e-3, 1e-2)
    })
  })

  it("stays finite for logits of ±1e3 (T = 1e-3, and unscaled inputs)", () => {
    const unit = randomViews(44, 3, 4, 6, 20)
    const sharp = value(unit, { temperature: 1e-3 })
    expectAllClose([sharp], [naiveCode(unit, 1e-3)], 1e-2, 1e-4)
    const big = randomViews(44, 3, 4, 6, 20, Math.sqrt(1000))
    const unscaled = value(big, { temperature: 1 })
    expectAllClose([unscaled], [naiveCode(big, 1)], 1e-2, 1e-4)
    const grad = tf.tidy(() => {
      const fixed = tensorViews(unit)
      return grad2d((sA: tf.Tensor2D) => bingoLoss({ ...fixed, studentAnchor: sA }, { temperature: 1e-3 }))(t2(unit.sA))
        .arraySync() as Matrix
    })
    expectFinite([sharp, unscaled])
    expectFinite(grad)
  })

  it("leaks no tensor", () => {
    const v = tensorViews(randomViews(45, 2, 4, 4, 12))
    expectNoLeak(() => bingoLoss(v))
    expectNoLeak(() => bingoLoss({ ...v, epoch: 0 }, { form: "paper" }))
    expectNoLeak(() => grad2d((sA: tf.Tensor2D) => bingoLoss({ ...v, studentAnchor: sA }))(v.studentAnchor))
    tf.dispose(Object.values(v).filter((x) => x instanceof tf.Tensor))
  })
})
