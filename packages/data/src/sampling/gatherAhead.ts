import { Effect, Fiber } from "effect"
import type { DatasetError } from "../DatasetError.ts"
import type { ImageDataset } from "../ImageDataset.ts"
import { type ImageSource, isImageDataset } from "../ImageStore.ts"

/** A step's images: image `rowsOf(step)[i]` of the source is image `rows[i]` of `images`. */
export interface StepImages {
  readonly images: ImageDataset
  readonly rows: Int32Array
}

/** The rows of a training loop's steps, each read one step ahead. */
export interface GatherAhead {
  /**
   * The images of `step` (gathered ahead when `step` follows the previous `take`), after
   * starting the gather of `step + 1`: its reads run while the caller computes step `step`.
   */
  readonly take: (step: number) => Effect.Effect<StepImages, DatasetError>
}

/**
 * Read-ahead for a loop over `steps` steps whose rows are known in advance (`rowsOf(step)`: a
 * step's anchors and positives). From a store on disk, step s + 1's rows are read on libuv's
 * thread pool while step s computes, so a training step waits on the disk only when a read is
 * slower than a step. From an in-memory dataset nothing is read or copied: `images` is the
 * dataset itself and `rows` the step's indices.
 * The read-ahead fiber is a child of the caller's: it is interrupted when the loop ends early.
 */
export const gatherAhead = (source: ImageSource, steps: number, rowsOf: (step: number) => ArrayLike<number>): GatherAhead => {
  if (isImageDataset(source)) return { take: (step) => Effect.sync(() => ({ images: source, rows: Int32Array.from(rowsOf(step)) })) }
  let ahead: { readonly step: number; readonly fiber: Fiber.Fiber<ImageDataset, DatasetError> } | undefined
  const start = (step: number) => Effect.forkChild(source.gather(rowsOf(step)))
  return {
    take: (step) =>
      Effect.gen(function* () {
        let fiber: Fiber.Fiber<ImageDataset, DatasetError>
        if (ahead !== undefined && ahead.step === step) {
          fiber = ahead.fiber
        } else {
          if (ahead !== undefined) yield* Fiber.interrupt(ahead.fiber)
          fiber = yield* start(step)
        }
        ahead = undefined
        const images = yield* Fiber.join(fiber)
        const rows = Int32Array.from({ length: images.size }, (_, i) => i)
        if (step + 1 < steps) {
          ahead = { step: step + 1, fiber: yield* start(step + 1) }
          // let the new fiber issue its reads before the caller blocks the thread in a step
          yield* Effect.yieldNow
        }
        return { images, rows }
      })
  }
}
