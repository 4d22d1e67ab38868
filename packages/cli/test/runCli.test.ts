import { describe, expect, it } from "vitest"
import { Cause } from "effect"
import { ConfigError } from "../src/ConfigError.ts"
import { describeFailure } from "../src/runCli.ts"

describe("describeFailure", () => {
  it("a typed failure is its message on one line; a defect is called a bug and keeps its trace", () => {
    expect(describeFailure(Cause.fail(new ConfigError({ path: "run.yaml", reason: "distill.batchSize: too large" })))).toBe(
      "bingo: run.yaml: distill.batchSize: too large\n"
    )
    const defect = describeFailure(Cause.die(new Error("boom")))
    expect(defect).toMatch(/^bingo: internal error \(a bug: please report it with this trace\)\n/)
    expect(defect).toMatch(/Error: boom\n\s+at /)
  })
})
