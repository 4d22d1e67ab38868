import { describe, expect, it } from "vitest"
import { Schema } from "effect"
import { nonNegativeInt, nonNegativeNumber, oneOf, optionsFromSchema, positiveNumber } from "../src/LossOptions.ts"

const { defaults, decodeOptions } = optionsFromSchema(Schema.Struct({
  temperature: positiveNumber(0.2),
  weight: nonNegativeNumber(1),
  warmupEpochs: nonNegativeInt(11),
  form: oneOf(["code", "paper"], "code")
}))

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
    expect(error).toContain(`Expected a value greater than 0\n  at ["temperature"]`)
    expect(error).toContain(`Expected a value greater than or equal to 0\n  at ["weight"]`)
    expect(error).toContain(`Expected an integer\n  at ["warmupEpochs"]`)
    expect(error).toContain(`Expected "code" | "paper"\n  at ["form"]`)
    expect(error).toContain(`at ["extra"]`)
  })

  it("rejects NaN and Infinity", () => {
    expect(decodeOptions({ temperature: Number.NaN })).toEqual({ error: expect.stringContaining(`["temperature"]`) })
    expect(decodeOptions({ weight: Number.POSITIVE_INFINITY })).toEqual({ error: expect.stringContaining(`["weight"]`) })
  })

  it("refuses a schema whose defaults do not decode", () => {
    expect(() => optionsFromSchema(Schema.Struct({ temperature: Schema.Number }))).toThrow(/no valid defaults/)
  })
})
