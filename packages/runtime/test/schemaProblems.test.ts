import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { formatKeyPath, formatSchemaProblems, schemaProblems, userInputParseOptions } from "../src/schemaProblems.ts"

const Config = Schema.Struct({
  epochs: Schema.Number,
  crop: Schema.Array(Schema.Number),
  nested: Schema.Struct({ k: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)) })
})

const issueOf = (input: unknown) => {
  const result = Schema.decodeUnknownResult(Config)(input, userInputParseOptions)
  if (Result.isSuccess(result)) throw new Error("expected a failure")
  return result.failure.issue
}

describe("schemaProblems", () => {
  it("formats key paths as written in YAML and --set", () => {
    expect(formatKeyPath([])).toBe("")
    expect(formatKeyPath(["distill", "epochs"])).toBe("distill.epochs")
    expect(formatKeyPath(["augment", "cropScale", 1])).toBe("augment.cropScale[1]")
    expect(formatKeyPath(["plugins", 0, "name"])).toBe("plugins[0].name")
  })

  it("one line per problem, each with its key path and the value found; all of them at once", () => {
    const issue = issueOf({ epochs: "ten", crop: [0.2, "x"], nested: { k: 0 }, extra: true })
    expect([...schemaProblems(issue)].sort()).toEqual([
      `crop[1]: Expected number, got "x"`,
      `epochs: Expected number, got "ten"`,
      "extra: Unexpected key with value true",
      "nested.k: Expected a value greater than or equal to 1, got 0"
    ])
    expect(formatSchemaProblems(issue)).toMatch(/^4 problems: .+; .+; .+; .+$/)
    expect(formatSchemaProblems(issueOf({ epochs: 1, crop: [], nested: { k: 0 } }), ["distill", "loss"])).toBe(
      "distill.loss.nested.k: Expected a value greater than or equal to 1, got 0"
    )
    expect(formatSchemaProblems(issueOf({ epochs: 1, crop: [] }))).toBe("nested: Missing key")
    expect(formatSchemaProblems(issueOf(7))).toMatch(/^Expected .*, got 7$/)
  })
})
