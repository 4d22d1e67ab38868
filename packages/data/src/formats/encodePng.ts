import { Effect } from "effect"
import sharp from "sharp"

/**
 * One image as PNG bytes: `pixels` is H*W*C values in [0, 1], HWC, C = 1 (grey) or 3 (RGB), as
 * an `ImageDataset` holds them (`imageAt`). With `maxSide`, an image whose larger side exceeds it
 * is shrunk to fit (aspect kept); smaller ones are kept as they are (the report's thumbnails
 * scale them up in the browser). Values are rounded to 8 bits, clamped to [0, 255].
 */
export const encodePng = (
  pixels: Float32Array,
  shape: { readonly height: number; readonly width: number; readonly channels: number },
  options: { readonly maxSide?: number } = {}
): Effect.Effect<Uint8Array> =>
  Effect.promise(async () => {
    const { height, width, channels } = shape
    if (channels !== 1 && channels !== 3) throw new RangeError(`encodePng: 1 or 3 channels, got ${channels}`)
    if (pixels.length !== height * width * channels)
      throw new RangeError(`encodePng: ${pixels.length} values for a ${height}x${width}x${channels} image`)
    const bytes = Uint8Array.from(pixels, (v) => Math.max(0, Math.min(255, Math.round(v * 255))))
    let image = sharp(bytes, { raw: { width, height, channels } })
    const max = options.maxSide
    if (max !== undefined && Math.max(height, width) > max) image = image.resize({ width: max, height: max, fit: "inside" })
    // a grey PNG stays one band (sharp would otherwise write it as sRGB)
    if (channels === 1) image = image.toColourspace("b-w")
    return new Uint8Array(await image.png().toBuffer())
  })
