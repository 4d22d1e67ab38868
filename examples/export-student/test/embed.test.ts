import * as tf from "@tensorflow/tfjs"
import { createEncoder, disposeEncoder, embed, exportTfjsModel, features } from "@bingo/backbones"
import { Rng } from "@bingo/runtime"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { readNetpbm } from "../embed.ts"

const here = resolve(import.meta.dirname, "..")
const preprocessing = { mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3], centerCropFraction: 1 }

/** A binary PPM (P6) of random pixels. */
const randomPpm = (rng: Rng, h: number, w: number): Uint8Array => {
  const header = new TextEncoder().encode(`P6\n# made by embed.test.ts\n${w} ${h}\n255\n`)
  const raster = Uint8Array.from({ length: h * w * 3 }, () => Math.floor(rng.uniform(0, 256)))
  const out = new Uint8Array(header.length + raster.length)
  out.set(header)
  out.set(raster, header.length)
  return out
}

beforeAll(async () => {
  await tf.setBackend("cpu")
  ;(tf.backend() as unknown as { firstUse: boolean }).firstUse = false // no "install tfjs-node" banner
})

describe("examples/export-student/embed.ts", () => {
  it("imports nothing from bingo, only @tensorflow/tfjs and node built-ins", () => {
    const source = readFileSync(join(here, "embed.ts"), "utf8")
    const imports = [...source.matchAll(/^import .* from "([^"]+)"/gm)].map((m) => m[1])
    expect(imports.every((m) => m === "@tensorflow/tfjs" || m!.startsWith("node:"))).toBe(true)
  })

  it("reads PGM/PPM headers with comments and 16-bit rasters", () => {
    const pgm = new Uint8Array([...new TextEncoder().encode("P5 # grey\n2 1\n65535\n"), 0xff, 0xff, 0x80, 0x00])
    expect(readNetpbm(pgm)).toEqual({ height: 1, width: 2, channels: 1, pixels: Float32Array.from([1, 0x8000 / 65535]) })
  })

  it("embeds images with a freshly exported student exactly as bingo's embed does (run as a script)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bingo-export-student-"))
    const rng = Rng.fromSeed(3)
    const spec = { backbone: "convnet-small", inputShape: [16, 16, 3] as const, widthMultiplier: 0.5, headHidden: 16, embeddingDim: 8 }
    const student = createEncoder(spec, rng, "student")
    await Effect.runPromise(exportTfjsModel(student, join(dir, "student-tfjs"), { metadata: { preprocessing } }))
    const images = [0, 1, 2].map((i) => {
      const path = join(dir, `img${i}.ppm`)
      writeFileSync(path, randomPpm(rng, 16, 16))
      return path
    })
    // a larger grey image exercises the crop, resize and grey -> RGB paths
    writeFileSync(join(dir, "big.pgm"), new Uint8Array([...new TextEncoder().encode("P5\n24 20\n255\n"), ...new Array(480).fill(128)]))

    const stdout = execFileSync(
      process.execPath,
      ["--import", "tsx", join(here, "embed.ts"), join(dir, "student-tfjs", "model.json"), ...images, join(dir, "big.pgm"), "--json"],
      {
        cwd: here,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"]
      }
    )
    const result = JSON.parse(stdout) as { embedding: Array<Array<number>>; features: Array<Array<number>> }
    expect(result.embedding.length).toBe(4)

    // bingo's own eval-mode embedding of the same normalised pixels
    const x = tf.tidy(() => {
      const raw = tf.stack(
        images.map((p) => {
          const im = readNetpbm(new Uint8Array(readFileSync(p)))
          return tf.tensor3d(im.pixels, [16, 16, 3])
        })
      )
      return tf.div(tf.sub(raw, preprocessing.mean), preprocessing.std) as tf.Tensor4D
    })
    const ours = embed(student, x, "eval").arraySync()
    const ourFeatures = features(student, x, "eval").arraySync()
    for (let i = 0; i < 3; i++) {
      result.embedding[i]!.forEach((v, j) => expect(Math.abs(v - ours[i]![j]!)).toBeLessThan(1e-5))
      result.features[i]!.forEach((v, j) => expect(Math.abs(v - ourFeatures[i]![j]!)).toBeLessThan(1e-5))
    }
    // the uniform grey image embeds to a unit vector too
    expect(Math.hypot(...result.embedding[3]!)).toBeCloseTo(1, 5)
    x.dispose()
    disposeEncoder(student)
  }, 60_000)
})
