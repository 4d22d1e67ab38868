import { describe, expect, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect, Layer } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { failureOf, Runtime } from "@bingo/runtime"
import { disposeEncoder } from "@bingo/backbones"
import { DatasetSource, gatherAll, type ImageSource, loadImageCache, openImageCache, writeImageCache } from "@bingo/data"
import { labelBags, makeBags } from "@bingo/bag-miner"
import { defineLoss, LossRegistry } from "@bingo/losses"
import { healthChecksOff } from "@bingo/training"
import { Teacher } from "@bingo/teacher"
import { type DistillOptions, Trainer } from "../src/Trainer.ts"

const baseOptions: DistillOptions = {
  student: { backbone: "mlp", inputShape: [16, 16, 1], widthMultiplier: 0.125, headHidden: 16, embeddingDim: 16 },
  augment: { outputSize: 16 },
  epochs: 2,
  batchSize: 16,
  lr: 0.05,
  momentum: 0.9,
  weightDecay: 1e-4,
  queueSize: 64,
  studentKeyMomentum: 0.99,
  seed: 3,
  // a random test teacher and a tiny MLP student sit near collapse by construction: these tests
  // are of the loop's mechanics; the collapse detection has its own tests
  health: healthChecksOff
}

/** Trainer over the test teacher, on the cpu backend. */
const trainerLayer = (options: DistillOptions) =>
  Trainer.layer(options).pipe(Layer.provideMerge(Teacher.layerTest), Layer.provideMerge(Runtime.layerTest))

const runDistil = (
  options: DistillOptions,
  lossName = "bingo",
  extra: Parameters<typeof LossRegistry.make>[0] = [],
  bagsSeed = 0,
  dataset?: ImageSource,
  lossOptions: unknown = {}
) =>
  Effect.gen(function* () {
    const train = dataset ?? (yield* (yield* DatasetSource).load).train
    const bags = labelBags(train.labels!, { k: 3, seed: bagsSeed })
    const loss = yield* LossRegistry.make(extra).resolve(lossName, lossOptions)
    const result = yield* (yield* Trainer).distil({ dataset: train, bags, loss })
    const weights = new Map([...result.student.params].map(([k, v]) => [k, Array.from(v.dataSync())]))
    disposeEncoder(result.student)
    return { ...result, weights }
  }).pipe(Effect.provide(Layer.mergeAll(trainerLayer(options), DatasetSource.layerTest)))

const tmp = () => mkdtempSync(join(tmpdir(), "bingo-trainer-"))

/** The test dataset written to a decoded-image cache (pixels rounded to bytes, as a decoded folder's are). */
const writeTestCache = Effect.gen(function* () {
  const train = yield* gatherAll((yield* (yield* DatasetSource).load).train)
  const len = train.height * train.width * train.channels
  const listing = {
    root: "/test",
    classNames: train.classNames!,
    files: Array.from({ length: train.size }, (_, i) => `/test/${i}`),
    labels: train.labels!
  }
  const path = join(tmp(), "train.bingoimg")
  yield* writeImageCache(
    listing,
    {
      size: train.height,
      channels: train.channels as 1,
      decoder: (file) => {
        const i = Number(file.slice("/test/".length))
        return Effect.succeed(Uint8Array.from(train.images.subarray(i * len, (i + 1) * len), (v) => Math.round(v * 255)))
      }
    },
    path
  )
  return path
}).pipe(Effect.provide(DatasetSource.layerTest))

describe("Trainer", () => {
  it.effect(
    "distils with every builtin loss: finite losses, weights move, no tensor leak",
    () =>
      Effect.gen(function* () {
        // one warm-up run: the first run on a backend creates engine-level constants
        yield* runDistil({ ...baseOptions, epochs: 1 }, "bingo")
        for (const name of LossRegistry.make().names()) {
          const before = tf.memory().numTensors
          const r = yield* runDistil({ ...baseOptions, epochs: 1 }, name)
          expect(r.finished).toBe(true)
          expect(r.epochLosses.every(Number.isFinite)).toBe(true)
          expect(r.steps).toBe(4) // 64 samples / batch 16, drop last
          // the layer's teacher was released with its scope too
          expect(tf.memory().numTensors).toBe(before)
        }
      }),
    120_000
  )

  it.effect(
    "BINGO's paper form trains from the views it declares (no CutMix, no teacher positive): finite, no leak",
    () =>
      Effect.gen(function* () {
        const before = tf.memory().numTensors
        const r = yield* runDistil({ ...baseOptions, epochs: 1 }, "bingo", [], 0, undefined, { form: "paper" })
        expect(r.epochLosses.every(Number.isFinite)).toBe(true)
        expect(tf.memory().numTensors).toBe(before)
      }),
    120_000
  )

  it.effect(
    "from a store on disk (read a step ahead): the same losses and weights as from memory, bit for bit",
    () =>
      Effect.gen(function* () {
        const path = yield* writeTestCache
        const store = yield* openImageCache(path)
        const memory = yield* loadImageCache(path)
        for (const loss of ["bingo", "moco"]) {
          const fromMemory = yield* runDistil(baseOptions, loss, [], 0, memory)
          const fromDisk = yield* runDistil(baseOptions, loss, [], 0, store)
          expect(fromDisk.epochLosses, loss).toEqual(fromMemory.epochLosses)
          for (const [name, w] of fromMemory.weights) expect(fromDisk.weights.get(name), `${loss} ${name}`).toEqual(w)
        }
      }),
    120_000
  )

  it.effect(
    "an interrupted and resumed run ends with bit-identical weights and losses",
    () =>
      Effect.gen(function* () {
        const dirA = tmp()
        const dirB = tmp()
        const a = yield* runDistil({ ...baseOptions, checkpointPath: join(dirA, "ckpt.safetensors") })
        // B: stop after 3 steps (mid-epoch 1), then after 2 more (mid-epoch 2), then finish
        const ckptB = join(dirB, "ckpt.safetensors")
        const b1 = yield* runDistil({ ...baseOptions, checkpointPath: ckptB, stopAfterSteps: 3 })
        expect(b1.finished).toBe(false)
        const b2 = yield* runDistil({ ...baseOptions, checkpointPath: ckptB, stopAfterSteps: 2 })
        expect(b2.finished).toBe(false)
        expect(b2.steps).toBe(5)
        const b3 = yield* runDistil({ ...baseOptions, checkpointPath: ckptB })
        expect(b3.finished).toBe(true)
        expect(b3.steps).toBe(a.steps)
        for (const [name, w] of a.weights) expect(b3.weights.get(name)).toEqual(w)
        // per-epoch mean losses survive the interruptions exactly
        expect(b3.epochLosses).toEqual(a.epochLosses)
      }),
    120_000
  )

  it.effect(
    "a NaN loss stops the run with the step and the last good checkpoint named",
    () =>
      Effect.gen(function* () {
        const dir = tmp()
        const nanAfter = defineLoss({
          name: "nan-in-epoch-2",
          description: "finite in epoch 1, NaN after",
          needs: [],
          defaults: {},
          decodeOptions: () => ({}),
          compute: (v) =>
            tf.tidy(() => (v.epoch === 0 ? tf.mean(v.studentAnchor) : tf.div(tf.mean(v.studentAnchor), 0).mul(0)) as tf.Scalar)
        })
        const exit = yield* Effect.exit(
          runDistil({ ...baseOptions, checkpointPath: join(dir, "c.safetensors") }, "nan-in-epoch-2", [nanAfter])
        )
        const error = failureOf(exit)
        expect(error).toMatchObject({
          _tag: "TrainingDiverged",
          stage: "distillation",
          epoch: 1,
          step: 0,
          lastCheckpoint: join(dir, "c.safetensors")
        })
        expect(String((error as { message: string }).message)).toMatch(
          /distillation diverged at epoch 2, step 1: loss NaN.*last good checkpoint: .*c\.safetensors/
        )
      }),
    60_000
  )

  it.effect(
    "refuses a checkpoint from another config, bags of another dataset, mismatched embedding widths and a dataset smaller than a batch",
    () =>
      Effect.gen(function* () {
        const dir = tmp()
        const path = join(dir, "c.safetensors")
        yield* runDistil({ ...baseOptions, epochs: 1, checkpointPath: path })
        const other = yield* Effect.exit(runDistil({ ...baseOptions, epochs: 1, lr: 0.1, checkpointPath: path }))
        expect(failureOf(other)).toMatchObject({
          _tag: "CheckpointError",
          path,
          reason: expect.stringMatching(/^written by a run with a different config/)
        })
        // same options, other bags (e.g. a swapped bags.file): refused too
        const otherBags = yield* Effect.exit(runDistil({ ...baseOptions, epochs: 1, checkpointPath: path }, "bingo", [], 1))
        expect(failureOf(otherBags)).toMatchObject({
          _tag: "CheckpointError",
          path,
          reason: expect.stringMatching(/^written by a run with a different config/)
        })

        writeFileSync(join(dir, "junk.safetensors"), "junk")
        const junk = yield* Effect.exit(runDistil({ ...baseOptions, checkpointPath: join(dir, "junk.safetensors") }))
        expect(failureOf(junk)).toMatchObject({
          _tag: "CheckpointError",
          path: join(dir, "junk.safetensors"),
          reason: expect.stringMatching(/^not a checkpoint/)
        })

        const wide = yield* Effect.exit(runDistil({ ...baseOptions, student: { ...baseOptions.student, embeddingDim: 32 } }))
        expect(failureOf(wide)).toMatchObject({ _tag: "EmbeddingDimMismatch", teacher: 16, student: 32 })

        const wrongBags = yield* Effect.exit(
          Effect.gen(function* () {
            const { train } = yield* (yield* DatasetSource).load
            const loss = yield* LossRegistry.make().resolve("bingo", {})
            return yield* (yield* Trainer).distil({ dataset: train, bags: makeBags(10, 1, new Int32Array(10)), loss })
          }).pipe(Effect.provide(Layer.mergeAll(trainerLayer(baseOptions), DatasetSource.layerTest)))
        )
        expect(failureOf(wrongBags)).toMatchObject({ _tag: "BagsDoNotMatchDataset", bagsN: 10, datasetN: 64 })

        const tooSmall = yield* Effect.exit(runDistil({ ...baseOptions, batchSize: 100 }))
        expect(failureOf(tooSmall)).toMatchObject({ _tag: "DatasetSmallerThanBatch", datasetN: 64, batchSize: 100 })
      }),
    60_000
  )
})
