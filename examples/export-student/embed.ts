/**
 * Embed images with a student exported by bingo (`<outDir>/student-tfjs/model.json`), using
 * nothing but @tensorflow/tfjs: no bingo package is imported here, which is the point.
 *
 *   pnpm tsx embed.ts ../../runs/quickstart/student-tfjs/model.json a.ppm b.pgm ...
 *   pnpm tsx embed.ts model.json a.ppm b.ppm --json      # machine-readable output
 *
 * Images are binary Netpbm files (P5 grey / P6 RGB, any size; e.g. `magick in.jpg out.ppm`),
 * so no image decoder is needed; in a browser, use `tf.browser.fromPixels(img)` instead of
 * `readNetpbm`. Each image gets the evaluation preprocessing recorded in model.json
 * (center crop, bilinear resize to the model's input size, per-channel mean/std).
 */
import * as tf from "@tensorflow/tfjs"
import { readFile } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { pathToFileURL } from "node:url"

/** What bingo writes under `userDefinedMetadata` in model.json. */
export interface ExportMetadata {
  readonly bingo?: { readonly inputShape?: ReadonlyArray<number>; readonly outputs?: ReadonlyArray<string> }
  readonly preprocessing?: {
    /** Per-channel (or one for all) mean and std applied to pixels in [0, 1]. */
    readonly mean?: ReadonlyArray<number>
    readonly std?: ReadonlyArray<number>
    /** Fraction of the shorter side kept by the center crop (1 = whole image). */
    readonly centerCropFraction?: number
  }
}

export interface Image {
  readonly height: number
  readonly width: number
  readonly channels: number
  /** H*W*C values in [0, 1], row-major, channels last. */
  readonly pixels: Float32Array
}

/** An IOHandler that reads model.json and its weight files with node:fs (what tfjs-node's `file://` does). */
export const fileHandler = (modelJsonPath: string): tf.io.IOHandler => ({
  load: async () => {
    const json = JSON.parse(await readFile(modelJsonPath, "utf8")) as tf.io.ModelJSON
    return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
      const files = await Promise.all(manifest.flatMap((g) => g.paths).map((p) => readFile(join(dirname(modelJsonPath), p))))
      const buffers = files.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer)
      return [manifest.flatMap((g) => g.weights), buffers]
    })
  }
})

export const loadStudent = (modelJsonPath: string): Promise<tf.LayersModel> => tf.loadLayersModel(fileHandler(modelJsonPath))

/** Parse a binary PGM (P5) or PPM (P6) file. */
export const readNetpbm = (bytes: Uint8Array): Image => {
  let pos = 0
  const token = (): string => {
    for (;;) {
      while (pos < bytes.length && /\s/.test(String.fromCharCode(bytes[pos]!))) pos++
      if (bytes[pos] !== 0x23) break // '#': comment to end of line
      while (pos < bytes.length && bytes[pos] !== 0x0a) pos++
    }
    const start = pos
    while (pos < bytes.length && !/\s/.test(String.fromCharCode(bytes[pos]!))) pos++
    return new TextDecoder().decode(bytes.subarray(start, pos))
  }
  const magic = token()
  if (magic !== "P5" && magic !== "P6") throw new Error(`not a binary PGM/PPM file (magic '${magic}')`)
  const width = Number(token()),
    height = Number(token()),
    maxval = Number(token())
  pos++ // the single whitespace before the raster
  const channels = magic === "P6" ? 3 : 1
  const n = width * height * channels
  const wide = maxval > 255
  if (bytes.length - pos < n * (wide ? 2 : 1)) throw new Error(`raster shorter than ${width}x${height}x${channels}`)
  const pixels = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    pixels[i] = (wide ? (bytes[pos + 2 * i]! << 8) | bytes[pos + 2 * i + 1]! : bytes[pos + i]!) / maxval
  }
  return { height, width, channels, pixels }
}

/** The evaluation view bingo's `centerView` computes: center crop, bilinear resize, normalisation. [S, S, C]. */
export const preprocess = (image: Image, inputShape: ReadonlyArray<number>, metadata: ExportMetadata): tf.Tensor3D =>
  tf.tidy(() => {
    const [size, , channels] = inputShape as [number, number, number]
    const p = metadata.preprocessing ?? {}
    const mean = p.mean ?? [0.5],
      std = p.std ?? [0.5]
    let x: tf.Tensor3D = tf.tensor3d(image.pixels, [image.height, image.width, image.channels])
    if (image.channels === 3 && channels === 1) x = tf.sum(tf.mul(x, [0.299, 0.587, 0.114]), -1, true)
    if (image.channels === 1 && channels === 3) x = tf.tile(x, [1, 1, 3])
    const side = Math.round(Math.min(image.height, image.width) * (p.centerCropFraction ?? 1))
    const top = Math.floor((image.height - side) / 2),
      left = Math.floor((image.width - side) / 2)
    x = tf.slice(x, [top, left, 0], [side, side, channels])
    if (side !== size) x = tf.image.resizeBilinear(x, [size, size], false, true)
    const perChannel = (v: ReadonlyArray<number>) => (v.length === 1 ? v[0]! : tf.tensor1d([...v]))
    return tf.div(tf.sub(x, perChannel(mean)), perChannel(std)) as tf.Tensor3D
  })

/** Embed a batch of images; returns one array of rows per model output (`embedding`, `features`). */
export const embedImages = (model: tf.LayersModel, images: ReadonlyArray<Image>): Record<string, Array<Array<number>>> => {
  const metadata = (model.getUserDefinedMetadata() ?? {}) as ExportMetadata
  const inputShape = model.inputs[0]!.shape.slice(1) as Array<number>
  return tf.tidy(() => {
    const batch = tf.stack(images.map((im) => preprocess(im, inputShape, metadata))) as tf.Tensor4D
    const out = model.predict(batch)
    const outputs = Array.isArray(out) ? out : [out]
    return Object.fromEntries(model.outputNames.map((name, i) => [name, outputs[i]!.arraySync() as Array<Array<number>>]))
  })
}

const cosine = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => {
  let ab = 0,
    aa = 0,
    bb = 0
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!
    aa += a[i]! * a[i]!
    bb += b[i]! * b[i]!
  }
  return ab / Math.sqrt(aa * bb)
}

const main = async (args: Array<string>) => {
  const json = args.includes("--json")
  const [modelPath, ...imagePaths] = args.filter((a) => a !== "--json")
  if (modelPath === undefined || imagePaths.length === 0) {
    console.error("usage: tsx embed.ts <model.json> <image.ppm|.pgm> ... [--json]")
    process.exit(2)
  }
  await tf.setBackend("cpu")
  const model = await loadStudent(modelPath)
  const images = await Promise.all(imagePaths.map(async (p) => readNetpbm(new Uint8Array(await readFile(p)))))
  const result = embedImages(model, images)
  if (json) {
    console.log(JSON.stringify(result))
    return
  }
  const rows = result.embedding ?? result.features!
  console.log(`${modelPath}: ${model.outputNames.join(" + ")}, ${rows[0]!.length}-d`)
  imagePaths.forEach((p, i) =>
    console.log(
      `${basename(p)}  [${rows[i]!.slice(0, 4)
        .map((v) => v.toFixed(4))
        .join(", ")}, ...]`
    )
  )
  console.log("cosine similarity:")
  rows.forEach((r, i) => console.log(`${basename(imagePaths[i]!)}  ${rows.map((s) => cosine(r, s).toFixed(3)).join(" ")}`))
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e)
    process.exit(1)
  })
}
