import { describe, expect, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect, Layer } from "effect"
import { existsSync, mkdtempSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { failureOf, Rng, Runtime } from "@bingo/runtime"
import { createEncoder, disposeEncoder, embed, saveWeights, readWeights } from "@bingo/backbones"
import { DatasetSource, makeShapes } from "@bingo/data"
import { pretrainMoco } from "../src/pretrainMoco.ts"
import { Teacher } from "../src/Teacher.ts"

const spec = { backbone: "convnet-small", inputShape: [16, 16, 1] as const, widthMultiplier: 0.5, headHidden: 32, embeddingDim: 16 }
const moco = { epochs: 2, batchSize: 16, lr: 0.05, momentum: 0.9, weightDecay: 1e-4, queueSize: 64, temperature: 0.2, keyMomentum: 0.9 }

const withRuntime = <A, E, E2>(effect: Effect.Effect<A, E, Teacher | DatasetSource>, teacher: Layer.Layer<Teacher, E2, DatasetSource>) =>
  effect.pipe(Effect.provide(teacher.pipe(Layer.provideMerge(DatasetSource.layerTest), Layer.provideMerge(Runtime.layerTest))))

describe("pretrainMoco", () => {
  it.effect(
    "trains the query encoder, moves its weights, and frees the key encoder, queue and optimiser",
    () =>
      Effect.gen(function* () {
        yield* Effect.scoped(Layer.build(Runtime.layerTest))
        const data = makeShapes({ n: 48, seed: 1 })
        const init = createEncoder(spec, Rng.fromSeed(7), "init")
        const before = tf.memory().numTensors
        const { encoder: enc } = yield* pretrainMoco(data, spec, { outputSize: 16 }, moco, 7)
        // only the returned encoder's variables remain
        expect(tf.memory().numTensors - before).toBe(enc.params.size)
        // same seed -> same init; training moved the weights
        const w0 = init.params.get("backbone.conv0.weight")!.dataSync()
        const w1 = enc.params.get("backbone.conv0.weight")!.dataSync()
        expect(Array.from(w1)).not.toEqual(Array.from(w0))
        disposeEncoder(enc)
        disposeEncoder(init)
      }),
    60_000
  )
})

describe("pretrainMoco checkpoints", () => {
  it.effect(
    "a run stopped mid-epoch and resumed from its checkpoint ends with the same weights and losses as an uninterrupted one",
    () =>
      Effect.gen(function* () {
        yield* Effect.scoped(Layer.build(Runtime.layerTest))
        const data = makeShapes({ n: 48, seed: 1 })
        const dir = mkdtempSync(join(tmpdir(), "bingo-moco-"))
        const whole = yield* pretrainMoco(data, spec, { outputSize: 16 }, moco, 7)
        const checkpointPath = join(dir, "moco.ckpt")
        const first = yield* pretrainMoco(data, spec, { outputSize: 16 }, { ...moco, checkpointPath, stopAfterSteps: 3 }, 7)
        expect(first.finished).toBe(false)
        disposeEncoder(first.encoder)
        const resumed = yield* pretrainMoco(data, spec, { outputSize: 16 }, { ...moco, checkpointPath }, 7)
        expect(resumed.finished).toBe(true)
        expect(resumed.epochs.map((e) => e.loss)).toEqual(whole.epochs.map((e) => e.loss))
        for (const [name, v] of whole.encoder.params) {
          expect(Array.from(resumed.encoder.params.get(name)!.dataSync()), name).toEqual(Array.from(v.dataSync()))
        }
        disposeEncoder(whole.encoder)
        disposeEncoder(resumed.encoder)
      }),
    60_000
  )
})

describe("Teacher", () => {
  it.effect("is frozen: embedKeys changes no weight and no running statistic, in both BN modes", () =>
    withRuntime(
      Effect.gen(function* () {
        const teacher = yield* Teacher
        const encoder = teacher.encoder!
        const snapshot = () => [...encoder.params.values()].map((v) => Array.from(v.dataSync()))
        const w0 = snapshot()
        expect([...encoder.params.values()].every((v) => !v.trainable)).toBe(true)
        const x = tf.randomUniform([8, 16, 16, 1], 0, 1, "float32", 2) as tf.Tensor4D
        const before = tf.memory().numTensors
        const y = yield* teacher.embedKeys(x)
        expect(y.shape).toEqual([8, 16])
        y.dispose()
        expect(tf.memory().numTensors).toBe(before)
        const keys = yield* teacher.embedKeys(x)
        const norms = tf.tidy(() => tf.norm(keys, "euclidean", 1))
        Array.from(norms.dataSync()).forEach((n) => expect(n).toBeCloseTo(1, 5))
        tf.dispose([keys, norms])
        expect(snapshot()).toEqual(w0)
        // batch-stats mode (the reference's behaviour) normalises with batch statistics -> different keys
        const yBatch = tf.tidy(() => embed(encoder, x, "batch-stats"))
        const yEval = yield* teacher.embedKeys(x)
        expect(Array.from(yBatch.dataSync())).not.toEqual(Array.from(yEval.dataSync()))
        expect(snapshot()).toEqual(w0)
        tf.dispose([x, yBatch, yEval])
      }),
      Teacher.layerTest
    )
  )

  it.effect("embedDataset gives one feature row per image", () =>
    withRuntime(
      Effect.gen(function* () {
        const teacher = yield* Teacher
        const { train } = yield* (yield* DatasetSource).load
        const f = yield* teacher.embedDataset(train, { outputSize: 16 })
        expect(f.dim).toBe(teacher.encoder!.backbone.outputDim)
        expect(f.values.length).toBe(train.size * f.dim)
        expect(f.values.every(Number.isFinite)).toBe(true)
      }),
      Teacher.layerTest
    )
  )

  it.effect(
    "layerMoco saves its weights and the next run reuses them; layerPretrained loads them",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "bingo-teacher-"))
        const weightsPath = join(dir, "teacher.safetensors")
        const probe = tf.tidy(() => tf.randomUniform([4, 16, 16, 1], 0, 1, "float32", 5)) as tf.Tensor4D
        const keysOf = Effect.gen(function* () {
          const t = yield* Teacher
          const y = yield* t.embedKeys(probe)
          const v = Array.from(y.dataSync())
          y.dispose()
          return v
        })
        const first = yield* withRuntime(keysOf, Teacher.layerMoco({ spec, augment: { outputSize: 16 }, moco, seed: 0, weightsPath }))
        expect(existsSync(weightsPath)).toBe(true)
        // pre-training always saves: an unchanged file proves it was reused, not re-trained
        const written = statSync(weightsPath).mtimeMs
        const reused = yield* withRuntime(keysOf, Teacher.layerMoco({ spec, augment: { outputSize: 16 }, moco, seed: 0, weightsPath }))
        expect(reused).toEqual(first)
        expect(statSync(weightsPath).mtimeMs).toBe(written)
        // weights pre-trained with other settings are refused, not silently reused
        const otherSeed = yield* Effect.exit(
          withRuntime(keysOf, Teacher.layerMoco({ spec, augment: { outputSize: 16 }, moco, seed: 99, weightsPath }))
        )
        expect(failureOf(otherSeed)).toMatchObject({
          _tag: "TeacherWeightsMismatch",
          path: weightsPath,
          reason: expect.stringMatching(
            /^pre-trained with other settings: seed 0 \(file\) vs 99 \(this run\); it was written by an earlier run in this outDir/
          )
        })
        const otherEpochs = yield* Effect.exit(
          withRuntime(keysOf, Teacher.layerMoco({ spec, augment: { outputSize: 16 }, moco: { ...moco, epochs: 3 }, seed: 0, weightsPath }))
        )
        expect(failureOf(otherEpochs)).toMatchObject({
          _tag: "TeacherWeightsMismatch",
          reason: expect.stringMatching(/^pre-trained with other settings: moco\.epochs 2 \(file\) vs 3 \(this run\)/)
        })
        const loaded = yield* withRuntime(keysOf, Teacher.layerPretrained({ spec, weights: weightsPath }))
        expect(loaded).toEqual(first)
        probe.dispose()
      }),
    60_000
  )

  it.effect("a teacher file with wrong shapes fails with the tensor named", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "bingo-teacher-"))
      const path = join(dir, "small.safetensors")
      yield* Effect.scoped(Layer.build(Runtime.layerTest))
      const small = createEncoder({ ...spec, headHidden: 8 }, Rng.fromSeed(0), "small")
      yield* saveWeights(path, small.params)
      disposeEncoder(small)
      const exit = yield* Effect.exit(
        withRuntime(
          Effect.gen(function* () {
            return yield* Teacher
          }),
          Teacher.layerPretrained({ spec, weights: path })
        )
      )
      expect(failureOf(exit)).toMatchObject({
        _tag: "TeacherWeightsMismatch",
        path,
        tensor: "head.fc0.weight",
        actual: [32, 8],
        expected: [32, 32]
      })
      const missing = yield* Effect.exit(
        withRuntime(
          Effect.gen(function* () {
            return yield* Teacher
          }),
          Teacher.layerPretrained({ spec, weights: join(dir, "nope.safetensors") })
        )
      )
      expect(failureOf(missing)).toMatchObject({
        _tag: "WeightFileError",
        path: join(dir, "nope.safetensors"),
        reason: expect.stringMatching(/^cannot read/)
      })
    })
  )

  it.effect("weights saved for other input channels name the tensor, both shapes and the input shapes", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "bingo-teacher-"))
      const path = join(dir, "grey.safetensors")
      yield* Effect.scoped(Layer.build(Runtime.layerTest))
      const grey = createEncoder(spec, Rng.fromSeed(0), "grey")
      yield* saveWeights(path, grey.params, { spec: JSON.stringify(spec) })
      disposeEncoder(grey)
      const before = tf.memory().numTensors
      const exit = yield* Effect.exit(
        withRuntime(
          Effect.gen(function* () {
            return yield* Teacher
          }),
          Teacher.layerPretrained({ spec: { ...spec, inputShape: [16, 16, 3] }, weights: path })
        )
      )
      expect(failureOf(exit)).toMatchObject({
        _tag: "TeacherWeightsMismatch",
        path,
        tensor: "backbone.conv0.weight",
        actual: [3, 3, 1, 8],
        expected: [3, 3, 3, 8],
        reason: expect.stringMatching(/; the file was saved for 16x16x1 inputs but this run feeds 16x16x3 views/)
      })
      expect(tf.memory().numTensors).toBe(before)
    })
  )

  it.effect("pre-training refuses a dataset smaller than one batch", () =>
    Effect.gen(function* () {
      yield* Effect.scoped(Layer.build(Runtime.layerTest))
      const exit = yield* Effect.exit(pretrainMoco(makeShapes({ n: 8, seed: 1 }), spec, { outputSize: 16 }, moco, 7))
      expect(failureOf(exit)).toMatchObject({ _tag: "TeacherDatasetTooSmall", datasetN: 8, batchSize: 16 })
    })
  )
})

describe("Teacher from a PyTorch checkpoint", () => {
  it.effect("layerPretrained({ format: 'torchvision' }) imports a MoCo-v2 encoder_q and embeds like PyTorch", () =>
    Effect.gen(function* () {
      // fixture made by packages/backbones/test/fixtures/make_torch_fixture.py with PyTorch 1.13:
      // ResNet-18 (x0.125, ImageNet stem) + MoCo-v2 head under module.encoder_q., with PyTorch's outputs
      const dir = join(import.meta.dirname, "../../backbones/test/fixtures")
      const torchSpec = {
        backbone: "resnet18",
        inputShape: [32, 32, 3] as const,
        widthMultiplier: 0.125,
        stem: "imagenet" as const,
        headHidden: 32,
        embeddingDim: 16
      }
      const io = yield* readWeights(join(dir, "resnet18_moco.io.safetensors"))
      const x = io.tensors.get("input_nhwc")!
      const expected = io.tensors.get("embedding")!
      const got = yield* withRuntime(
        Effect.gen(function* () {
          const t = yield* Teacher
          const y = yield* t.embedKeys(tf.tensor4d(x.data, x.shape as [number, number, number, number]))
          const v = Array.from(y.dataSync())
          y.dispose()
          return v
        }),
        Teacher.layerPretrained({ spec: torchSpec, weights: join(dir, "resnet18_moco.safetensors"), format: "torchvision" })
      )
      let maxDiff = 0
      got.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - expected.data[i]!))))
      expect(maxDiff).toBeLessThan(1e-4)
      // the same file read as bingo's own format names the first missing tensor
      const wrongFormat = yield* Effect.exit(
        withRuntime(
          Effect.gen(function* () {
            return yield* Teacher
          }),
          Teacher.layerPretrained({ spec: torchSpec, weights: join(dir, "resnet18_moco.safetensors") })
        )
      )
      expect(failureOf(wrongFormat)).toMatchObject({
        _tag: "WeightFileError",
        path: join(dir, "resnet18_moco.safetensors"),
        reason: expect.stringMatching(/^missing tensor '/)
      })
    })
  )
})
