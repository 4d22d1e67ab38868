import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { defaultIdxDir, fashionMnistClassNames, loadIdx } from "../../src/formats/loadIdx.ts"
import { readIdx } from "../../src/formats/readIdx.ts"
import { idxBytes, tempDir, writeIdxDataset } from "../fixtures.ts"

describe("readIdx", () => {
  it.effect("reads raw and gzipped IDX files", () =>
    Effect.gen(function* () {
      const dir = tempDir("idx")
      const bytes = idxBytes([2, 3], [1, 2, 3, 4, 5, 255])
      writeFileSync(join(dir, "a-idx2-ubyte"), bytes)
      writeFileSync(join(dir, "a-idx2-ubyte.gz"), gzipSync(bytes))
      for (const name of ["a-idx2-ubyte", "a-idx2-ubyte.gz"]) {
        const arr = yield* readIdx(join(dir, name))
        expect(arr.dims).toEqual([2, 3])
        expect(Array.from(arr.data)).toEqual([1, 2, 3, 4, 5, 255])
      }
    })
  )

  it.effect("a wrong magic number is a DatasetFormatError naming the file", () =>
    Effect.gen(function* () {
      const dir = tempDir("idx-magic")
      const path = join(dir, "bad-idx3-ubyte")
      const bytes = idxBytes([1, 2, 2], [0, 0, 0, 0])
      bytes[2] = 0x0d // float elements
      writeFileSync(path, bytes)
      const error = yield* Effect.flip(readIdx(path))
      expect(error._tag).toBe("DatasetFormatError")
      expect(error.path).toBe(path)
      expect(error.message).toMatch(/bad magic number 0x00000d03/)
      // a labels file where images are expected (rank 1 instead of 3)
      const labels = join(dir, "labels-idx1-ubyte")
      writeFileSync(labels, idxBytes([4], [0, 1, 2, 3]))
      const rankError = yield* Effect.flip(readIdx(labels, 3))
      expect(rankError).toMatchObject({ _tag: "DatasetFormatError", path: labels })
      expect(rankError.message).toMatch(/rank 1, expected 3/)
    })
  )

  it.effect("a truncated file (raw or gzip) is a DatasetFormatError naming the file", () =>
    Effect.gen(function* () {
      const dir = tempDir("idx-trunc")
      const bytes = idxBytes([10, 4, 4], new Array(160).fill(7))
      const raw = join(dir, "t-idx3-ubyte")
      writeFileSync(raw, bytes.subarray(0, 100))
      const e1 = yield* Effect.flip(readIdx(raw))
      expect(e1).toMatchObject({ _tag: "DatasetFormatError", path: raw })
      expect(e1.message).toMatch(/truncated: dimensions \[10, 4, 4\] need 176 bytes, file has 100/)
      const gz = join(dir, "t-idx3-ubyte.gz")
      const zipped = gzipSync(bytes)
      writeFileSync(gz, zipped.subarray(0, zipped.length - 10))
      const e2 = yield* Effect.flip(readIdx(gz))
      expect(e2).toMatchObject({ _tag: "DatasetFormatError", path: gz })
      expect(e2.message).toMatch(/gzip/)
    })
  )

  it.effect("a missing file is DatasetNotFound with its path", () =>
    Effect.gen(function* () {
      const path = join(tempDir("idx-missing"), "nope-idx1-ubyte")
      const error = yield* Effect.flip(readIdx(path))
      expect(error).toMatchObject({ _tag: "DatasetNotFound", path })
    })
  )
})

describe("loadIdx", () => {
  for (const gzip of [false, true]) {
    it.effect(`loads train and test splits (${gzip ? "gzipped" : "raw"} files)`, () =>
      Effect.gen(function* () {
        const dir = join(tempDir("mnist"), "fashion-mini")
        writeIdxDataset(dir, { n: 12, m: 5, h: 3, w: 4, gzip })
        const { train, test } = yield* loadIdx({ dir })
        expect([train.size, train.height, train.width, train.channels]).toEqual([12, 3, 4, 1])
        expect(test!.size).toBe(5)
        expect(train.name).toBe("fashion-mini")
        // pixel (y, x) of image i is (7 i + 4 y + x) / 255
        expect(train.images[2 * 12 + 1 * 4 + 3]).toBeCloseTo((14 + 7) / 255, 7)
        expect(Array.from(train.labels!)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
        expect(train.numClasses).toBe(10)
        expect(train.classNames).toEqual(fashionMnistClassNames)
      })
    )
  }

  it.effect("limits the splits and omits a missing test split", () =>
    Effect.gen(function* () {
      const dir = join(tempDir("mnist-limit"), "digits")
      writeIdxDataset(dir, { n: 12, m: 5, h: 2, w: 2, gzip: false })
      const limited = yield* loadIdx({ dir, limitTrain: 4, limitTest: 2 })
      expect([limited.train.size, limited.test!.size]).toEqual([4, 2])
      expect(limited.train.images.length).toBe(16)
      expect(limited.train.classNames![3]).toBe("3")
      rmSync(join(dir, "t10k-images-idx3-ubyte"))
      rmSync(join(dir, "t10k-labels-idx1-ubyte"))
      const trainOnly = yield* loadIdx({ dir })
      expect(trainOnly.test).toBeUndefined()
    })
  )

  it.effect("labels that do not match the images are an ImageShapeMismatch naming the labels file", () =>
    Effect.gen(function* () {
      const dir = tempDir("mnist-mismatch")
      writeIdxDataset(dir, { n: 6, m: 2, h: 2, w: 2, gzip: false })
      const labels = join(dir, "train-labels-idx1-ubyte")
      writeFileSync(labels, idxBytes([5], [0, 1, 2, 3, 4]))
      const error = yield* Effect.flip(loadIdx({ dir }))
      expect(error).toMatchObject({ _tag: "ImageShapeMismatch", path: labels, expected: [6], actual: [5] })
    })
  )

  it.effect("a missing directory or file is DatasetNotFound with the path", () =>
    Effect.gen(function* () {
      const missing = join(tempDir("mnist-none"), "not-here")
      expect(yield* Effect.flip(loadIdx({ dir: missing }))).toMatchObject({ _tag: "DatasetNotFound", path: missing })
      const dir = tempDir("mnist-partial")
      writeFileSync(join(dir, "train-images-idx3-ubyte"), idxBytes([1, 1, 1], [0]))
      const error = yield* Effect.flip(loadIdx({ dir }))
      expect(error).toMatchObject({ _tag: "DatasetNotFound", path: join(dir, "train-labels-idx1-ubyte") })
    })
  )

  // Debian's `dataset-fashion-mnist` package (installed by CI); BINGO_FASHION_MNIST_DIR overrides.
  const fashionDir = process.env["BINGO_FASHION_MNIST_DIR"] ?? defaultIdxDir
  const haveFashion = existsSync(join(fashionDir, "train-images-idx3-ubyte.gz"))
  if (!haveFashion) {
    console.warn(`skipping the Fashion-MNIST test: ${fashionDir} not found (apt-get install dataset-fashion-mnist)`)
  }
  it.effect.skipIf(!haveFashion)(
    `reads the real Fashion-MNIST from ${fashionDir}`,
    () =>
      Effect.gen(function* () {
        const { train, test } = yield* loadIdx({ dir: fashionDir })
        expect([train.size, train.height, train.width, train.channels]).toEqual([60000, 28, 28, 1])
        expect(test!.size).toBe(10000)
        expect(train.numClasses).toBe(10)
        expect(train.classNames![9]).toBe("Ankle boot")
        const counts = new Array(10).fill(0)
        for (const l of train.labels!) counts[l]++
        expect(counts).toEqual(new Array(10).fill(6000))
        let mean = 0
        for (const v of train.images) mean += v
        expect(mean / train.images.length).toBeCloseTo(0.286, 2)
      }),
    30_000
  )
})
