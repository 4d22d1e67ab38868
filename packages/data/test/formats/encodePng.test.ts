import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import sharp from "sharp"
import { encodePng } from "../../src/formats/encodePng.ts"

/** The PNG's pixels (sharp reads a grey PNG as sRGB: its first band is the grey value) and its stored channel count. */
const decode = async (png: Uint8Array) => {
  const { channels } = await sharp(png).metadata()
  const image = channels === 1 ? sharp(png).extractChannel(0) : sharp(png)
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true })
  return { bytes: [...data], width: info.width, height: info.height, channels }
}

describe("encodePng", () => {
  it.effect("grey and RGB pixels in [0, 1] come back from the PNG as the same 8-bit values (rounded, clamped)", () =>
    Effect.gen(function* () {
      const grey = Float32Array.from([0, 0.5, 1, 1.5, -0.2, 0.25])
      const g = yield* Effect.promise(async () => decode(await Effect.runPromise(encodePng(grey, { height: 2, width: 3, channels: 1 }))))
      expect(g).toEqual({ bytes: [0, 128, 255, 255, 0, 64], width: 3, height: 2, channels: 1 })
      const rgb = Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1, 0.2, 0.4, 0.6])
      const c = yield* Effect.promise(async () => decode(await Effect.runPromise(encodePng(rgb, { height: 2, width: 2, channels: 3 }))))
      expect(c).toEqual({ bytes: [255, 0, 0, 0, 255, 0, 0, 0, 255, 51, 102, 153], width: 2, height: 2, channels: 3 })
    })
  )

  it.effect("maxSide shrinks a larger image to fit, keeping its aspect; a smaller one keeps its size", () =>
    Effect.gen(function* () {
      const pixels = new Float32Array(16 * 32).fill(0.5)
      const small = yield* Effect.promise(async () =>
        decode(await Effect.runPromise(encodePng(pixels, { height: 16, width: 32, channels: 1 }, { maxSide: 8 })))
      )
      expect([small.width, small.height]).toEqual([8, 4])
      const kept = yield* Effect.promise(async () =>
        decode(await Effect.runPromise(encodePng(pixels, { height: 16, width: 32, channels: 1 }, { maxSide: 64 })))
      )
      expect([kept.width, kept.height]).toEqual([32, 16])
    })
  )
})
