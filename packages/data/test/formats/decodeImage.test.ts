import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import sharp from "sharp"
import { decodeImage, withSharpCacheOff } from "../../src/formats/decodeImage.ts"
import { folderImages, tempDir, writeImage, writeImageFolder } from "../fixtures.ts"

let root = ""
beforeAll(async () => {
  root = tempDir("decode")
  await writeImageFolder(root)
})

/** Max |decoded - expected| over every pixel, in byte units. */
const maxError = (bytes: Uint8Array, expected: ReadonlyArray<number>): number => {
  let worst = 0
  for (let i = 0; i < bytes.length; i++) worst = Math.max(worst, Math.abs(bytes[i]! - expected[i % expected.length]!))
  return worst
}

const luma = ([r, g, b]: ReadonlyArray<number>) => Math.round(0.299 * r! + 0.587 * g! + 0.114 * b!)

describe("decodeImage", () => {
  for (const image of folderImages) {
    it.effect(`${image.file} (${image.spec.width}x${image.spec.height}x${image.spec.channels}) -> 8x8 RGB and luma`, () =>
      Effect.gen(function* () {
        const path = join(root, image.file)
        const rgb = yield* decodeImage(path, { size: 8, channels: 3 })
        expect(rgb.length).toBe(8 * 8 * 3)
        // PNG / lossless WebP are exact; JPEG within a few levels
        expect(maxError(rgb, image.rgb)).toBeLessThanOrEqual(image.file.endsWith(".jpg") ? 3 : 0)
        const grey = yield* decodeImage(path, { size: 5, channels: 1 })
        expect(grey.length).toBe(25)
        expect(maxError(grey, [luma(image.rgb)])).toBeLessThanOrEqual(image.file.endsWith(".jpg") ? 3 : 0)
      })
    )
  }

  it.effect("cover keeps the centred square; fill stretches the whole image", () =>
    Effect.gen(function* () {
      // 24x8: black, grey 128 and white vertical thirds
      const data = new Uint8Array(24 * 8)
      for (let y = 0; y < 8; y++) for (let x = 0; x < 24; x++) data[y * 24 + x] = x < 8 ? 0 : x < 16 ? 128 : 255
      const path = join(tempDir("decode-fit"), "thirds.png")
      yield* Effect.promise(() => writeImage(path, { width: 24, height: 8, channels: 1, data }))
      const cover = yield* decodeImage(path, { size: 8, channels: 1 })
      expect(Array.from(cover)).toEqual(new Array(64).fill(128))
      const fill = yield* decodeImage(path, { size: 6, channels: 1, fit: "fill" })
      const row = Array.from(fill.subarray(0, 6))
      expect(row[0]).toBeLessThan(20)
      expect(Math.abs(row[2]! - 128) + Math.abs(row[3]! - 128)).toBeLessThan(40)
      expect(row[5]).toBeGreaterThan(235)
      expect(Array.from(fill.subarray(30, 36))).toEqual(row) // every row alike
    })
  )

  it.effect("random bytes, a truncated JPEG and a missing file are CorruptImage naming the path", () =>
    Effect.gen(function* () {
      const dir = tempDir("decode-bad")
      const junk = join(dir, "junk.jpg")
      writeFileSync(
        junk,
        Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) % 256)
      )
      const junkError = yield* Effect.flip(decodeImage(junk, { size: 4, channels: 3 }))
      expect(junkError).toMatchObject({ _tag: "CorruptImage", path: junk })
      expect(junkError.reason).toMatch(/unsupported image format/)

      const whole = join(dir, "whole.jpg")
      yield* Effect.promise(() => writeImage(whole, { width: 64, height: 64, channels: 3, pixel: [10, 200, 30] }))
      const truncated = join(dir, "truncated.jpg")
      const { readFileSync } = yield* Effect.promise(() => import("node:fs"))
      const bytes = readFileSync(whole)
      writeFileSync(truncated, bytes.subarray(0, bytes.length >> 1))
      const truncatedError = yield* Effect.flip(decodeImage(truncated, { size: 4, channels: 3 }))
      expect(truncatedError).toMatchObject({ _tag: "CorruptImage", path: truncated })
      expect(truncatedError.reason).toMatch(/premature end/)
      expect(truncatedError.reason).not.toMatch(/\n/)

      const missing = join(dir, "missing.png")
      expect(yield* Effect.flip(decodeImage(missing, { size: 4, channels: 3 }))).toMatchObject({
        _tag: "CorruptImage",
        path: missing
      })
    })
  )

  it.effect("withSharpCacheOff: libvips' cache is off inside (nested too) and its limits restored after", () =>
    Effect.gen(function* () {
      const limits = () => {
        const { memory, files, items } = sharp.cache()
        return [memory.max, files.max, items.max]
      }
      const before = limits()
      expect(before.some((x) => x > 0)).toBe(true)
      const inside = yield* withSharpCacheOff(
        Effect.gen(function* () {
          const outer = limits()
          const nested = yield* withSharpCacheOff(Effect.sync(limits))
          return [outer, nested, limits()]
        })
      )
      expect(inside).toEqual([
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0]
      ])
      expect(limits()).toEqual(before)
      yield* Effect.flip(withSharpCacheOff(Effect.fail("boom")))
      expect(limits()).toEqual(before)
    })
  )
})
