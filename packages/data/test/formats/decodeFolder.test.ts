import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { CorruptImage } from "../../src/DatasetError.ts"
import { decodeFolder } from "../../src/formats/decodeFolder.ts"
import type { ImageFolderListing } from "../../src/formats/listImageFolder.ts"
import { listImageFolder } from "../../src/formats/listImageFolder.ts"
import { captureLogs, folderImages, tempDir, writeImageFolder } from "../fixtures.ts"

let root = ""
let corruptRoot = ""
beforeAll(async () => {
  root = tempDir("decode-folder")
  await writeImageFolder(root)
  corruptRoot = tempDir("decode-folder-corrupt")
  await writeImageFolder(corruptRoot)
  // random bytes named .jpg: sorts between cat/a.png and cat/b.jpg
  writeFileSync(
    join(corruptRoot, "cat", "a2.jpg"),
    Uint8Array.from({ length: 500 }, (_, i) => (i * 131 + 7) % 256)
  )
})

/** A listing of n fake files "f0".."f(n-1)", label i % 3. */
const fakeListing = (n: number): ImageFolderListing => ({
  root: "/fake",
  classNames: ["a", "b", "c"],
  files: Array.from({ length: n }, (_, i) => `f${i}`),
  labels: Int32Array.from({ length: n }, (_, i) => i % 3)
})

describe("decodeFolder", () => {
  it.effect("decodes every file into its slot, labelled, values in [0, 1]", () =>
    Effect.gen(function* () {
      const listing = yield* listImageFolder(root)
      const { dataset, indices, skipped } = yield* decodeFolder(listing, { size: 4, channels: 3, concurrency: 3 })
      expect([dataset.size, dataset.height, dataset.width, dataset.channels]).toEqual([6, 4, 4, 3])
      expect(Array.from(indices)).toEqual([0, 1, 2, 3, 4, 5])
      expect(skipped).toEqual([])
      expect(Array.from(dataset.labels!)).toEqual(folderImages.map((f) => f.label))
      expect(dataset.classNames).toEqual(["cat", "dog", "fish"])
      expect(dataset.numClasses).toBe(3)
      folderImages.forEach((image, i) => {
        const first = Array.from(dataset.images.subarray(i * 48, i * 48 + 3))
        image.rgb.forEach((v, c) => expect(first[c]).toBeCloseTo(v / 255, 1))
      })
    })
  )

  it.effect("skip: a corrupt file is logged with its path and a count, and nothing else is lost", () =>
    Effect.gen(function* () {
      const listing = yield* listImageFolder(corruptRoot)
      const bad = join(corruptRoot, "cat", "a2.jpg")
      expect(listing.files[1]).toBe(bad)
      const { value, lines } = yield* captureLogs(decodeFolder(listing, { size: 4, channels: 1, onCorrupt: "skip" }))
      const { dataset, indices, skipped } = value
      expect(dataset.size).toBe(6)
      expect(Array.from(indices)).toEqual([0, 2, 3, 4, 5, 6])
      expect(Array.from(dataset.labels!)).toEqual(folderImages.map((f) => f.label))
      expect(skipped.map((s) => s.path)).toEqual([bad])
      expect(skipped[0]).toBeInstanceOf(CorruptImage)
      expect(lines.filter((l) => l.startsWith("Warn"))).toEqual([
        `Warn skipped corrupt image ${bad}: ${skipped[0]!.reason}`,
        expect.stringContaining("skipped 1 of 7 images")
      ])
      // the image after the corrupt one landed in the right place: cat/b.jpg, red, luma 76
      expect(dataset.images[16]).toBeCloseTo(76 / 255, 1)
    })
  )

  it.effect("fail: the corrupt file fails the decode with CorruptImage naming it", () =>
    Effect.gen(function* () {
      const listing = yield* listImageFolder(corruptRoot)
      const error = yield* Effect.flip(decodeFolder(listing, { size: 4, channels: 3, onCorrupt: "fail" }))
      expect(error).toMatchObject({ _tag: "CorruptImage", path: join(corruptRoot, "cat", "a2.jpg") })
      expect(error.message).toContain(join(corruptRoot, "cat", "a2.jpg"))
    })
  )

  it.effect("every file corrupt is EmptyDataset naming the folder", () =>
    Effect.gen(function* () {
      const decoder = (path: string) => Effect.fail(new CorruptImage({ path, reason: "bad" }))
      const error = yield* Effect.flip(decodeFolder(fakeListing(3), { size: 2, channels: 1, decoder }))
      expect(error).toMatchObject({ _tag: "EmptyDataset", path: "/fake" })
    })
  )

  it.effect("bounded concurrency: never more decodes in flight than asked", () =>
    Effect.gen(function* () {
      let inFlight = 0
      let peak = 0
      const decoder = (path: string) =>
        Effect.gen(function* () {
          peak = Math.max(peak, ++inFlight)
          yield* Effect.promise(() => new Promise((r) => setTimeout(r, 1)))
          inFlight--
          return new Uint8Array(4).fill(Number(path.slice(1)))
        })
      const { dataset } = yield* decodeFolder(fakeListing(40), { size: 2, channels: 1, concurrency: 5, decoder })
      expect(peak).toBe(5)
      expect(dataset.images[4 * 17]).toBeCloseTo(17 / 255, 6)
    })
  )

  it.effect("progress: one info line per 10% on long loads", () =>
    Effect.gen(function* () {
      const decoder = () => Effect.succeed(new Uint8Array(4))
      const { lines } = yield* captureLogs(decodeFolder(fakeListing(1000), { size: 2, channels: 1, decoder }))
      const progress = lines.filter((l) => l.startsWith("Info decoding"))
      expect(progress).toHaveLength(10)
      expect(progress[0]).toMatch(/100\/1000 images \(10%/)
      expect(progress[9]).toMatch(/1000\/1000 images \(100%/)
      const quiet = yield* captureLogs(decodeFolder(fakeListing(50), { size: 2, channels: 1, decoder }))
      expect(quiet.lines).toEqual([])
    })
  )
})
