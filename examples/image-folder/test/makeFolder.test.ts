import { describe, expect, it } from "@effect/vitest"
import { decodeFolder, defaultIdxDir, gatherAll, listImageFolder, loadIdx } from "@bingo/data"
import { loadConfig } from "@bingo/cli"
import { Effect } from "effect"
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { classFolder, makeFolder } from "../makeFolder.ts"

const fashionDir = process.env["BINGO_FASHION_MNIST_DIR"] ?? defaultIdxDir
const here = dirname(import.meta.filename)

describe("examples/image-folder", () => {
  it("class folder names", () => {
    expect(classFolder("T-shirt/top")).toBe("t-shirt-top")
    expect(classFolder("Ankle boot")).toBe("ankle-boot")
  })

  it.effect.skipIf(!existsSync(fashionDir))(
    "makeFolder writes Fashion-MNIST as PNGs that decode back to the IDX pixels, labelled by class folder",
    () =>
      Effect.gen(function* () {
        const out = mkdtempSync(join(tmpdir(), "bingo-example-folder-"))
        const written = yield* Effect.promise(() => makeFolder({ out, dir: fashionDir, train: 30, test: 10 }))
        expect(written).toEqual({ train: 30, test: 10 })
        const idx = yield* loadIdx({ dir: fashionDir, name: "fashion-mnist", limitTrain: 30, limitTest: 10 })
        const listing = yield* listImageFolder(join(out, "train"))
        const decoded = (yield* decodeFolder(listing, { size: 28, channels: 1 })).dataset
        // the folder lists files by class, then name: map each back to its IDX index by file name
        const train = yield* gatherAll(idx.train)
        listing.files.forEach((file, j) => {
          const i = Number(file.slice(file.lastIndexOf("/") + 1, -".png".length))
          expect(decoded.images.subarray(j * 784, (j + 1) * 784)).toEqual(train.images.subarray(i * 784, (i + 1) * 784))
          expect(listing.classNames[decoded.labels![j]!]).toBe(classFolder(train.classNames![train.labels![i]!]!))
        })
      }),
    60_000
  )

  it.effect("the example config decodes; its dataset paths are relative to it", () =>
    Effect.gen(function* () {
      const config = yield* loadConfig(join(here, "..", "bingo.yaml"))
      expect(config.dataset.name).toBe("folder")
      expect(config.dataset.options).toMatchObject({ dir: "../../runs/fashion-folder/train", inMemory: false, size: 28 })
    })
  )
})
