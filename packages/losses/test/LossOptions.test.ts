import { describe, expect, it } from "vitest"
import { Schema } from "effect"
import { nonNegativeInt, nonNegativeNumber, oneOf, optionsFromSchema, positiveNumber } from "../src/LossOptions.ts"

const { defaults, decodeOptions } = optionsFromSchema(
  Schema.Struct({
    temperature: positiveNumber(0.2),
    weight: nonNegativeNumber(1),
    warmupEpochs: nonNegativeInt(11),
    form: oneOf(["code", "paper"], "code")
  })
)

describe("LossOptions", () => {
  it("decodes {} (and undefined / null) to the defaults", () => {
    expect(defaults).toEqual({ temperature: 0.2, weight: 1, warmupEpochs: 11, form: "code" })
    expect(decodeOptions(undefined)).toEqual(defaults)
    expect(decodeOptions(null)).toEqual(defaults)
  })

  it("merges given keys over the defaults", () => {
    expect(decodeOptions({ weight: 0, form: "paper" })).toEqual({ temperature: 0.2, weight: 0, warmupEpochs: 11, form: "paper" })
  })

  it("reports every problem at once, each with its key path", () => {
    const result = decodeOptions({ temperature: 0, weight: -1, warmupEpochs: 2.5, form: "x", extra: true })
    expect(result).toEqual({ error: expect.any(String) })
    const error = (result as { error: string }).error
    expect(error).toContain(`temperature: Expected a value greater than 0, got 0`)
    expect(error).toContain(`weight: Expected a value greater than or equal to 0, got -1`)
    expect(error).toContain(`warmupEpochs: Expected an integer, got 2.5`)
    expect(error).toContain(`form: Expected "code" | "paper", got "x"`)
    expect(error).toContain(`extra: Unexpected key with value true`)
    expect(error).toMatch(/^5 problems: /)
  })

  it("rejects NaN and Infinity", () => {
    expect(decodeOptions({ temperature: Number.NaN })).toEqual({
      error: expect.stringContaining(`temperature: Expected a finite number, got NaN`)
    })
    expect(decodeOptions({ weight: Number.POSITIVE_INFINITY })).toEqual({
      error: expect.stringContaining(`weight: Expected a finite number, got Infinity`)
    })
  })

  it("refuses a schema whose defaults do not decode", () => {
    expect(() => optionsFromSchema(Schema.Struct({ temperature: Schema.Number }))).toThrow(/no valid defaults/)
  })
})
