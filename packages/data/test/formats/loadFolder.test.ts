import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { createDatasetSource } from "../../src/datasetRegistry.ts"
import { loadFolder } from "../../src/formats/loadFolder.ts"
import { listImageFolder } from "../../src/formats/listImageFolder.ts"
import { gatherAll, isImageDataset } from "../../src/ImageStore.ts"
import { captureLogs, folderImages, tempDir, writeImage, writeImageFolder } from "../fixtures.ts"

let root = ""
let testRoot = ""
beforeAll(async () => {
  root = tempDir("load-folder")
  await writeImageFolder(root)
  testRoot = tempDir("load-folder-test")
  await writeImage(join(testRoot, "fish", "t.png"), { width: 6, height: 6, channels: 3, pixel: [0, 0, 255] })
  await writeImage(join(testRoot, "cat", "t.jpg"), { width: 6, height: 6, channels: 3, pixel: [255, 0, 0] })
})

describe("loadFolder", () => {
  it.effect("train and test splits share the training classes", () =>
    Effect.gen(function* () {
      const splits = yield* loadFolder({ dir: root, testDir: testRoot, size: 6, channels: 1 })
      const train = splits.train
      const test = yield* gatherAll(splits.test!)
      expect([train.size, train.height, train.width, train.channels]).toEqual([6, 6, 6, 1])
      expect(train.classNames).toEqual(["cat", "dog", "fish"])
      expect(test.name).toBe(`${train.name}/test`)
      expect(test.classNames).toEqual(["cat", "dog", "fish"])
      expect(Array.from(test!.labels!)).toEqual([0, 2]) // cat/t.jpg, fish/t.png
      expect(test.images[0]).toBeCloseTo(76 / 255, 1)
      expect(test.images[36]).toBeCloseTo(29 / 255, 2)
    })
  )

  it.effect("a folder named after its split (fashion/train, fashion/test) is named after its parent", () =>
    Effect.gen(function* () {
      const parent = join(tempDir("load-folder-split"), "fashion")
      yield* Effect.promise(() => writeImage(join(parent, "train", "cat", "a.png"), { width: 4, height: 4, channels: 3, pixel: [1, 2, 3] }))
      yield* Effect.promise(() => writeImage(join(parent, "test", "cat", "b.png"), { width: 4, height: 4, channels: 3, pixel: [1, 2, 3] }))
      const splits = yield* loadFolder({ dir: join(parent, "train"), testDir: join(parent, "test"), size: 4 })
      expect([splits.train.name, splits.test!.name]).toEqual(["fashion", "fashion/test"])
      const named = yield* loadFolder({ dir: join(parent, "train"), size: 4, name: "fmnist" })
      expect(named.train.name).toBe("fmnist")
    })
  )

  it.effect("limit keeps images from every class", () =>
    Effect.gen(function* () {
      const { train } = yield* loadFolder({ dir: root, size: 2, limit: 3 })
      expect(train.size).toBe(3)
      expect(Array.from(train.labels!)).toEqual([0, 1, 2])
    })
  )

  it.effect("through the registry: defaults (3 channels, skip), typed option errors", () =>
    Effect.gen(function* () {
      const source = yield* createDatasetSource({ name: "folder", options: { dir: root, size: 3 } })
      const { train } = yield* source.load
      expect([train.size, train.channels]).toEqual([folderImages.length, 3])
      const missingSize = yield* Effect.flip(createDatasetSource({ name: "folder", options: { dir: root } }))
      expect(missingSize).toMatchObject({ _tag: "InvalidDatasetConfig", dataset: "folder" })
      expect(missingSize.message).toMatch(/size/)
      const badMode = yield* Effect.flip(createDatasetSource({ name: "folder", options: { dir: root, size: 3, onCorrupt: "ignore" } }))
      expect(badMode.message).toMatch(/onCorrupt/)
    })
  )

  it.effect("errors name the path: missing dir, corrupt file in fail mode", () =>
    Effect.gen(function* () {
      const missing = join(tempDir("load-folder-missing"), "gone")
      expect(yield* Effect.flip(loadFolder({ dir: missing, size: 4 }))).toMatchObject({ _tag: "DatasetNotFound", path: missing })
      const dir = tempDir("load-folder-corrupt")
      yield* Effect.promise(() => writeImage(join(dir, "a", "ok.png"), { width: 3, height: 3, channels: 3, pixel: [1, 2, 3] }))
      const bad = join(dir, "a", "zz.jpg")
      writeFileSync(bad, "definitely not a jpeg")
      expect(yield* Effect.flip(loadFolder({ dir, size: 4, onCorrupt: "fail" }))).toMatchObject({ _tag: "CorruptImage", path: bad })
      const { train } = yield* loadFolder({ dir, size: 4 })
      expect(train.size).toBe(1)
    })
  )

  it.effect("cache: decoded once into the cache directory, the same images, reused by the next load", () =>
    Effect.gen(function* () {
      const cache = join(tempDir("load-folder-cache"), "cache")
      const options = { dir: root, testDir: testRoot, size: 5, channels: 3 as const, cache }
      const plain = yield* loadFolder({ dir: root, testDir: testRoot, size: 5 })
      const first = yield* captureLogs(loadFolder(options))
      expect(readdirSync(cache).sort()).toEqual(["test-5x5x3-cover.bingoimg", "train-5x5x3-cover.bingoimg"])
      expect(first.lines.filter((l) => l.includes("decoding")).length).toBeGreaterThan(0)
      const second = yield* captureLogs(loadFolder({ ...options, name: "renamed" }))
      expect(second.lines.filter((l) => l.includes("up to date")).length).toBe(2)
      for (const { value } of [first, second]) {
        expect(isImageDataset(value.train)).toBe(true)
        expect((yield* gatherAll(value.train)).images).toEqual((yield* gatherAll(plain.train)).images)
        expect((yield* gatherAll(value.test!)).images).toEqual((yield* gatherAll(plain.test!)).images)
        expect(value.test!.labels).toEqual(plain.test!.labels)
      }
      expect([second.value.train.name, second.value.test!.name]).toEqual(["renamed", "renamed/test"])
    })
  )

  it.effect("inMemory: false gives stores over the cache files; without cache it is a config error", () =>
    Effect.gen(function* () {
      const cache = tempDir("load-folder-stream")
      const source = yield* createDatasetSource({
        name: "folder",
        options: { dir: root, testDir: testRoot, size: 4, cache, inMemory: false }
      })
      const { train, test } = yield* source.load
      expect(isImageDataset(train) || isImageDataset(test!)).toBe(false)
      expect(train.labels).toEqual((yield* gatherAll((yield* loadFolder({ dir: root, size: 4 })).train)).labels)
      const plain = yield* loadFolder({ dir: root, size: 4 })
      expect((yield* gatherAll(train)).images).toEqual((yield* gatherAll(plain.train)).images)
      const error = yield* Effect.flip(loadFolder({ dir: root, size: 4, inMemory: false }))
      expect(error).toMatchObject({ _tag: "InvalidDatasetConfig" })
      expect(error.message).toMatch(/set cache/)
    })
  )

  it.effect("labels: none lists every image at any depth, unlabelled, in memory and through the cache", () =>
    Effect.gen(function* () {
      const listing = yield* listImageFolder(root, { labels: "none" })
      expect(listing.labels).toBeUndefined()
      expect(listing.classNames).toEqual([])
      // the same six images as the labelled listing (hidden folders and non-images left out)
      expect([...listing.files].sort()).toEqual([...(yield* listImageFolder(root)).files].sort())
      const plain = yield* loadFolder({ dir: root, size: 4, channels: 1, labels: "none" })
      expect(plain.train.labels).toBeUndefined()
      expect(plain.train.numClasses).toBeUndefined()
      const cache = tempDir("load-folder-unlabelled")
      for (const inMemory of [true, false]) {
        const cached = yield* loadFolder({ dir: root, testDir: testRoot, size: 4, channels: 1, labels: "none", cache, inMemory })
        expect(cached.train.labels).toBeUndefined()
        expect(cached.test!.size).toBe(2)
        const all = yield* gatherAll(cached.train)
        expect(all.labels).toBeUndefined()
        expect(all.images).toEqual((yield* gatherAll(plain.train)).images)
      }
      const empty = tempDir("load-folder-unlabelled-empty")
      expect(yield* Effect.flip(listImageFolder(empty, { labels: "none" }))).toMatchObject({ _tag: "EmptyDataset", path: empty })
    })
  )
})
