import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { failureOf } from "@bingo/runtime"
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { CorruptImage } from "../../src/DatasetError.ts"
import { decodeFolder } from "../../src/formats/decodeFolder.ts"
import type { ImageDecoder } from "../../src/formats/decodeImage.ts"
import { decodeImage } from "../../src/formats/decodeImage.ts"
import { subset } from "../../src/ImageDataset.ts"
import { folderFingerprint, loadImageCache, openImageCache, readImageCacheHeader } from "../../src/cache/imageCache.ts"
import { ensureImageCache, writeImageCache } from "../../src/cache/writeImageCache.ts"
import type { ImageFolderListing } from "../../src/formats/listImageFolder.ts"
import { listImageFolder } from "../../src/formats/listImageFolder.ts"
import { captureLogs, tempDir, writeImage, writeImageFolder } from "../fixtures.ts"

let root = ""
let corruptRoot = ""
beforeAll(async () => {
  root = tempDir("cache-folder")
  await writeImageFolder(root)
  corruptRoot = tempDir("cache-folder-corrupt")
  await writeImageFolder(corruptRoot)
  writeFileSync(
    join(corruptRoot, "cat", "a2.jpg"),
    Uint8Array.from({ length: 500 }, (_, i) => (i * 131 + 7) % 256)
  )
})

/** n fake files "f0".."f(n-1)" (label i % 3) and a decoder giving file fi the bytes (i * 31 + j) % 256 after a delay that scrambles completion order. */
const fake = (n: number, len: number) => {
  const listing: ImageFolderListing = {
    root: "/fake",
    classNames: ["a", "b", "c"],
    files: Array.from({ length: n }, (_, i) => `/fake/f${i}`),
    labels: Int32Array.from({ length: n }, (_, i) => i % 3)
  }
  let calls = 0
  const decoder: ImageDecoder = (path) => {
    calls++
    const i = Number(path.slice("/fake/f".length))
    if (path.endsWith("f13")) return Effect.fail(new CorruptImage({ path, reason: "fake corrupt" }))
    // a real timer: it.effect runs on the TestClock, where Effect.sleep would never end
    return Effect.promise(() => new Promise((resolve) => setTimeout(resolve, (i * 7) % 5))).pipe(
      Effect.as(Uint8Array.from({ length: len }, (_, j) => (i * 31 + j) % 256))
    )
  }
  return { listing, decoder, calls: () => calls }
}

const expectedBytes = (i: number, len: number) => Array.from({ length: len }, (_, j) => (i * 31 + j) % 256)

describe("image cache", () => {
  it.effect("holds what decodeFolder decodes, bit for bit, with labels and class names", () =>
    Effect.gen(function* () {
      const listing = yield* listImageFolder(corruptRoot)
      const options = { size: 5, channels: 3, concurrency: 3 } as const
      const path = join(tempDir("cache-write"), "train.bingoimg")
      const header = yield* writeImageCache(listing, options, path)
      const decoded = yield* decodeFolder(listing, options)
      expect(header.size).toBe(6)
      expect(header.files).toBe(7)
      expect(header.skipped.map((s) => s.path)).toEqual([join(corruptRoot, "cat", "a2.jpg")])
      expect([header.height, header.width, header.channels, header.fit]).toEqual([5, 5, 3, "cover"])
      const loaded = yield* loadImageCache(path)
      expect(loaded.images).toEqual(decoded.dataset.images)
      expect(loaded.labels).toEqual(decoded.dataset.labels)
      expect(loaded.classNames).toEqual(["cat", "dog", "fish"])
      expect(loaded.numClasses).toBe(3)
      // the file is exactly: magic, pixels, labels, file indices, header, its length, end magic
      const json = JSON.stringify(header)
      expect(statSync(path).size).toBe(8 + 6 * 75 + 4 * 6 + 4 * 6 + Buffer.byteLength(json) + 4 + 8)
      expect(readdirSync(join(path, ".."))).toEqual(["train.bingoimg"])
    })
  )

  it.effect("writes rows in listing order whatever order decodes finish in; a skipped file leaves no gap", () =>
    Effect.gen(function* () {
      const len = 4 * 4 * 1
      const { listing, decoder } = fake(40, len)
      const path = join(tempDir("cache-order"), "c.bingoimg")
      const header = yield* writeImageCache(listing, { size: 4, channels: 1, concurrency: 6, decoder }, path)
      expect(header.size).toBe(39)
      const kept = Array.from({ length: 40 }, (_, i) => i).filter((i) => i !== 13)
      const bytes = readFileSync(path)
      kept.forEach((i, row) => expect([...bytes.subarray(8 + row * len, 8 + (row + 1) * len)]).toEqual(expectedBytes(i, len)))
      const loaded = yield* loadImageCache(path)
      expect(Array.from(loaded.labels!)).toEqual(kept.map((i) => i % 3))
    })
  )

  it.effect("openImageCache gathers any rows, repeats included, equal to the in-memory subset", () =>
    Effect.gen(function* () {
      const len = 3 * 3 * 3
      const { listing, decoder } = fake(30, len)
      const path = join(tempDir("cache-gather"), "c.bingoimg")
      yield* writeImageCache(listing, { size: 3, channels: 3, decoder }, path)
      const all = yield* loadImageCache(path)
      const store = yield* openImageCache(path)
      expect([store.size, store.height, store.width, store.channels, store.location]).toEqual([29, 3, 3, 3, path])
      expect(store.labels).toEqual(all.labels)
      const indices = [28, 0, 5, 5, 17, 3]
      const got = yield* store.gather(indices)
      const want = subset(all, indices)
      expect(got.images).toEqual(want.images)
      expect(got.labels).toEqual(want.labels)
      expect((yield* store.gather([])).size).toBe(0)
      expect(() => Effect.runSync(store.gather([29]))).toThrow(/out of range \[0, 29\)/)
    })
  )

  it.effect("ensureImageCache decodes once, reuses an unchanged cache, rebuilds when the folder changes decoding only what changed", () =>
    Effect.gen(function* () {
      const dir = tempDir("cache-ensure")
      yield* Effect.promise(() => writeImageFolder(dir))
      const listing = yield* listImageFolder(dir)
      let decodes = 0
      const decoder: ImageDecoder = (path, o) => {
        decodes++
        return decodeImage(path, o)
      }
      const path = join(tempDir("cache-ensure-out"), "train.bingoimg")
      const options = { size: 4, channels: 1, decoder } as const
      const first = yield* captureLogs(ensureImageCache(listing, options, path))
      expect(decodes).toBe(6)
      expect(first.lines.some((l) => l.includes("none yet; decoding 6 images"))).toBe(true)
      const second = yield* captureLogs(ensureImageCache(listing, options, path))
      expect(decodes).toBe(6)
      expect(second.lines.some((l) => l.includes("up to date (6 images of 4x4x1), not decoding"))).toBe(true)
      // a file touched and one added: the fingerprint changes; only those two are decoded, the
      // other rows are copied from the old cache, and the result is what a fresh build gives
      utimesSync(listing.files[2]!, new Date(2020, 1, 1), new Date(2020, 1, 1))
      yield* Effect.promise(() => writeImage(join(dir, "dog", "new.png"), { width: 9, height: 9, channels: 3, pixel: [1, 200, 3] }))
      const grown = yield* listImageFolder(dir)
      const third = yield* captureLogs(ensureImageCache(grown, options, path))
      expect(decodes).toBe(8)
      expect(third.lines.some((l) => l.includes("the folder or the decode options changed"))).toBe(true)
      expect(third.lines.some((l) => l.includes("5 of 7 images unchanged since"))).toBe(true)
      const fresh = join(tempDir("cache-ensure-fresh"), "train.bingoimg")
      yield* writeImageCache(grown, { size: 4, channels: 1 }, fresh)
      expect((yield* loadImageCache(path)).images).toEqual((yield* loadImageCache(fresh)).images)
      expect((yield* loadImageCache(path)).labels).toEqual((yield* loadImageCache(fresh)).labels)
      // other decode options, same path: nothing to reuse, rebuilt at the new size
      const resized = yield* ensureImageCache(grown, { ...options, size: 5 }, path)
      expect(decodes).toBe(15)
      expect(resized.height).toBe(5)
      // a damaged cache is rebuilt, saying why
      writeFileSync(path, "garbage")
      const fourth = yield* captureLogs(ensureImageCache(grown, options, path))
      expect(decodes).toBe(22)
      expect(fourth.lines.some((l) => l.includes("unreadable (7 bytes, too short for an image cache"))).toBe(true)
    })
  )

  it.effect("onCorrupt fail: the build fails with CorruptImage, leaves no cache (only its partial files) and keeps the old cache", () =>
    Effect.gen(function* () {
      const len = 2 * 2 * 1
      const { listing, decoder } = fake(20, len)
      const dir = tempDir("cache-fail")
      const path = join(dir, "c.bingoimg")
      const exit = yield* Effect.exit(writeImageCache(listing, { size: 2, channels: 1, decoder, onCorrupt: "fail" }, path))
      expect(failureOf(exit)).toMatchObject({ _tag: "CorruptImage", path: "/fake/f13", reason: "fake corrupt" })
      expect(readdirSync(dir).sort()).toEqual(["c.bingoimg.partial", "c.bingoimg.partial.json"])
      // a good cache first, then a failing rebuild: the good one survives
      const short: ImageFolderListing = { ...listing, files: listing.files.slice(0, 10), labels: listing.labels!.subarray(0, 10) }
      yield* writeImageCache(short, { size: 2, channels: 1, decoder }, path)
      const before = readFileSync(path)
      yield* Effect.exit(writeImageCache(listing, { size: 2, channels: 1, decoder, onCorrupt: "fail" }, path))
      expect(readFileSync(path)).toEqual(before)
      expect(readdirSync(dir).sort()).toEqual(["c.bingoimg", "c.bingoimg.partial", "c.bingoimg.partial.json"])
      // a cache built with skipped files is refused under onCorrupt: fail, naming the file
      yield* writeImageCache(listing, { size: 2, channels: 1, decoder }, path)
      const refused = yield* Effect.flip(ensureImageCache(listing, { size: 2, channels: 1, decoder, onCorrupt: "fail" }, path))
      expect(refused).toBeInstanceOf(CorruptImage)
      expect(refused.message).toContain("/fake/f13")
    })
  )

  it.effect("a damaged or foreign file is a typed error naming it and what is wrong", () =>
    Effect.gen(function* () {
      const len = 2 * 2 * 1
      const { listing, decoder } = fake(10, len)
      const dir = tempDir("cache-damaged")
      const good = join(dir, "good.bingoimg")
      yield* writeImageCache(listing, { size: 2, channels: 1, decoder }, good)
      const bytes = readFileSync(good)
      const cases: Array<[string, Uint8Array, RegExp]> = [
        ["short", bytes.subarray(0, 10), /too short/],
        ["foreign", Buffer.concat([Buffer.from("NOTBINGO"), bytes.subarray(8)]), /not an image cache/],
        ["truncated", bytes.subarray(0, bytes.length - 3), /does not end with "BINGOEND"/],
        ["missing-pixels", Buffer.concat([bytes.subarray(0, 8), bytes.subarray(12)]), /implies/]
      ]
      for (const [name, content, reason] of cases) {
        const path = join(dir, `${name}.bingoimg`)
        writeFileSync(path, content)
        const error = yield* Effect.flip(openImageCache(path))
        expect(error._tag, name).toBe("DatasetFormatError")
        expect(error.message, name).toContain(path)
        expect(error.message, name).toMatch(reason)
      }
      // a header that is not JSON, and one with a wrong field
      const jsonLength = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 12, 4).getUint32(0, true)
      const jsonStart = bytes.length - 12 - jsonLength
      const header = JSON.parse(bytes.subarray(jsonStart, bytes.length - 12).toString()) as Record<string, unknown>
      const withHeader = (text: string) => {
        const json = Buffer.from(text)
        const length = Buffer.alloc(4)
        length.writeUInt32LE(json.length)
        return Buffer.concat([bytes.subarray(0, jsonStart), json, length, Buffer.from("BINGOEND")])
      }
      for (const [name, text, reason] of [
        ["not-json", "{oops", /header is not JSON/],
        ["version", JSON.stringify({ ...header, version: 99 }), /'version' is 99/],
        ["channels", JSON.stringify({ ...header, channels: 2 }), /'channels' must be 1 or 3/],
        ["classes", JSON.stringify({ ...header, classNames: ["a"] }), /label 1 of image 1 is outside the 1 classes/]
      ] as const) {
        const path = join(dir, `${name}.bingoimg`)
        writeFileSync(path, withHeader(text))
        const error = yield* Effect.flip(openImageCache(path))
        expect(error.message, name).toMatch(reason)
      }
      const missing = yield* Effect.flip(readImageCacheHeader(join(dir, "none.bingoimg")))
      expect(missing._tag).toBe("DatasetNotFound")
      expect(existsSync(good)).toBe(true)
      // a cache that cannot be written: its directory is a file
      const unwritable = join(good, "c.bingoimg")
      const writeError = yield* Effect.flip(writeImageCache(listing, { size: 2, channels: 1, decoder }, unwritable))
      expect(writeError._tag).toBe("CacheWriteError")
      expect(writeError.message).toMatch(/^cannot write the image cache .*good.bingoimg\/c.bingoimg: EEXIST: file already exists, mkdir/)
    })
  )

  it.effect("an interrupted build resumes from its saved progress: fewer decodes, the same bytes as an uninterrupted build", () =>
    Effect.gen(function* () {
      const len = 3 * 3 * 1
      const { listing, decoder } = fake(60, len)
      const dir = tempDir("cache-resume")
      const fresh = join(dir, "fresh.bingoimg")
      yield* writeImageCache(listing, { size: 3, channels: 1, decoder, concurrency: 4 }, fresh)
      // the first attempt dies (a defect, as a crash) at file 41; progress is saved after every row
      const path = join(dir, "c.bingoimg")
      const dying: ImageDecoder = (file, o) => (file.endsWith("/f41") ? Effect.die(new Error("killed")) : decoder(file, o))
      const exit = yield* Effect.exit(
        writeImageCache(listing, { size: 3, channels: 1, decoder: dying, concurrency: 4 }, path, { progressSeconds: 0 })
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(existsSync(path)).toBe(false)
      const progress = JSON.parse(readFileSync(`${path}.partial.json`, "utf8")) as {
        nextSlot: number
        rows: number
        skipped: Array<{ slot: number }>
      }
      expect(progress.nextSlot).toBeGreaterThan(13) // f13, skipped as corrupt, is behind it
      expect(progress.nextSlot).toBeLessThanOrEqual(41)
      expect(progress.skipped.map((s) => s.slot)).toEqual([13])
      // rows written after the last saved progress are dropped on resume: simulate some
      writeFileSync(`${path}.partial`, Buffer.concat([readFileSync(`${path}.partial`), Buffer.from([1, 2, 3])]))
      const decoded: Array<string> = []
      const counting: ImageDecoder = (file, o) => {
        decoded.push(file)
        return decoder(file, o)
      }
      const resumed = yield* captureLogs(writeImageCache(listing, { size: 3, channels: 1, decoder: counting, concurrency: 4 }, path))
      expect(resumed.lines.some((l) => l.includes(`resuming an interrupted build at image ${progress.nextSlot} of 60`))).toBe(true)
      expect(decoded.length).toBe(60 - progress.nextSlot)
      expect(decoded[0]).toBe(`/fake/f${progress.nextSlot}`)
      expect(resumed.value.skipped.map((s) => s.path)).toEqual(["/fake/f13"])
      expect(readFileSync(path)).toEqual(readFileSync(fresh))
      expect(readdirSync(dir).sort()).toEqual(["c.bingoimg", "fresh.bingoimg"])
    })
  )

  it.effect("a partial build that a live process is writing is not touched", () =>
    Effect.gen(function* () {
      const { listing, decoder } = fake(5, 4)
      const dir = tempDir("cache-live")
      const path = join(dir, "c.bingoimg")
      const options = { size: 2, channels: 1, decoder } as const
      const fingerprint = yield* folderFingerprint(listing, options)
      const other = process.ppid // alive: the process that started this one
      const progress = { format: "bingo-image-cache-build", fingerprint, pid: other, nextSlot: 0, rows: 0, skipped: [] }
      writeFileSync(`${path}.partial.json`, JSON.stringify(progress))
      writeFileSync(`${path}.partial`, "BINGOIMG")
      const error = yield* Effect.flip(writeImageCache(listing, options, path))
      expect(error._tag).toBe("CacheWriteError")
      expect(error.message).toContain(`process ${other} is building it (${path}.partial, progress saved 0 s ago)`)
      expect(readFileSync(`${path}.partial`, "utf8")).toBe("BINGOIMG")
      // nor by a build of another listing
      const shorter = { ...listing, files: listing.files.slice(0, 4), labels: listing.labels!.subarray(0, 4) }
      expect((yield* Effect.flip(writeImageCache(shorter, options, path)))._tag).toBe("CacheWriteError")
      // a progress file silent for over a minute has no live writer, whatever runs under its pid now
      const old = new Date(Date.now() - 120_000)
      utimesSync(`${path}.partial.json`, old, old)
      expect((yield* writeImageCache(listing, options, path)).size).toBe(5)
      // once its writer is gone (a pid above Linux's maximum never runs), the partial build is resumed or replaced
      writeFileSync(`${path}.partial.json`, JSON.stringify({ ...progress, pid: 2 ** 22 + 1 }))
      writeFileSync(`${path}.partial`, "BINGOIMG")
      expect((yield* writeImageCache(shorter, options, path)).size).toBe(4)
    })
  )
})
