import * as tf from "@tensorflow/tfjs"
import { describe, expect, it } from "vitest"
import { builtinLosses } from "../src/builtinLosses.ts"
import { checkDistillationLoss, isDistillationLoss, isOptionsError, planViews, requireView } from "../src/DistillationLoss.ts"
import { t2, useCpuBackend } from "./helpers.ts"

useCpuBackend()

describe("DistillationLoss", () => {
  it("accepts every builtin and says what is wrong with a malformed plugin export", () => {
    for (const loss of builtinLosses) expect(checkDistillationLoss(loss)).toBeUndefined()
    const valid = builtinLosses[0]!
    expect(checkDistillationLoss(undefined)).toMatch(/defineLoss/)
    expect(checkDistillationLoss({ ...valid, name: "" })).toMatch(/'name' must be a non-empty string/)
    expect(checkDistillationLoss({ ...valid, needs: ["teacher", "labels"] })).toMatch(/'needs' must be an array of/)
    expect(checkDistillationLoss({ ...valid, needs: () => ["teacher"] })).toBeUndefined()
    expect(checkDistillationLoss({ ...valid, compute: 3 })).toMatch(/'compute' must be a function/)
    expect(isDistillationLoss({ ...valid, decodeOptions: undefined })).toBe(false)
  })

  it("planViews turns needs into the images and embeddings a step makes", () => {
    const none = { positive: false, teacherPositive: false, mix: false, studentKey: false }
    expect(planViews(["teacher"])).toEqual(none)
    expect(planViews(["studentPositive", "teacher"])).toEqual({ ...none, positive: true })
    expect(planViews(["positive", "mix", "teacher"])).toEqual({ ...none, positive: true, teacherPositive: true, mix: true })
    // the CutMix is made of q and pq, so "mix" alone still makes the positive's view
    expect(planViews(["mix"])).toEqual({ ...none, positive: true, mix: true })
    expect(planViews(["studentKey"])).toEqual({ ...none, studentKey: true })
  })

  it("tells an options error from decoded options", () => {
    expect(isOptionsError({ error: "Expected number" })).toBe(true)
    expect(isOptionsError({ temperature: 0.2 })).toBe(false)
    expect(isOptionsError({ error: "x", temperature: 0.2 })).toBe(false)
    expect(isOptionsError(null)).toBe(false)
  })

  it("requireView returns a present view and names the missing one and its needs group", () => {
    const s = t2([[1, 0]])
    const views = { studentAnchor: s, teacherAnchor: s, teacherQueue: s, epoch: 0 }
    expect(requireView({ ...views, studentKey: s }, "studentKey", "moco")).toBe(s)
    expect(() => requireView(views, "studentKeyQueue", "moco")).toThrow(
      `loss 'moco' needs the view 'studentKeyQueue' (declare "studentKey" in needs)`
    )
    expect(() => requireView(views, "mixLambda", "bingo")).toThrow(/declare "mix" in needs/)
    tf.dispose(s)
  })
})
