import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { cifar10ClassNames, loadCifar } from "../../src/formats/loadCifar.ts"
import { cifarBytes, cifarPixel, tempDir } from "../fixtures.ts"

describe("loadCifar", () => {
  it.effect("reads CIFAR-10 batches in numeric order, CHW records to HWC floats", () =>
    Effect.gen(function* () {
      const root = tempDir("cifar10")
      const dir = join(root, "cifar-10-batches-bin")
      mkdirSync(dir)
      writeFileSync(join(dir, "data_batch_2.bin"), cifarBytes([7, 8], "cifar10"))
      writeFileSync(join(dir, "data_batch_1.bin"), cifarBytes([3, 4, 5], "cifar10"))
      writeFileSync(join(dir, "test_batch.bin"), cifarBytes([9], "cifar10"))
      // the parent directory is accepted too
      const { train, test } = yield* loadCifar({ dir: root })
      expect([train.size, train.height, train.width, train.channels]).toEqual([5, 32, 32, 3])
      expect(Array.from(train.labels!)).toEqual([3, 4, 5, 7, 8])
      expect(test!.size).toBe(1)
      expect(train.classNames).toEqual(cifar10ClassNames)
      expect(train.numClasses).toBe(10)
      // image 1 of batch 1, pixel p = 33 (y 1, x 1), all channels
      for (let c = 0; c < 3; c++) expect(train.images[1 * 3072 + 33 * 3 + c]).toBeCloseTo(cifarPixel(1, 33, c), 7)
      // image 3 is image 0 of batch 2
      expect(train.images[3 * 3072 + 2]).toBeCloseTo(cifarPixel(0, 0, 2), 7)
      const limited = yield* loadCifar({ dir, limitTrain: 4 })
      expect(Array.from(limited.train.labels!)).toEqual([3, 4, 5, 7])
    })
  )

  it.effect("reads CIFAR-100's fine label and its class names file", () =>
    Effect.gen(function* () {
      const dir = tempDir("cifar100")
      writeFileSync(join(dir, "train.bin"), cifarBytes([42, 99, 0], "cifar100"))
      writeFileSync(join(dir, "fine_label_names.txt"), Array.from({ length: 100 }, (_, i) => `class${i}`).join("\n"))
      const { train, test } = yield* loadCifar({ dir, variant: "cifar100" })
      expect(Array.from(train.labels!)).toEqual([42, 99, 0])
      expect(train.numClasses).toBe(100)
      expect(train.classNames![42]).toBe("class42")
      expect(test).toBeUndefined()
      expect(train.images[2 * 3072 + 5 * 3 + 1]).toBeCloseTo(cifarPixel(2, 5, 1), 7)
    })
  )

  it.effect("a file that is not whole records is a DatasetFormatError naming it", () =>
    Effect.gen(function* () {
      const dir = tempDir("cifar-bad")
      const path = join(dir, "data_batch_1.bin")
      writeFileSync(path, cifarBytes([1, 2], "cifar10").subarray(0, 5000))
      const error = yield* Effect.flip(loadCifar({ dir }))
      expect(error).toMatchObject({ _tag: "DatasetFormatError", path })
      expect(error.message).toMatch(/not a multiple of the cifar10 record size 3073/)
      const labels = join(dir, "data_batch_1.bin")
      writeFileSync(labels, cifarBytes([12], "cifar10"))
      expect(yield* Effect.flip(loadCifar({ dir }))).toMatchObject({ _tag: "DatasetFormatError", path: labels })
    })
  )

  it.effect("a missing directory or batch is DatasetNotFound with the path", () =>
    Effect.gen(function* () {
      const missing = join(tempDir("cifar-none"), "nothing")
      expect(yield* Effect.flip(loadCifar({ dir: missing }))).toMatchObject({ _tag: "DatasetNotFound", path: missing })
      const empty = tempDir("cifar-empty")
      expect(yield* Effect.flip(loadCifar({ dir: empty }))).toMatchObject({
        _tag: "DatasetNotFound",
        path: join(empty, "data_batch_1.bin")
      })
      expect(yield* Effect.flip(loadCifar({ dir: empty, variant: "cifar100" }))).toMatchObject({
        _tag: "DatasetNotFound",
        path: join(empty, "train.bin")
      })
    })
  )

  it.effect("an empty batch file is EmptyDataset", () =>
    Effect.gen(function* () {
      const dir = tempDir("cifar-zero")
      writeFileSync(join(dir, "data_batch_1.bin"), new Uint8Array(0))
      expect(yield* Effect.flip(loadCifar({ dir, name: "tiny" }))).toMatchObject({ _tag: "EmptyDataset", dataset: "tiny" })
    })
  )
})
