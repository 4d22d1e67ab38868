import * as tf from "@tensorflow/tfjs"
import { describe, expect, it } from "vitest"
import { builtinLosses } from "../src/builtinLosses.ts"
import {
  alwaysProvided,
  asLossValue,
  type DistillationViews,
  isOptionsError,
  type LossValue,
  neededViews,
  viewFields
} from "../src/DistillationLoss.ts"
import { expectFinite, expectNoLeak, grad2d, makeRng, randomUnitRows, t2, useCpuBackend } from "./helpers.ts"

useCpuBackend()

/** Every view, random unit embeddings: B = 4, D = 8, Q = 16. */
const allViews = (seed: number, epoch: number): DistillationViews => {
  const rng = makeRng(seed)
  const m = (rows: number) => t2(randomUnitRows(rng, rows, 8))
  return {
    studentAnchor: m(4),
    studentPositive: m(4),
    studentMix: m(4),
    teacherAnchor: m(4),
    teacherPositive: m(4),
    studentKey: m(4),
    teacherQueue: m(16),
    studentKeyQueue: m(16),
    mixLambda: 0.4,
    epoch
  }
}

/** Only the views every trainer provides plus those the loss declares in `needs`. */
const onlyNeeded = (views: DistillationViews, needs: ReadonlyArray<keyof typeof viewFields>): DistillationViews => {
  const keep = new Set([...alwaysProvided, ...needs.flatMap((v) => viewFields[v])])
  return Object.fromEntries(Object.entries(views).filter(([k]) => keep.has(k as keyof DistillationViews))) as unknown as DistillationViews
}

/** Every tensor of a loss's result: the total and its named terms. */
const tensorsOf = (value: tf.Scalar | LossValue): Array<tf.Tensor> => {
  const v = asLossValue(value)
  return [v.total, ...Object.values(v.terms ?? {})]
}

/** The total of a loss's result, its terms disposed. */
const totalOf = (value: tf.Scalar | LossValue): tf.Scalar => {
  const [total, ...terms] = tensorsOf(value)
  tf.dispose(terms)
  return total as tf.Scalar
}

const disposeViews = (v: DistillationViews) => tf.dispose(Object.values(v).filter((x) => x instanceof tf.Tensor))

describe("builtinLosses", () => {
  it("has unique names, including the five methods of the paper's comparison", () => {
    const names = builtinLosses.map((l) => l.name)
    expect(new Set(names).size).toBe(names.length)
    expect(names).toEqual(expect.arrayContaining(["bingo", "moco", "seed", "compress", "disco", "infonce", "infonce-multi"]))
  })

  describe.each(builtinLosses.map((loss) => [loss.name, loss] as const))("%s", (_, loss) => {
    it("computes a finite scalar with a finite, non-zero gradient for the student, before and after warm-up", () => {
      for (const epoch of [0, 40]) {
        const views = allViews(91, epoch)
        const value = totalOf(loss.compute(views, loss.defaults))
        expect(value.rank).toBe(0)
        expectFinite(value.dataSync()[0]!)
        const grad = grad2d((s: tf.Tensor2D) => totalOf(loss.compute({ ...views, studentAnchor: s }, loss.defaults)))(views.studentAnchor)
        const g = Array.from(grad.dataSync())
        expectFinite(g)
        expect(Math.max(...g.map(Math.abs))).toBeGreaterThan(0)
        tf.dispose([value, grad])
        disposeViews(views)
      }
    })

    it("reads only the views it declares in `needs`", () => {
      const views = allViews(92, 20)
      const value = totalOf(loss.compute(onlyNeeded(views, neededViews(loss, loss.defaults)), loss.defaults))
      expectFinite(value.dataSync()[0]!)
      tf.dispose(value)
      disposeViews(views)
    })

    it("leaks no tensor (loss and gradient)", () => {
      const views = allViews(93, 20)
      expectNoLeak(() => tensorsOf(loss.compute(views, loss.defaults)))
      expectNoLeak(() =>
        grad2d((s: tf.Tensor2D) => totalOf(loss.compute({ ...views, studentAnchor: s }, loss.defaults)))(views.studentAnchor)
      )
      disposeViews(views)
    })

    it("decodes no options to its defaults and the defaults to themselves", () => {
      expect(loss.decodeOptions(undefined)).toEqual(loss.defaults)
      expect(loss.decodeOptions({})).toEqual(loss.defaults)
      expect(loss.decodeOptions(loss.defaults)).toEqual(loss.defaults)
    })

    it("rejects an unknown key and a wrong type, naming the key", () => {
      const unknown = loss.decodeOptions({ notAnOption: 1 })
      expect(isOptionsError(unknown) && unknown.error).toMatch(/notAnOption: Unexpected key/)
      for (const key of Object.keys(loss.defaults as object)) {
        const wrong = loss.decodeOptions({ [key]: { nested: true } })
        expect(isOptionsError(wrong) && wrong.error).toMatch(new RegExp(`(^|; |problems: )${key}: `))
      }
    })
  })

  it("bingo decodes user options over its defaults and rejects a bad form and a negative temperature", () => {
    const bingo = builtinLosses.find((l) => l.name === "bingo")!
    expect(bingo.decodeOptions({ form: "paper", temperature: 0.12 })).toEqual({
      form: "paper",
      temperature: 0.12,
      warmupEpochs: 11,
      selfWeight: 0.5,
      crossWeight: 0.5
    })
    const bad = bingo.decodeOptions({ form: "other", temperature: -1 })
    expect(isOptionsError(bad) && bad.error).toMatch(/form: Expected "code" \| "paper", got /)
    expect(isOptionsError(bad) && bad.error).toMatch(/temperature: Expected a value greater than 0, got /)
  })

  it("bingo's paper form needs no CutMix view (the trainer skips it) and computes from its declared views alone", () => {
    const bingo = builtinLosses.find((l) => l.name === "bingo")!
    const paper = { ...bingo.defaults, form: "paper" as const }
    expect(neededViews(bingo, bingo.defaults)).toEqual(["positive", "mix", "teacher"])
    expect(neededViews(bingo, paper)).toEqual(["studentPositive", "teacher"])
    const views = allViews(94, 20)
    const value = totalOf(bingo.compute(onlyNeeded(views, neededViews(bingo, paper)), paper))
    expectFinite(value.dataSync()[0]!)
    tf.dispose(value)
    disposeViews(views)
  })

  it("infonce-multi rejects weights that are both 0", () => {
    const multi = builtinLosses.find((l) => l.name === "infonce-multi")!
    const bad = multi.decodeOptions({ anchorWeight: 0, positiveWeight: 0 })
    expect(isOptionsError(bad) && bad.error).toMatch(/anchorWeight \+ positiveWeight must be > 0/)
  })
})
