import { describe, expect, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect, Layer } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import v8 from "node:v8"
import { runInNewContext } from "node:vm"
import { Rng, Runtime } from "@bingo/runtime"
import { createEncoder, disposeEncoder } from "@bingo/backbones"
import { DatasetSource } from "@bingo/data"
import { labelBags } from "@bingo/bag-miner"
import { LossRegistry } from "@bingo/losses"
import { Teacher } from "@bingo/teacher"
import { healthChecksOff, type StepReport } from "@bingo/training"
import { type DistillOptions, Trainer } from "../src/Trainer.ts"

const MiB = 1024 * 1024
const STEPS = 304 // 38 epochs x 8 steps (64 samples, batch 8)
const WARMUP = 48
const SAMPLE_EVERY = 16
/**
 * Bounds on growth after warm-up, measured after a full GC at every 16th step (without it,
 * V8 lets garbage pile up: RSS grew linearly by ~70 MiB over these 300 steps and heapUsed by
 * ~50 MiB, all of it collectable). Measured: RSS +3 MiB, heap +0.6 MiB. A leak of one step's
 * JS garbage (~0.3 MiB: augmented views, cpu-backend buffers) would add ~75 MiB over the 256
 * measured steps; the heap bound catches leaks down to ~16 KiB per step. The RSS bound leaves
 * room for the allocator and the GC returning pages late on a loaded machine.
 */
const RSS_GROWTH_BOUND = 20 * MiB
const HEAP_GROWTH_BOUND = 4 * MiB

/** A full, synchronous GC (the flag can be set at run time; `gc` then exists in a fresh context). */
v8.setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

const options: DistillOptions = {
  student: { backbone: "mlp", inputShape: [16, 16, 1], widthMultiplier: 0.125, headHidden: 16, embeddingDim: 16 },
  augment: { outputSize: 16 },
  epochs: STEPS / 8,
  batchSize: 8,
  lr: 0.05,
  momentum: 0.9,
  weightDecay: 1e-4,
  queueSize: 64,
  studentKeyMomentum: 0.99,
  seed: 5,
  checkpointEverySteps: 25,
  health: healthChecksOff // a tiny random setup near collapse by construction: this test is of memory
}

/** A small MLP teacher, so the soak spends its time in the trainer, not in the teacher's convolutions. */
const teacherLayer = Teacher.fromEncoder(
  Effect.sync(() =>
    createEncoder(
      { backbone: "mlp", inputShape: [16, 16, 1], widthMultiplier: 0.125, headHidden: 16, embeddingDim: 16 },
      Rng.fromSeed(1),
      "teacher"
    )
  )
)

describe("Trainer soak", () => {
  it.effect(
    `${STEPS} steps with checkpoints: the tensor count is exactly flat after warm-up, heap and RSS stay bounded`,
    () =>
      Effect.gen(function* () {
        const tensors: Array<number> = []
        const memory: Array<{ step: number; rss: number; heap: number }> = []
        const onStep = (p: StepReport) => {
          tensors.push(tf.memory().numTensors)
          if (p.globalStep % SAMPLE_EVERY === 0) {
            gc()
            const m = process.memoryUsage()
            memory.push({ step: p.globalStep, rss: m.rss, heap: m.heapUsed })
          }
        }
        const dir = mkdtempSync(join(tmpdir(), "bingo-soak-"))
        const layer = Layer.mergeAll(
          Trainer.layer({ ...options, onStep, checkpointPath: join(dir, "ckpt.safetensors") }).pipe(
            Layer.provideMerge(teacherLayer),
            Layer.provideMerge(Runtime.layerTest)
          ),
          DatasetSource.layerTest
        )
        const started = performance.now()
        const result = yield* Effect.gen(function* () {
          const { train } = yield* (yield* DatasetSource).load
          const loss = yield* LossRegistry.make().resolve("bingo", {})
          const r = yield* (yield* Trainer).distil({ dataset: train, bags: labelBags(train.labels!, { k: 3, seed: 0 }), loss })
          disposeEncoder(r.student)
          return r
        }).pipe(Effect.provide(layer))
        const seconds = (performance.now() - started) / 1000

        expect(result.steps).toBe(STEPS)
        expect(tensors).toHaveLength(STEPS)
        const settled = memory.filter((m) => m.step >= WARMUP)
        const base = settled[0]!
        const growth = (key: "rss" | "heap") => Math.max(...settled.map((m) => m[key])) - base[key]
        const mib = (x: number) => (x / MiB).toFixed(1)
        console.log(
          `soak: ${STEPS} steps in ${seconds.toFixed(1)} s; tensors after warm-up: ${[...new Set(tensors.slice(WARMUP))].join(", ")}; ` +
            `after GC at step ${base.step}: RSS ${mib(base.rss)} MiB, heap ${mib(base.heap)} MiB; ` +
            `largest growth after it: RSS +${mib(growth("rss"))} MiB, heap +${mib(growth("heap"))} MiB`
        )
        // exactly flat: every step after warm-up ends with the same number of live tensors
        expect(new Set(tensors.slice(WARMUP))).toEqual(new Set([tensors[WARMUP]]))
        expect(growth("heap")).toBeLessThan(HEAP_GROWTH_BOUND)
        expect(growth("rss")).toBeLessThan(RSS_GROWTH_BOUND)
      }),
    120_000
  )
})
