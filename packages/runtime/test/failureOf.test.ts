import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { failureOf } from "../src/failureOf.ts"
import { BackendUnavailable } from "../src/RuntimeError.ts"

describe("failureOf", () => {
  it("is the typed error of a failed exit, and undefined for a success, a defect or an interruption", () => {
    const error = new BackendUnavailable({ backend: "wasm", reason: "no" })
    expect(failureOf(Exit.fail(error))).toBe(error)
    expect(failureOf(Exit.succeed(1))).toBeUndefined()
    expect(failureOf(Exit.die(new Error("bug")))).toBeUndefined()
    expect(failureOf(Exit.interrupt(1))).toBeUndefined()
  })

  it("finds the typed error beside a defect in a combined cause", () => {
    const error = new BackendUnavailable({ backend: "wasm", reason: "no" })
    const exit = Exit.failCause(Cause.combine(Cause.die("bug"), Cause.fail(error)))
    expect(failureOf(exit)).toBe(error)
  })

  it.effect("reads an exit from Effect.exit", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Effect.fail(new BackendUnavailable({ backend: "tensorflow", reason: "not installed" })))
      expect(failureOf(exit)).toMatchObject({ _tag: "BackendUnavailable", backend: "tensorflow", reason: "not installed" })
    })
  )
})
