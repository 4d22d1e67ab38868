import { formatSchemaProblems, userInputParseOptions } from "@bingo/runtime"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Result, Schema } from "effect"
import { AugmentConfigSchema, augmentDefaults, resolveAugmentConfig, validateAugmentConfig } from "../../src/augment/AugmentConfig.ts"

/** The schema's problems for a user's `augment` section, as the CLI prints them (or "ok"). */
const problems = (raw: unknown): string => {
  const decoded = Schema.decodeUnknownResult(AugmentConfigSchema)(raw, userInputParseOptions)
  return Result.isSuccess(decoded) ? "ok" : formatSchemaProblems(decoded.failure.issue, ["augment"])
}

describe("AugmentConfigSchema", () => {
  it("accepts an empty section, the reference values and a partial one; outputSize is optional", () => {
    expect(problems({})).toBe("ok")
    expect(problems(augmentDefaults)).toBe("ok")
    expect(problems({ outputSize: 32, cropScale: [0.35, 1], hue: 0.5, blurKernelSize: 5, mean: [0.4, 0.5, 0.6] })).toBe("ok")
  })

  it("checks each field, naming it by its key path", () => {
    expect(problems({ hue: 0.7 })).toBe("augment.hue: Expected a value between 0 and 0.5, got 0.7")
    expect(problems({ flipProb: 1.5 })).toBe("augment.flipProb: Expected a value between 0 and 1, got 1.5")
    expect(problems({ brightness: -1 })).toBe("augment.brightness: Expected a value greater than or equal to 0, got -1")
    expect(problems({ outputSize: 0 })).toBe("augment.outputSize: Expected a value greater than 0, got 0")
    expect(problems({ blurKernelSize: 4 })).toBe("augment.blurKernelSize: must be a positive odd integer, got 4")
    expect(problems({ mean: [] })).toBe("augment.mean: Expected a value with a length of at least 1, got []")
    expect(problems({ std: [0.5, 0] })).toBe("augment.std[1]: Expected a value greater than 0, got 0")
    expect(problems({ centerCropFraction: 0 })).toBe("augment.centerCropFraction: Expected a value between 0 (excluded) and 1, got 0")
    expect(problems({ hue: 0.7, flipProb: 2 })).toBe(
      "2 problems: augment.flipProb: Expected a value between 0 and 1, got 2; augment.hue: Expected a value between 0 and 0.5, got 0.7"
    )
  })

  it("checks the ranges as a whole: 0 < lo <= hi (<= 1 for cropScale), hi finite", () => {
    expect(problems({ cropScale: [1, 0.2] })).toBe("augment.cropScale: need 0 < lo <= hi <= 1, got [1, 0.2]")
    expect(problems({ cropScale: [0.2, 1.5] })).toBe("augment.cropScale: need 0 < lo <= hi <= 1, got [0.2, 1.5]")
    expect(problems({ cropRatio: [0, 1] })).toBe("augment.cropRatio: need 0 < lo <= hi, got [0, 1]")
    expect(problems({ blurSigma: [0.1, Infinity] })).toBe("augment.blurSigma: need 0 < lo <= hi, got [0.1, Infinity]")
    expect(problems({ cropRatio: [0.5, 2] })).toBe("ok")
  })

  it("is the check resolveAugmentConfig and validateAugmentConfig apply", () => {
    expect(() => resolveAugmentConfig({ outputSize: 16, hue: 0.7 })).toThrow(
      "invalid augmentation config: hue: Expected a value between 0 and 0.5, got 0.7"
    )
    expect(() => resolveAugmentConfig({ outputSize: 16.5 })).toThrow(
      "invalid augmentation config: outputSize: Expected an integer, got 16.5"
    )
    expect(() => resolveAugmentConfig({ outputSize: 16, std: [1, -1] })).toThrow("std[1]: Expected a value greater than 0, got -1")
  })

  it.effect("a user's invalid config fails as InvalidAugmentConfig with the field and the reason", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(validateAugmentConfig({ outputSize: 16, blurSigma: [2, 0.1] }))
      expect({ field: error.field, reason: error.reason }).toEqual({ field: "blurSigma", reason: "need 0 < lo <= hi, got [2, 0.1]" })
    })
  )
})
