import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { failureOf } from "@bingo/runtime"
import { join } from "node:path"
import { mkdirSync, writeFileSync } from "node:fs"
import { createDatasetSource, type DatasetConfig, datasetRegistry, listDatasets } from "../src/datasetRegistry.ts"
import { DatasetSource } from "../src/DatasetSource.ts"
import { makeShapes } from "../src/formats/makeShapes.ts"
import { gatherAll } from "../src/ImageStore.ts"
import { cifarBytes, tempDir, writeDigitsCsv, writeIdxDataset, writeImage, writeImageFolder } from "./fixtures.ts"

/** A small config for every registry entry; a new entry without one fails the registry test. */
const fixtureConfigs: Record<string, () => DatasetConfig | Promise<DatasetConfig>> = {
  shapes: () => ({ name: "shapes", options: { trainSize: 30, testSize: 10, size: 12, seed: 3 } }),
  idx: () => {
    const dir = tempDir("registry-idx")
    writeIdxDataset(dir, { n: 20, m: 10, h: 5, w: 5, gzip: true })
    return { name: "idx", options: { dir, limitTrain: 15 } }
  },
  cifar: () => {
    const dir = tempDir("registry-cifar")
    writeFileSync(join(dir, "data_batch_1.bin"), cifarBytes([0, 1, 2, 3], "cifar10"))
    writeFileSync(join(dir, "test_batch.bin"), cifarBytes([4, 5], "cifar10"))
    return { name: "cifar", options: { dir, variant: "cifar10" } }
  },
  digits: () => ({ name: "digits", options: { file: writeDigitsCsv(tempDir("registry-digits"), 40), size: 12, seed: 1 } }),
  folder: async () => {
    const dir = tempDir("registry-folder")
    await writeImageFolder(dir)
    const testDir = tempDir("registry-folder-test")
    await writeImage(join(testDir, "dog", "t.png"), { width: 5, height: 7, channels: 3, pixel: [9, 99, 199] })
    return { name: "folder", options: { dir, testDir, size: 8, channels: 1 } }
  }
}

describe("datasetRegistry", () => {
  it("lists every entry once", () => {
    expect(listDatasets()).toEqual(["shapes", "idx", "cifar", "digits", "folder"])
    expect(new Set(listDatasets()).size).toBe(datasetRegistry.length)
  })

  for (const name of listDatasets()) {
    it.effect(`${name}: loads consistent splits through DatasetSource.layer`, () =>
      Effect.gen(function* () {
        const fixture = fixtureConfigs[name]
        expect(fixture, `add a fixture config for dataset '${name}'`).toBeDefined()
        const config = yield* Effect.promise(async () => fixture!())
        const splits = yield* Effect.gen(function* () {
          const source = yield* DatasetSource
          return yield* source.load
        }).pipe(Effect.provide(DatasetSource.layer(config)))
        for (const source of [splits.train, splits.test!]) {
          const ds = yield* gatherAll(source)
          expect(ds.size).toBeGreaterThan(0)
          expect(ds.images.length).toBe(ds.size * ds.height * ds.width * ds.channels)
          expect(ds.labels!.length).toBe(ds.size)
          expect(ds.images.every((v) => v >= 0 && v <= 1)).toBe(true)
          expect(ds.labels!.every((l) => l >= 0 && l < ds.numClasses!)).toBe(true)
        }
        expect([splits.test!.height, splits.test!.width]).toEqual([splits.train.height, splits.train.width])
      })
    )
  }

  it.effect("an unknown name is UnknownDataset listing the available ones", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(createDatasetSource({ name: "imagenet" }))
      expect(error).toMatchObject({
        _tag: "UnknownDataset",
        dataset: "imagenet",
        available: ["shapes", "idx", "cifar", "digits", "folder"]
      })
    })
  )

  it.effect("bad or misspelled options are InvalidDatasetConfig, caught when the layer is built", () =>
    Effect.gen(function* () {
      const typo = yield* Effect.flip(createDatasetSource({ name: "shapes", options: { trainsize: 10 } }))
      expect(typo).toMatchObject({ _tag: "InvalidDatasetConfig", dataset: "shapes" })
      expect(typo.message).toMatch(/trainsize/)
      const channels = yield* Effect.flip(createDatasetSource({ name: "shapes", options: { channels: 2 } }))
      expect(channels.message).toMatch(/channels/)
      const variant = yield* Effect.flip(createDatasetSource({ name: "cifar", options: { variant: "cifar1000" } }))
      expect(variant).toMatchObject({ _tag: "InvalidDatasetConfig", dataset: "cifar" })
      for (const options of [{ size: 4 }, { testFraction: 1 }, { testFraction: -0.1 }]) {
        const digits = yield* Effect.flip(createDatasetSource({ name: "digits", options }))
        expect(digits).toMatchObject({ _tag: "InvalidDatasetConfig", dataset: "digits" })
        expect(digits.message).toMatch(Object.keys(options)[0]!)
      }
      const exit = yield* Effect.exit(Layer.build(DatasetSource.layer({ name: "idx", options: { limitTrain: 0 } })).pipe(Effect.scoped))
      expect(failureOf(exit)).toMatchObject({ _tag: "InvalidDatasetConfig", dataset: "idx" })
    })
  )

  it.effect("a missing directory surfaces from load as DatasetNotFound with the path", () =>
    Effect.gen(function* () {
      const dir = join(tempDir("registry-missing"), "gone")
      const source = yield* createDatasetSource({ name: "idx", options: { dir } })
      expect(yield* Effect.flip(source.load)).toMatchObject({ _tag: "DatasetNotFound", path: dir })
    })
  )

  it.effect("loads once: later loads return the same splits", () =>
    Effect.gen(function* () {
      const dir = tempDir("registry-once")
      mkdirSync(dir, { recursive: true })
      writeIdxDataset(dir, { n: 4, m: 2, h: 2, w: 2, gzip: false })
      const source = yield* createDatasetSource({ name: "idx", options: { dir } })
      const a = yield* source.load
      const b = yield* source.load
      expect(b.train).toBe(a.train)
    })
  )

  it.effect("shapes defaults: 5000 / 1000 images of 16x16x1, test split differs from train", () =>
    Effect.gen(function* () {
      const source = yield* createDatasetSource({ name: "shapes" })
      const splits = yield* source.load
      const train = yield* gatherAll(splits.train)
      const test = yield* gatherAll(splits.test!)
      expect([train.size, test.size, train.height, train.width, train.channels]).toEqual([5000, 1000, 16, 16, 1])
      expect(train.images.subarray(0, 256)).not.toEqual(test.images.subarray(0, 256))
    })
  )
})

layer(DatasetSource.layerTest)("DatasetSource.layerTest", (it) => {
  it.effect("gives tiny deterministic labelled shapes splits", () =>
    Effect.gen(function* () {
      const splits = yield* (yield* DatasetSource).load
      const train = yield* gatherAll(splits.train)
      expect([train.size, splits.test!.size, train.height, train.channels]).toEqual([64, 32, 16, 1])
      expect(train.images).toEqual(makeShapes({ n: 64, seed: 0 }).images)
      expect(train.numClasses).toBe(10)
    })
  )
})
