import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { join } from "node:path"
import type { DecodeImageOptions } from "../src/formats/decodeImage.ts"
import { gatherAhead } from "../src/sampling/gatherAhead.ts"
import { subset } from "../src/ImageDataset.ts"
import { loadImageCache, openImageCache } from "../src/cache/imageCache.ts"
import { writeImageCache } from "../src/cache/writeImageCache.ts"
import { asImageStore, forEachChunk, gatherAll, type ImageSource, inMemoryStore, isImageDataset } from "../src/ImageStore.ts"
import { makeShapes } from "../src/formats/makeShapes.ts"
import { captureLogs, tempDir } from "./fixtures.ts"

const shapes = makeShapes({ n: 23, size: 6, channels: 1, seed: 4 })

/** The shapes dataset written to a cache file (its bytes are the shapes' pixels rounded to k / 255). */
const cached = Effect.gen(function* () {
  const len = 36
  const listing = {
    root: "/shapes",
    classNames: shapes.classNames!,
    files: Array.from({ length: shapes.size }, (_, i) => `/shapes/${i}`),
    labels: shapes.labels!
  }
  const decoder = (path: string, _: DecodeImageOptions) =>
    Effect.sync(() => {
      const i = Number(path.slice("/shapes/".length))
      return Uint8Array.from(shapes.images.subarray(i * len, (i + 1) * len), (v) => Math.round(v * 255))
    })
  const path = join(tempDir("store"), "shapes.bingoimg")
  yield* writeImageCache(listing, { size: 6, channels: 1, decoder }, path)
  return { store: yield* openImageCache(path), memory: yield* loadImageCache(path) }
})

describe("ImageStore", () => {
  it.effect("inMemoryStore gathers copies of the rows, with labels and metadata", () =>
    Effect.gen(function* () {
      const store = inMemoryStore(shapes)
      expect([store.size, store.height, store.channels, store.location, store.numClasses]).toEqual([23, 6, 1, "memory", 10])
      const got = yield* store.gather([4, 4, 0])
      expect(got.images).toEqual(subset(shapes, [4, 4, 0]).images)
      got.images[0] = 7
      expect(shapes.images[4 * 36]).not.toBe(7)
      expect(asImageStore(store)).toBe(store)
      expect(isImageDataset(shapes) && !isImageDataset(store)).toBe(true)
    })
  )

  it.effect("forEachChunk visits every image once, in order, in chunks of the size asked, from memory or disk", () =>
    Effect.gen(function* () {
      const { store, memory } = yield* cached
      for (const source of [memory, store] as Array<ImageSource>) {
        const seen: Array<number> = []
        const sizes: Array<number> = []
        yield* forEachChunk(source, 10, (chunk, start) =>
          Effect.sync(() => {
            sizes.push(chunk.size)
            expect(chunk.images).toEqual(
              subset(
                memory,
                Array.from({ length: chunk.size }, (_, i) => start + i)
              ).images
            )
            for (let i = 0; i < chunk.size; i++) seen.push(start + i)
          })
        )
        expect(sizes).toEqual([10, 10, 3])
        expect(seen).toEqual(Array.from({ length: 23 }, (_, i) => i))
      }
      expect((yield* gatherAll(store)).images).toEqual(memory.images)
      expect(yield* gatherAll(memory)).toBe(memory)
    })
  )

  it.effect("gatherAhead gives each step its rows, read one step ahead from a store, in or out of order", () =>
    Effect.gen(function* () {
      const { store, memory } = yield* cached
      const rowsOf = (step: number) => [step, (step * 5) % 23, 22 - step]
      for (const source of [memory, store] as Array<ImageSource>) {
        const ahead = gatherAhead(source, 6, rowsOf)
        for (const step of [0, 1, 2, 4, 5, 3]) {
          const { images, rows } = yield* ahead.take(step)
          const got = subset(images, rows)
          expect(got.images, `${source.name} step ${step}`).toEqual(subset(memory, rowsOf(step)).images)
          expect(got.labels).toEqual(subset(memory, rowsOf(step)).labels)
          // from memory nothing is copied: the dataset itself and the step's indices
          if (source === memory) expect([images === memory, [...rows]]).toEqual([true, rowsOf(step)])
        }
      }
    })
  )

  it.effect("gatherAhead has started step s + 1's gather when take(s) returns, before the caller computes step s", () =>
    Effect.gen(function* () {
      const started: Array<number> = []
      const store = {
        ...inMemoryStore(shapes),
        location: "/fake",
        // records when the gather effect starts running, then completes later (like a read)
        gather: (indices: ArrayLike<number>) =>
          Effect.suspend(() => {
            started.push(indices[0]!)
            return Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 5))).pipe(Effect.as(subset(shapes, indices)))
          })
      }
      const ahead = gatherAhead(store, 3, (step) => [step])
      yield* ahead.take(0)
      expect(started).toEqual([0, 1])
      yield* ahead.take(1)
      expect(started).toEqual([0, 1, 2])
      yield* ahead.take(2)
      expect(started).toEqual([0, 1, 2])
    })
  )

  it.effect("forEachChunk logs progress after each tenth when asked and the pass is long enough", () =>
    Effect.gen(function* () {
      const store = inMemoryStore(shapes)
      const run = (progressFrom: number) =>
        captureLogs(forEachChunk(store, 5, () => Effect.void, { progress: "embedding shapes", progressFrom }))
      const { lines } = yield* run(20)
      expect(lines.map((l) => l.replace(/, \d+ img\/s\)/, ")"))).toEqual([
        "Info embedding shapes: 5/23 images (21%)",
        "Info embedding shapes: 10/23 images (43%)",
        "Info embedding shapes: 15/23 images (65%)",
        "Info embedding shapes: 20/23 images (86%)",
        "Info embedding shapes: 23/23 images (100%)"
      ])
      expect((yield* run(24)).lines).toEqual([])
    })
  )
})
