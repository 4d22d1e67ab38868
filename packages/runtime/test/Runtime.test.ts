import { describe, expect, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect, Exit, Layer } from "effect"
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { atomicWrite } from "../src/atomicWrite.ts"
import { Runtime } from "../src/Runtime.ts"
import { selectBackend } from "../src/selectBackend.ts"

describe("Runtime", () => {
  it.effect("auto falls back to wasm when tfjs-node(-gpu) are not installed, and says why", () =>
    Effect.gen(function*() {
      const sel = yield* Effect.promise(() => selectBackend("auto"))
      expect("error" in sel).toBe(false)
      if ("error" in sel) return
      expect(sel.backend).toBe("wasm")
      expect(sel.reason).toMatch(/tensorflow-gpu: @tensorflow\/tfjs-node-gpu not installed/)
      expect(sel.reason).toMatch(/tensorflow: @tensorflow\/tfjs-node not installed/)
      expect(tf.getBackend()).toBe("wasm")
    }))

  it.effect("asking for an unavailable backend is a typed BackendUnavailable error", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(Runtime.layer({ backend: "tensorflow-gpu" }))))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(exit)).toMatch(/BackendUnavailable/)
    }))

  it.effect("the layer releases variables it owned when closed", () =>
    Effect.gen(function*() {
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(Runtime.layerTest)
        tf.variable(tf.zeros([2]))
        expect(tf.memory().numTensors).toBeGreaterThan(0)
      }))
      expect(Object.keys(tf.engine().registeredVariables)).toHaveLength(0)
    }))
})

describe("atomicWrite", () => {
  it("replaces the file and leaves no temp file behind", () => {
    const dir = mkdtempSync(join(tmpdir(), "bingo-aw-"))
    const p = join(dir, "a.json")
    atomicWrite(p, "one")
    atomicWrite(p, "two")
    expect(readFileSync(p, "utf8")).toBe("two")
    expect(readdirSync(dir)).toEqual(["a.json"])
  })
})
