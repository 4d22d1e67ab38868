import { failureOf } from "@bingo/runtime"
import { describe, expect, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect, Schema } from "effect"
import { builtinLosses } from "../src/builtinLosses.ts"
import { defineLoss } from "../src/DistillationLoss.ts"
import { DuplicateLoss } from "../src/LossError.ts"
import { optionsFromSchema, positiveNumber } from "../src/LossOptions.ts"
import { LossRegistry } from "../src/LossRegistry.ts"
import { t2, useCpuBackend } from "./helpers.ts"

useCpuBackend()

/** A custom loss as a user's plugin file would default-export it: scale · mean_b (1 − s_a·t_a). */
const cosineDistance = defineLoss({
  name: "cosine-distance",
  description: "1 − cosine similarity between student and teacher anchors",
  needs: ["teacher"],
  ...optionsFromSchema(Schema.Struct({ scale: positiveNumber(1) })),
  compute: (views, options) =>
    tf.tidy(() => tf.mul(tf.mean(tf.sub(1, tf.sum(tf.mul(views.studentAnchor, views.teacherAnchor), 1))), options.scale) as tf.Scalar)
})

describe("LossRegistry", () => {
  it("lists the builtins by name, in order", () => {
    const registry = LossRegistry.make()
    expect(registry.names()).toEqual(builtinLosses.map((l) => l.name))
    expect(registry.get("bingo")?.name).toBe("bingo")
    expect(registry.has("seed")).toBe(true)
    expect(registry.get("nope")).toBeUndefined()
  })

  it.effect("resolves a loss with its options decoded over the defaults", () =>
    Effect.gen(function* () {
      const resolved = yield* LossRegistry.make().resolve("bingo", { form: "paper" })
      expect(resolved.loss.name).toBe("bingo")
      expect(resolved.options).toEqual({ form: "paper", temperature: 0.2, warmupEpochs: 11, selfWeight: 0.5, crossWeight: 0.5 })
      const noOptions = yield* LossRegistry.make().resolve("seed")
      expect(noOptions.options).toEqual({ studentTemperature: 0.2, teacherTemperature: 0.01 })
    })
  )

  it.effect("an unknown name is an UnknownLoss listing what is available", () =>
    Effect.gen(function* () {
      const error = failureOf(yield* Effect.exit(LossRegistry.make().resolve("bingoo")))
      expect(error).toMatchObject({ _tag: "UnknownLoss", name: "bingoo", available: builtinLosses.map((l) => l.name) })
      // the words a user reads: the name asked for and the list, in registry order
      expect(error?.message).toMatch(/unknown loss 'bingoo'; available: bingo, moco/)
    })
  )

  it.effect("an unknown key or a wrong type is an InvalidLossOptions naming the loss and the key", () =>
    Effect.gen(function* () {
      const registry = LossRegistry.make()
      const unknownKey = failureOf(yield* Effect.exit(registry.resolve("moco", { temprature: 0.2 })))
      expect(unknownKey).toMatchObject({
        _tag: "InvalidLossOptions",
        loss: "moco",
        message: expect.stringMatching(/^invalid options for loss 'moco': temprature: Unexpected key with value /)
      })
      const wrongType = failureOf(yield* Effect.exit(registry.resolve("disco", { weight: "heavy" })))
      expect(wrongType).toMatchObject({
        _tag: "InvalidLossOptions",
        loss: "disco",
        message: expect.stringMatching(/weight: Expected number, got /)
      })
      const notAnObject = failureOf(yield* Effect.exit(registry.resolve("seed", 0.5)))
      expect(notAnObject).toMatchObject({ _tag: "InvalidLossOptions", loss: "seed", message: expect.stringMatching(/Expected object/) })
    })
  )

  it.effect("resolve gives the views the loss needs with the options chosen; a needs function returning junk is InvalidLossOptions", () =>
    Effect.gen(function* () {
      const registry = LossRegistry.make()
      expect((yield* registry.resolve("bingo")).needs).toEqual(["positive", "mix", "teacher"])
      expect((yield* registry.resolve("bingo", { form: "paper" })).needs).toEqual(["studentPositive", "teacher"])
      expect((yield* registry.resolve("moco")).needs).toEqual(["studentKey"])
      const odd = defineLoss({
        name: "odd",
        description: "a plugin whose needs function returns a view that does not exist",
        needs: () => ["labels"] as never,
        defaults: {},
        decodeOptions: () => ({}),
        compute: () => {
          throw new Error("not called")
        }
      })
      const error = failureOf(yield* Effect.exit(LossRegistry.make([odd]).resolve("odd")))
      expect(error).toMatchObject({
        _tag: "InvalidLossOptions",
        loss: "odd",
        message: expect.stringMatching(/loss 'odd': needs\(options\) must return an array of/)
      })
    })
  )

  it.effect("a custom loss registers, resolves by name and computes", () =>
    Effect.gen(function* () {
      const registry = LossRegistry.make([cosineDistance])
      expect(registry.names()).toEqual([...builtinLosses.map((l) => l.name), "cosine-distance"])
      const resolved = yield* registry.resolve("cosine-distance", { scale: 2 })
      expect(resolved.options).toEqual({ scale: 2 })
      const views = {
        studentAnchor: t2([
          [1, 0],
          [0, 1]
        ]),
        teacherAnchor: t2([
          [0.6, 0.8],
          [0, 1]
        ]),
        teacherQueue: t2([[1, 0]]),
        epoch: 0
      }
      const value = resolved.compute(views).total
      // rows: 1 − 0.6 = 0.4 and 1 − 1 = 0; mean 0.2; scale 2
      expect(value.dataSync()[0]).toBeCloseTo((2 * (0.4 + 0)) / 2, 6)
      tf.dispose([value, views.studentAnchor, views.teacherAnchor, views.teacherQueue])
      const bad = failureOf(yield* Effect.exit(registry.resolve("cosine-distance", { scale: 0 })))
      expect(bad).toMatchObject({
        _tag: "InvalidLossOptions",
        loss: "cosine-distance",
        message: expect.stringMatching(/scale: Expected a value greater than 0, got 0/)
      })
      const viaRegister = yield* LossRegistry.make().register(cosineDistance)
      expect(viaRegister.has("cosine-distance")).toBe(true)
    })
  )

  it.effect("a name clash is a DuplicateLoss", () =>
    Effect.gen(function* () {
      const clash = defineLoss({ ...cosineDistance, name: "bingo" })
      expect(() => LossRegistry.make([clash])).toThrow(DuplicateLoss)
      expect(failureOf(yield* Effect.exit(LossRegistry.build([clash])))).toMatchObject({ _tag: "DuplicateLoss", name: "bingo" })
      const twice = failureOf(yield* Effect.exit(LossRegistry.make([cosineDistance]).register(cosineDistance)))
      expect(twice).toMatchObject({ _tag: "DuplicateLoss", name: "cosine-distance" })
      expect(twice?.message).toBe("a loss named 'cosine-distance' is already registered")
      const built = yield* LossRegistry.build([cosineDistance])
      expect(built.has("cosine-distance")).toBe(true)
    })
  )

  it.effect("a plugin decoder that throws becomes InvalidLossOptions", () =>
    Effect.gen(function* () {
      const throwing = defineLoss({
        ...cosineDistance,
        name: "throwing",
        decodeOptions: () => {
          throw new Error("boom")
        }
      })
      const error = failureOf(yield* Effect.exit(LossRegistry.make([throwing]).resolve("throwing", {})))
      expect(error).toMatchObject({
        _tag: "InvalidLossOptions",
        loss: "throwing",
        message: expect.stringMatching(/decodeOptions threw: boom/)
      })
    })
  )
})
