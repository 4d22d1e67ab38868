/**
 * Images per second the data pipeline delivers, against the rate the trainer consumes them.
 *
 *   pnpm bench:data                                   # from the repo root; quickstart shapes (16x16x1)
 *   pnpm bench:data --size 32 --channels 3            # CIFAR-like output
 *   pnpm bench:data --images 4000 --dir /tmp/folder   # keep (and reuse) the generated folder
 *
 * One "training image" is what one image of a BINGO step needs from the data side: four aug+
 * views (q, k of the anchor; pq, pk of its positive) and its share of the CutMix of q and pq,
 * as `Trainer.distil` does per batch. Measured, in one process:
 *   (a) augmentation on the in-memory quickstart dataset (shapes, 4,000 x 16x16x1);
 *   (b) a generated folder of JPEGs and PNGs (random sizes 48-128 px): sharp alone (the bound),
 *       loading it whole with
 *       `loadFolder`, streaming it with `streamBatches` (decode only), and streaming it with the
 *       same augmentation as (a) done by the consumer while the next batches decode, with and
 *       without prefetch and at two decode concurrencies;
 *   (c) the stream feeding a simulated trainer that blocks the JS thread for batch / rate seconds
 *       per batch: how close to the trainer's rate the streamed data keep it;
 *   (d) the decoded-image cache: the folder decoded once into a uint8 file (d0), then batches of
 *       anchors + positives read from it and augmented, page cache warm (d1) and dropped (d2,
 *       when the process may drop it), and (c) fed from it through `gatherAhead`;
 *   (e) the real trainer (quickstart models) on the folder, decoded into memory vs streamed from
 *       its cache, in four more child processes, A B B A (`--skip-folder-trainer` skips them).
 * The trainer's rate is measured first, in a child process (the data package cannot import the
 * trainer): `pnpm bingo run examples/quickstart/bingo.yaml` shortened to one teacher and three
 * distillation epochs in a fresh temp outDir (about 30 s), the mean of the distillation epochs'
 * "(N img/s)" (one epoch alone varies by +-15%), and the backend it ran on. `--trainer-rate N` skips that and uses N (e.g. 260, the
 * quickstart distillation on wasm in docs/benchmarks.md: 6 x 4,000 images in 92 s); if the run fails, 260 is used and said. Load averages
 * are printed before and after: compare figures only within one run.
 */
import { Rng } from "@bingo/runtime"
import { Effect, References, Stream } from "effect"
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import sharp from "sharp"
import { augmentBatch } from "../src/augment/augment.ts"
import type { AugmentConfig } from "../src/augment/AugmentConfig.ts"
import { cutMix } from "../src/augment/cutMix.ts"
import { gatherAhead } from "../src/sampling/gatherAhead.ts"
import type { ImageDataset } from "../src/ImageDataset.ts"
import { openImageCache } from "../src/cache/imageCache.ts"
import { writeImageCache } from "../src/cache/writeImageCache.ts"
import type { ImageStore } from "../src/ImageStore.ts"
import { withSharpCacheOff } from "../src/formats/decodeImage.ts"
import { listImageFolder } from "../src/formats/listImageFolder.ts"
import { loadFolder } from "../src/formats/loadFolder.ts"
import { makeShapes } from "../src/formats/makeShapes.ts"
import { streamBatches } from "../src/sampling/streamBatches.ts"

const { values } = parseArgs({
  options: {
    images: { type: "string", default: "2000" },
    size: { type: "string", default: "16" },
    channels: { type: "string", default: "1" },
    batch: { type: "string", default: "128" },
    seconds: { type: "string", default: "3" },
    "trainer-rate": { type: "string" },
    "trainer-backend": { type: "string" },
    "skip-folder-trainer": { type: "boolean", default: false },
    dir: { type: "string" }
  }
})
const numImages = Number(values.images)
const size = Number(values.size)
const channels = Number(values.channels) as 1 | 3
const batchSize = Number(values.batch)
const minSeconds = Number(values.seconds)
const documentedTrainerRate = 260
let trainerRate = documentedTrainerRate
let trainerSource = "docs/benchmarks.md, quickstart on wasm"
const folder = values.dir ?? join(tmpdir(), `bingo-bench-folder-${numImages}`)
// the quickstart's augmentation (examples/quickstart/bingo.yaml), at the output size asked for
const augment: AugmentConfig = { outputSize: size, cropScale: [0.35, 1] }
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")

/** A folder of `n` images in 10 classes: shapes drawn at 64 px, saved at random sizes, half JPEG, half PNG. */
const generateFolder = async (dir: string, n: number) => {
  const shapes = makeShapes({ n, size: 64, channels: 3, seed: 1 })
  const rng = Rng.fromSeed(2)
  const bytes = new Uint8Array(64 * 64 * 3)
  for (let i = 0; i < n; i++) {
    const px = shapes.images.subarray(i * bytes.length, (i + 1) * bytes.length)
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.round(px[j]! * 255)
    const classDir = join(dir, shapes.classNames![shapes.labels![i]!]!)
    mkdirSync(classDir, { recursive: true })
    const img = sharp(bytes, { raw: { width: 64, height: 64, channels: 3 } }).resize(48 + rng.int(81), 48 + rng.int(81), { fit: "fill" })
    await (i % 2 === 0 ? img.jpeg({ quality: 90 }) : img.png()).toFile(join(classDir, `${i}.${i % 2 === 0 ? "jpg" : "png"}`))
  }
}

/**
 * The quickstart's distillation rate, from a shortened run of the CLI in a child process: its
 * own dataset, or (`dataset`) another one, e.g. the generated folder. The rate is the mean of
 * the distillation epochs' "(N img/s)" lines.
 */
const measureTrainer = (dataset?: unknown, distillEpochs = 1): { rate: number; backend: string } | string => {
  const repo = resolve(fileURLToPath(import.meta.url), "../../../..")
  const outDir = mkdtempSync(join(tmpdir(), "bingo-bench-trainer-"))
  const sets = ["teacher.pretrain.epochs=1", `distill.epochs=${distillEpochs}`, "eval.linear.epochs=1", `outDir=${outDir}`]
  if (dataset !== undefined) sets.push(`dataset=${JSON.stringify(dataset)}`)
  if (values["trainer-backend"] !== undefined) sets.push(`backend=${values["trainer-backend"]}`)
  const child = spawnSync("pnpm", ["bingo", "run", "examples/quickstart/bingo.yaml", ...sets.flatMap((x) => ["--set", x])], {
    cwd: repo,
    encoding: "utf8",
    timeout: 600_000
  })
  rmSync(outDir, { recursive: true, force: true })
  const output = `${child.stdout}${child.stderr}`
  const rates = [...output.matchAll(/distil epoch \d+\/\d+ .*\((\d+(?:\.\d+)?) img\/s\)/g)].map((m) => Number(m[1]))
  const backend = /TF\.js backend: ([\w-]+)/.exec(output)?.[1] ?? "?"
  if (child.status !== 0 || rates.length === 0) return `exit ${child.status}: ${output.trim().split("\n").slice(-3).join(" | ")}`
  return { rate: rates.reduce((a, b) => a + b, 0) / rates.length, backend }
}

/** Four aug+ views (q, k of the anchors; pq, pk of the positives) and the CutMix of q and pq, as one trainer step. */
const augmentStep = (ds: ImageDataset, anchors: ArrayLike<number>, rng: Rng, positives: ArrayLike<number> = anchors) => {
  const q = augmentBatch(ds, anchors, augment, rng)
  augmentBatch(ds, anchors, augment, rng)
  const pq = augmentBatch(ds, positives, augment, rng)
  augmentBatch(ds, positives, augment, rng)
  cutMix(q, pq, { batch: anchors.length, height: size, width: size, channels: ds.channels }, rng)
}

/** Drop the kernel's page cache (root on Linux), so the next reads come from the disk; false when not allowed. */
const dropPageCache = (): boolean => {
  try {
    spawnSync("sync")
    writeFileSync("/proc/sys/vm/drop_caches", "1")
    return true
  } catch {
    return false
  }
}

const timed = async <A>(f: () => Promise<A>) => {
  const start = performance.now()
  const value = await f()
  return { value, seconds: (performance.now() - start) / 1000 }
}

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect.pipe(Effect.provideService(References.MinimumLogLevel, "Warn")))

const rows: Array<[string, number]> = []
const report = (label: string, imagesPerSecond: number) => {
  rows.push([label, imagesPerSecond])
  console.log(
    `${label.padEnd(80)} ${imagesPerSecond.toFixed(0).padStart(7)} img/s  ${(imagesPerSecond / trainerRate).toFixed(1).padStart(6)}x trainer`
  )
}

const main = async () => {
  if (!existsSync(folder) || readdirSync(folder).length === 0) {
    const { seconds } = await timed(() => generateFolder(folder, numImages))
    console.log(`generated ${folder} in ${seconds.toFixed(1)} s (not timed below)`)
  }
  console.log(`load average before: ${load()}`)
  if (values["trainer-rate"] !== undefined) {
    trainerRate = Number(values["trainer-rate"])
    trainerSource = "--trainer-rate"
  } else {
    const measured = measureTrainer(undefined, 3)
    if (typeof measured === "string") {
      trainerSource = `docs/benchmarks.md, quickstart on wasm; measuring failed: ${measured}`
    } else {
      trainerRate = measured.rate
      trainerSource = `measured now: quickstart distillation, mean of 3 epochs, backend ${measured.backend}, child process`
    }
  }
  console.log(
    `benchData: ${numImages} images -> ${size}x${size}x${channels}, batch ${batchSize}, ${cpus().length} CPUs; ` +
      `trainer ${trainerRate.toFixed(0)} img/s (${trainerSource})`
  )

  // (a) augmentation on in-memory data (the quickstart's shapes at the same output size)
  const shapes = makeShapes({ n: 4000, size, channels, seed: 0 })
  const rng = Rng.fromSeed(0)
  augmentStep(shapes, rng.permutation(shapes.size).subarray(0, batchSize), rng) // warm-up
  {
    let done = 0
    const start = performance.now()
    while ((performance.now() - start) / 1000 < minSeconds) {
      augmentStep(shapes, rng.permutation(shapes.size).subarray(0, batchSize), rng)
      done += batchSize
    }
    report("(a) augment in memory (4 views + CutMix per image)", done / ((performance.now() - start) / 1000))
  }

  // (b) the image folder
  const decode = { size, channels } as const
  const listing = await run(listImageFolder(folder))
  await run(loadFolder({ dir: folder, ...decode, limit: 64 })) // warm-up: sharp's first calls
  {
    // sharp alone, the same operations as decodeImage, 8 in flight: the bound for everything below
    let next = 0
    const { seconds } = await timed(() =>
      Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < listing.files.length) {
            await sharp(listing.files[next++]!, { failOn: "error" })
              .resize(size, size, { fit: "cover", position: "centre", kernel: "linear" })
              .removeAlpha()
              .toColourspace("srgb")
              .raw({ depth: "uchar" })
              .toBuffer()
          }
        })
      )
    )
    report("(b0) sharp alone, its default cache on (8 in flight, no Effect)", listing.files.length / seconds)
  }
  {
    const { value, seconds } = await timed(() => run(loadFolder({ dir: folder, ...decode, concurrency: 8 })))
    report("(b1) loadFolder: decode + resize whole folder, concurrency 8", value.train.size / seconds)
  }
  const concurrencyLabel = (prefetch: number, concurrency: number | undefined) =>
    `prefetch ${prefetch}, concurrency ${concurrency ?? `${batchSize * (prefetch + 1)} (default)`}`
  const stream = (prefetch: number, concurrency: number | undefined) =>
    streamBatches(listing, batchSize, {
      ...decode,
      prefetch,
      ...(concurrency === undefined ? {} : { concurrency }),
      order: rng.permutation(listing.files.length)
    })
  const allOf = (n: number) => Int32Array.from({ length: n }, (_, i) => i)
  for (const concurrency of [8, undefined]) {
    const { value, seconds } = await timed(() =>
      run(
        stream(2, concurrency).pipe(
          Stream.runFold(
            () => 0,
            (n, b) => n + b.dataset.size
          )
        )
      )
    )
    report(`(b2) streamBatches, decode only, ${concurrencyLabel(2, concurrency)}`, value / seconds)
  }
  for (const [prefetch, concurrency] of [
    [0, undefined],
    [2, 8],
    [2, undefined]
  ] as const) {
    const { value, seconds } = await timed(() =>
      run(
        stream(prefetch, concurrency).pipe(
          Stream.runFold(
            () => 0,
            (n, batch) => {
              augmentStep(batch.dataset, allOf(batch.dataset.size), rng)
              return n + batch.dataset.size
            }
          )
        )
      )
    )
    report(`(b3) streamBatches + augment, ${concurrencyLabel(prefetch, concurrency)}`, value / seconds)
  }
  // (c) streaming into a simulated trainer: per batch, the augmentation then a busy wait (the
  // JS thread blocked, as in a TF.js step) until batch / trainerRate seconds have passed. 100%
  // means the trainer never waits for data.
  for (const [prefetch, concurrency] of [
    [0, undefined],
    [2, 8],
    [2, undefined]
  ] as const) {
    const { value, seconds } = await timed(() =>
      run(
        stream(prefetch, concurrency).pipe(
          Stream.runFold(
            () => 0,
            (n, batch) => {
              const end = performance.now() + (1000 * batch.dataset.size) / trainerRate
              augmentStep(batch.dataset, allOf(batch.dataset.size), rng)
              while (performance.now() < end) {
                // the trainer's step
              }
              return n + batch.dataset.size
            }
          )
        )
      )
    )
    const rate = value / seconds
    console.log(
      `${`(c) simulated trainer fed by streamBatches, ${concurrencyLabel(prefetch, concurrency)}`.padEnd(80)} ` +
        `${rate.toFixed(0).padStart(7)} img/s  ${((100 * rate) / trainerRate).toFixed(0).padStart(5)}% of the trainer's rate`
    )
  }
  // (d) the decoded-image cache: the folder decoded once into a uint8 file, then every epoch's
  // batches read from it. One step reads its anchors and one positive per anchor (random rows,
  // as bags point anywhere), 2 x batch rows, and augments them as (a).
  const cacheDir = mkdtempSync(join(tmpdir(), "bingo-bench-cache-"))
  const cachePath = join(cacheDir, "train.bingoimg")
  {
    const { value, seconds } = await timed(() => run(withSharpCacheOff(writeImageCache(listing, { ...decode, concurrency: 8 }, cachePath))))
    report("(d0) writeImageCache: decode + resize the folder once into the cache file", value.size / seconds)
  }
  const store = await run(openImageCache(cachePath))
  const anchorRows = allOf(batchSize)
  const positiveRows = Int32Array.from({ length: batchSize }, (_, i) => batchSize + i)
  const stepRows = (n = store.size) => Int32Array.from({ length: 2 * batchSize }, () => rng.int(n))
  const stepsPerEpoch = Math.floor(store.size / batchSize)
  const streamCache = (label: string, steps: number | undefined, from: ImageStore = store) =>
    run(
      Effect.gen(function* () {
        const start = performance.now()
        let done = 0
        while (steps === undefined ? (performance.now() - start) / 1000 < minSeconds : done < steps * batchSize) {
          augmentStep(yield* from.gather(stepRows(from.size)), anchorRows, rng, positiveRows)
          done += batchSize
        }
        report(label, done / ((performance.now() - start) / 1000))
      })
    )
  await streamCache("(d1) stream from the cache: read anchors + positives, augment (page cache warm)", undefined)
  if (dropPageCache()) {
    await streamCache("(d2) the same, one epoch, page cache dropped first (reads from the disk)", stepsPerEpoch)
    // the folder's cache is small enough for the kernel's read-ahead: also read random rows of
    // a cache of 200,000 images (the folder's rows repeated, written without decoding), cold
    const bigN = 200_000
    const bigPath = join(cacheDir, "big.bingoimg")
    const len = size * size * channels
    const bytes = new Uint8Array(
      await run(Effect.map(store.gather(allOf(store.size)), (d) => Uint8Array.from(d.images, (v) => Math.round(v * 255))))
    )
    const bigListing = {
      root: "/synthetic",
      classNames: ["all"],
      files: Array.from({ length: bigN }, (_, i) => `/synthetic/${i}`),
      labels: new Int32Array(bigN)
    }
    const copyRow = (path: string) => {
      const i = Number(path.slice("/synthetic/".length)) % store.size
      return Effect.succeed(bytes.subarray(i * len, (i + 1) * len))
    }
    await run(writeImageCache(bigListing, { size, channels, decoder: copyRow, concurrency: 64, progress: false }, bigPath))
    const big = await run(openImageCache(bigPath))
    dropPageCache()
    await streamCache(
      `(d3) random rows of a ${((bigN * len) / 2 ** 20).toFixed(0)} MiB cache of ${bigN} images, page cache dropped`,
      40,
      big
    )
  } else {
    console.log("(d2, d3) skipped: cannot drop the page cache here (needs root on Linux)")
  }
  // (c) again, fed by the cache through gatherAhead as Trainer.distil is: step s + 1's rows are
  // read while step s blocks the thread
  {
    const plan = Array.from({ length: stepsPerEpoch }, stepRows)
    const { seconds } = await timed(() =>
      run(
        Effect.gen(function* () {
          const ahead = gatherAhead(store, plan.length, (step) => plan[step]!)
          for (let step = 0; step < plan.length; step++) {
            const end = performance.now() + (1000 * batchSize) / trainerRate
            const { images, rows } = yield* ahead.take(step)
            augmentStep(images, rows.subarray(0, batchSize), rng, rows.subarray(batchSize))
            while (performance.now() < end) {
              // the trainer's step
            }
          }
        })
      )
    )
    const rate = (plan.length * batchSize) / seconds
    console.log(
      `${"(c) simulated trainer fed by the cache store (gatherAhead), one epoch".padEnd(80)} ` +
        `${rate.toFixed(0).padStart(7)} img/s  ${((100 * rate) / trainerRate).toFixed(0).padStart(5)}% of the trainer's rate`
    )
  }
  rmSync(cacheDir, { recursive: true, force: true })

  // (e) the real trainer (the quickstart's models) on the generated folder,
  // the folder decoded into memory vs streamed from its cache (inMemory: false)
  if (!values["skip-folder-trainer"]) {
    const folderCache = mkdtempSync(join(tmpdir(), "bingo-bench-folder-cache-"))
    const folderDataset = (inMemory: boolean) => ({
      name: "folder",
      options: { dir: folder, testDir: folder, limitTest: 200, size, channels, cache: folderCache, inMemory }
    })
    // A B B A: one process each, 3 distillation epochs; epochs of 2,000 images last ~1.5 s, so
    // single runs vary by +-10%
    const runs = [true, false, false, true].map((inMemory) => ({ inMemory, result: measureTrainer(folderDataset(inMemory), 3) }))
    rmSync(folderCache, { recursive: true, force: true })
    const failed = runs.find((r) => typeof r.result === "string")
    if (failed !== undefined) {
      console.log(`(e) trainer on the folder: failed: ${String(failed.result)}`)
    } else {
      const ok = runs as Array<{ inMemory: boolean; result: { rate: number; backend: string } }>
      const mean = (inMemory: boolean) => {
        const rates = ok.filter((r) => r.inMemory === inMemory).map((r) => r.result.rate)
        return rates.reduce((a, b) => a + b, 0) / rates.length
      }
      const each = ok.map((r) => `${r.inMemory ? "memory" : "cache"} ${r.result.rate.toFixed(0)}`).join(", ")
      console.log(
        `(e) real trainer on the folder (quickstart models, ${ok[0]!.result.backend}, 4 runs A B B A, mean of 3 distillation epochs each: ${each}): ` +
          `in memory ${mean(true).toFixed(0)} img/s, streamed from the cache ${mean(false).toFixed(0)} img/s ` +
          `(${((100 * mean(false)) / mean(true)).toFixed(0)}%)`
      )
    }
  }

  console.log(`load average after: ${load()}`)
  const streamed = rows.filter(([label]) => label.startsWith("(b3)")).map(([, r]) => r)
  const rate = (prefix: string) => rows.find(([label]) => label.startsWith(prefix))?.[1]
  const times = (r: number | undefined) => (r === undefined ? "n/a" : `${(r / trainerRate).toFixed(1)}x`)
  console.log(
    `target: data pipeline >= 5x the trainer's rate. In memory (a): ${times(rate("(a)"))}; ` +
      `streamed from the decode-once cache (d1): ${times(rate("(d1)"))}, from the disk (d2, d3): ${times(rate("(d2)"))}, ${times(rate("(d3)"))}; ` +
      `decoding every epoch (best b3): ${times(Math.max(...streamed))}; building the cache once (d0): ${times(rate("(d0)"))}`
  )
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
