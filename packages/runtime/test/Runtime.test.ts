import { loadNativeAddon } from "@bingo/native-cpu"
import { describe, expect, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect, Layer } from "effect"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { atomicWrite, removeStaleTempFiles } from "../src/atomicWrite.ts"
import { failureOf } from "../src/failureOf.ts"
import { Runtime } from "../src/Runtime.ts"
import { selectBackend } from "../src/selectBackend.ts"

describe("Runtime", () => {
  it.effect("auto falls back to cpu-native (addon built) or wasm when tfjs-node(-gpu) are not installed, and says why", () =>
    Effect.gen(function* () {
      const sel = yield* Effect.promise(() => selectBackend("auto"))
      expect("error" in sel).toBe(false)
      if ("error" in sel) return
      const native = !("error" in loadNativeAddon())
      expect(sel.backend).toBe(native ? "cpu-native" : "wasm")
      expect(sel.reason).toMatch(/tensorflow-gpu: @tensorflow\/tfjs-node-gpu not installed/)
      expect(sel.reason).toMatch(/tensorflow: @tensorflow\/tfjs-node not installed/)
      expect(tf.getBackend()).toBe(native ? "cpu" : "wasm")
    })
  )

  it.effect("asking for an unavailable backend is a typed BackendUnavailable error", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(Runtime.layer({ backend: "tensorflow-gpu" }))))
      expect(failureOf(exit)).toMatchObject({ _tag: "BackendUnavailable", backend: "tensorflow-gpu" })
    })
  )

  it.effect("the layer releases variables it owned when closed", () =>
    Effect.gen(function* () {
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Layer.build(Runtime.layerTest)
          tf.variable(tf.zeros([2]))
          expect(tf.memory().numTensors).toBeGreaterThan(0)
        })
      )
      expect(Object.keys(tf.engine().registeredVariables)).toHaveLength(0)
    })
  )
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

  it("a failed write removes its temp file and leaves the old file", () => {
    const dir = mkdtempSync(join(tmpdir(), "bingo-aw-"))
    const p = join(dir, "a.json")
    atomicWrite(p, "one")
    mkdirSync(join(dir, "sub"))
    // renaming a file over a directory fails after the temp file was written
    expect(() => atomicWrite(join(dir, "sub"), "x")).toThrow()
    expect(readdirSync(dir).sort()).toEqual(["a.json", "sub"])
    expect(readFileSync(p, "utf8")).toBe("one")
  })

  it("removeStaleTempFiles deletes temp files of dead writers, keeps live writers' and other files", () => {
    const dir = mkdtempSync(join(tmpdir(), "bingo-aw-"))
    const dead = 2 ** 22 + 17 // above Linux's pid_max (4194304): never a running process
    const files = [
      `.checkpoint.safetensors.${dead}.1700000000000.tmp`, // killed mid-write
      `.bags.npy.${process.pid}.1.tmp`, // this pid, but written before this process started: a recycled pid
      `.results.json.${process.ppid}.${Date.now()}.tmp`, // a live process (our parent) may still be writing it
      "checkpoint.safetensors",
      ".hidden",
      "notes.tmp"
    ]
    for (const f of files) writeFileSync(join(dir, f), "x")
    expect([...removeStaleTempFiles(dir)].sort()).toEqual([files[1], files[0]])
    expect(readdirSync(dir).sort()).toEqual([files[2], files[4], files[3], files[5]].sort())
    expect(removeStaleTempFiles(join(dir, "missing"))).toEqual([])
  })
})
