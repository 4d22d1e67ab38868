import { Rng } from "@bingo/runtime"
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { CorruptImage } from "../../src/DatasetError.ts"
import { decodeFolder } from "../../src/formats/decodeFolder.ts"
import type { ImageDecoder } from "../../src/formats/decodeImage.ts"
import type { ImageFolderListing } from "../../src/formats/listImageFolder.ts"
import { listImageFolder } from "../../src/formats/listImageFolder.ts"
import { streamBatches } from "../../src/sampling/streamBatches.ts"
import { captureLogs, tempDir, writeImageFolder } from "../fixtures.ts"

let root = ""
beforeAll(async () => {
  root = tempDir("stream")
  await writeImageFolder(root)
  writeFileSync(join(root, "dog", "broken.png"), "not a png")
})

/** n fake files "f0".."f(n-1)", label i % 2. */
const fakeListing = (n: number): ImageFolderListing => ({
  root: "/fake",
  classNames: ["even", "odd"],
  files: Array.from({ length: n }, (_, i) => `f${i}`),
  labels: Int32Array.from({ length: n }, (_, i) => i % 2)
})

const fileIndex = (path: string) => Number(path.slice(1))
const sleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))

/**
 * A fake 2x2x1 decoder taking `ms` per file (a real timer): image i is filled with i. Records
 * the files started, finished and interrupted.
 */
const countingDecoder = (ms: number) => {
  const started = new Set<number>()
  const finished = new Set<number>()
  const interrupted = new Set<number>()
  const decoder: ImageDecoder = (path) =>
    Effect.gen(function* () {
      started.add(fileIndex(path))
      yield* sleep(ms)
      finished.add(fileIndex(path))
      return new Uint8Array(4).fill(fileIndex(path))
    }).pipe(Effect.onInterrupt(() => Effect.sync(() => interrupted.add(fileIndex(path)))))
  return { decoder, started, finished, interrupted }
}

describe("streamBatches", () => {
  it.effect("yields every index of the permutation exactly once, in order, with its image and label", () =>
    Effect.gen(function* () {
      const order = Rng.fromSeed(7).permutation(10)
      const { decoder } = countingDecoder(0)
      const batches = yield* Stream.runCollect(streamBatches(fakeListing(10), 4, { size: 2, channels: 1, order, decoder, concurrency: 3 }))
      expect(batches.map((b) => b.batch)).toEqual([0, 1, 2])
      expect(batches.map((b) => b.dataset.size)).toEqual([4, 4, 2])
      expect(batches.flatMap((b) => Array.from(b.indices))).toEqual(Array.from(order))
      for (const b of batches) {
        b.indices.forEach((i, j) => {
          expect(b.dataset.images[4 * j]).toBeCloseTo(i / 255, 6)
          expect(b.dataset.labels![j]).toBe(i % 2)
        })
      }
      const dropped = yield* Stream.runCollect(streamBatches(fakeListing(10), 4, { size: 2, channels: 1, order, decoder, dropLast: true }))
      expect(dropped.map((b) => b.dataset.size)).toEqual([4, 4])
    })
  )

  for (const prefetch of [0, 2]) {
    it.effect(`prefetch ${prefetch}: batches up to b+${prefetch} decode while batch b is consumed, none further`, () =>
      Effect.gen(function* () {
        const { decoder, started, finished } = countingDecoder(1)
        const batchSize = 3
        const numBatches = 6
        const seen: Array<{ finished: Array<number>; started: Array<number> }> = []
        yield* streamBatches(fakeListing(batchSize * numBatches), batchSize, {
          size: 2,
          channels: 1,
          decoder,
          prefetch,
          concurrency: 2
        }).pipe(
          Stream.runForEach(() =>
            Effect.gen(function* () {
              // the consumer "computes" for 60 ms; decodes ahead go on meanwhile
              yield* sleep(60)
              seen.push({ finished: [...finished].sort((a, b) => a - b), started: [...started].sort((a, b) => a - b) })
            })
          )
        )
        seen.forEach(({ finished: done, started: begun }, b) => {
          const ahead = Math.min(numBatches, b + 1 + prefetch) * batchSize
          // every file of batches 0..b+prefetch decoded by the end of batch b's compute ...
          expect(done).toEqual(Array.from({ length: ahead }, (_, i) => i))
          // ... and no file of a later batch started
          expect(begun).toEqual(done)
        })
      })
    )
  }

  it.effect("stopped early: running decodes are interrupted and nothing more is started", () =>
    Effect.gen(function* () {
      const { decoder, started, finished, interrupted } = countingDecoder(20)
      const first = yield* streamBatches(fakeListing(40), 4, { size: 2, channels: 1, decoder, prefetch: 2, concurrency: 8 }).pipe(
        Stream.take(1),
        Stream.runCollect
      )
      expect(Array.from(first[0]!.indices)).toEqual([0, 1, 2, 3])
      const startedAtStop = started.size
      expect(startedAtStop).toBeGreaterThanOrEqual(8) // batch 1 was under way (8 decodes in flight) ...
      expect(startedAtStop).toBeLessThanOrEqual(12) // ... and at most batches 0..2 were started
      expect(finished.size + interrupted.size).toBe(startedAtStop) // none left running
      yield* sleep(60)
      expect(started.size).toBe(startedAtStop)
    })
  )

  it.effect("stopped early through Stream.toAsyncIterable (break): the same clean-up", () =>
    Effect.gen(function* () {
      const { decoder, started, finished, interrupted } = countingDecoder(20)
      const stream = streamBatches(fakeListing(40), 4, { size: 2, channels: 1, decoder, prefetch: 2, concurrency: 4 })
      const sizes = yield* Effect.promise(async () => {
        const out: Array<number> = []
        for await (const batch of Stream.toAsyncIterable(stream)) {
          out.push(batch.dataset.size)
          if (out.length === 2) break
        }
        return out
      })
      expect(sizes).toEqual([4, 4])
      yield* sleep(60)
      const total = started.size
      expect(total).toBeLessThanOrEqual(16)
      expect(finished.size + interrupted.size).toBe(total)
      yield* sleep(40)
      expect(started.size).toBe(total)
    })
  )

  it.effect("a corrupt file: skipped (named, the rest kept) or the stream fails with CorruptImage", () =>
    Effect.gen(function* () {
      const good = countingDecoder(0).decoder
      const decoder: ImageDecoder = (path, options) =>
        path === "f5" ? Effect.fail(new CorruptImage({ path, reason: "truncated" })) : good(path, options)
      const { value: batches, lines } = yield* captureLogs(
        Stream.runCollect(streamBatches(fakeListing(8), 3, { size: 2, channels: 1, decoder }))
      )
      expect(batches.map((b) => Array.from(b.indices))).toEqual([
        [0, 1, 2],
        [3, 4],
        [6, 7]
      ])
      expect(batches[1]!.skipped.map((s) => s.path)).toEqual(["f5"])
      expect(lines).toContain("Warn skipped corrupt image f5: truncated")
      expect(lines.at(-1)).toBe("Warn image folder /fake: skipped 1 of 8 images this epoch")
      const error = yield* Effect.flip(
        Stream.runCollect(streamBatches(fakeListing(8), 3, { size: 2, channels: 1, decoder, onCorrupt: "fail" }))
      )
      expect(error).toMatchObject({ _tag: "CorruptImage", path: "f5" })
    })
  )

  it.effect("real folder: the streamed batches hold the images loadFolder decodes", () =>
    Effect.gen(function* () {
      const listing = yield* listImageFolder(root)
      const options = { size: 4, channels: 3 } as const
      const whole = yield* decodeFolder(listing, options)
      expect(listing.files[2]).toBe(join(root, "dog", "broken.png"))
      const order = [6, 0, 3, 1, 5, 2, 4]
      const batches = yield* Stream.runCollect(streamBatches(listing, 2, { ...options, order }))
      expect(batches.flatMap((b) => Array.from(b.indices))).toEqual([6, 0, 3, 1, 5, 4])
      expect(batches.flatMap((b) => b.skipped.map((s) => s.path))).toEqual([join(root, "dog", "broken.png")])
      const len = 4 * 4 * 3
      for (const b of batches) {
        b.indices.forEach((i, j) => {
          const k = Array.from(whole.indices).indexOf(i)
          expect(b.dataset.images.subarray(j * len, (j + 1) * len)).toEqual(whole.dataset.images.subarray(k * len, (k + 1) * len))
        })
        expect(b.dataset.classNames).toEqual(["cat", "dog", "fish"])
      }
    })
  )
})
