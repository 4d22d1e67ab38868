/**
 * Exact vs HNSW kNN search for bag mining, on synthetic clustered vectors: where `bags.search:
 * auto` should switch (`bags.exactUpTo`) and what sharded mining costs (docs/scaling.md).
 *
 *   pnpm bench:bags                      # 1,000,000 x 128 and 200,000 x 512, exact and HNSW, 1 and 2 threads
 *   pnpm bench:bags --smoke              # 5,000 x 32: checks that it runs (its times mean nothing)
 *   pnpm bench:bags --n 1000000 --dim 128 --threads 1,2,4 --modes hnsw --quantization f16,i8
 *
 * Options: --n and --dim (comma lists, paired: the i-th n with the i-th dim), --k 5,
 * --threads 1,2 (usearch threads of HNSW build and search), --modes exact,hnsw,
 * --quantization f16 (comma list), --connectivity 16 --expansion-add 128 --expansion-search 192 (the library's defaults),
 * --clusters 1000 --spread 0.35 (mixture of Gaussians on the sphere), --exact-rows 4096,
 * --recall-sample 1000, --backend auto|wasm|cpu (TF.js backend of exact search; auto = what `bingo run` picks: the native kernels when built), --seed 0.
 *
 * What each line measures:
 * - exact: `exactTopKSteps` (knnBags' block search, K+1 per row) of `--exact-rows` sampled query
 *   rows against all N rows, on the TF.js backend, in blocks of at most 256 MiB of similarities
 *   (`boundedChunkSize`, as sharded search uses); the time for all N query rows is extrapolated:
 *   the one-time setup (normalising and transposing the N rows, timed with a 1-row search) plus
 *   the rest scaled linearly (every query row costs the same). Its lists are also the
 *   ground truth of recall.
 * - hnsw: build an index of all N rows, then search every row's K+1 nearest (what bag mining
 *   does), both measured in full; recall@K of the HNSW bags against the exact bags of the
 *   sampled rows.
 * - ratio: exact (extrapolated) / HNSW (build + search), from this invocation.
 * - peak RSS: the process's maximum so far (it only grows: later lines include earlier peaks).
 * The load average is printed at the start and the end: times are only meaningful on a quiet machine.
 */
import { Rng, Runtime, type BackendChoice } from "@bingo/runtime"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { cpus, loadavg } from "node:os"
import { parseArgs } from "node:util"
import { boundedChunkSize, exactTopKSteps } from "../src/exactTopK.ts"
import { buildHnswSteps, createHnswIndex, loadUsearch, searchHnswSteps, unitRows } from "../src/HnswIndex.ts"
import { defaultHnswOptions, type HnswOptions, type HnswQuantization } from "../src/KnnSearch.ts"
import { mergeTopK } from "../src/mergeTopK.ts"
import { recallAtK, sampleRows } from "../src/recallAtK.ts"
import { runSteps } from "../src/runSteps.ts"

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "1000000,200000" },
    dim: { type: "string", default: "128,512" },
    k: { type: "string", default: "5" },
    threads: { type: "string", default: "1,2" },
    modes: { type: "string", default: "exact,hnsw" },
    quantization: { type: "string", default: "f16" },
    connectivity: { type: "string", default: String(defaultHnswOptions.connectivity) },
    "expansion-add": { type: "string", default: String(defaultHnswOptions.expansionAdd) },
    "expansion-search": { type: "string", default: String(defaultHnswOptions.expansionSearch) },
    clusters: { type: "string", default: "1000" },
    spread: { type: "string", default: "0.35" },
    "exact-rows": { type: "string", default: "4096" },
    "recall-sample": { type: "string", default: "1000" },
    backend: { type: "string", default: "auto" },
    seed: { type: "string", default: "0" },
    smoke: { type: "boolean", default: false }
  }
})

const list = (text: string): Array<string> =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
const numbers = (text: string, name: string): Array<number> =>
  list(text).map((s) => {
    const v = Number(s)
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${name}: ${s} is not a positive integer`)
    return v
  })

const smoke = values.smoke === true
const ns = smoke ? [5000] : numbers(values.n!, "n")
const dims = smoke ? [32] : numbers(values.dim!, "dim")
if (ns.length !== dims.length) throw new Error(`--n and --dim pair up: ${ns.length} sizes for ${dims.length} widths`)
const k = Number(values.k)
const threadCounts = numbers(values.threads!, "threads")
const modes = list(values.modes!)
for (const m of modes) if (m !== "exact" && m !== "hnsw") throw new Error(`--modes: unknown mode '${m}' (exact, hnsw)`)
const quantizations = list(values.quantization!) as Array<HnswQuantization>
const clusters = smoke ? 50 : Number(values.clusters)
const spread = Number(values.spread)
const exactRows = Number(values["exact-rows"])
const recallSample = Number(values["recall-sample"])
const seed = Number(values.seed)

const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")
const peakMiB = () => Math.round(process.resourceUsage().maxRSS / 1024)
const seconds = (from: number) => (performance.now() - from) / 1000

/**
 * n points of a mixture of `clusters` Gaussians on the unit sphere of R^dim: centre c uniform on
 * the sphere, point = normalise(c + spread / sqrt(dim) * N(0, I)), a seeded draw.
 */
const clustered = (n: number, dim: number): Float32Array => {
  const rng = Rng.fromSeed(seed)
  const centres = new Float32Array(clusters * dim)
  for (let c = 0; c < clusters; c++) {
    let norm = 0
    for (let d = 0; d < dim; d++) {
      const v = rng.normal()
      centres[c * dim + d] = v
      norm += v * v
    }
    for (let d = 0; d < dim; d++) centres[c * dim + d]! /= Math.sqrt(norm)
  }
  const out = new Float32Array(n * dim)
  const scale = spread / Math.sqrt(dim)
  for (let i = 0; i < n; i++) {
    const c = rng.int(clusters)
    for (let d = 0; d < dim; d++) out[i * dim + d] = centres[c * dim + d]! + scale * rng.normal()
  }
  return unitRows(out, dim)
}

const program = Effect.gen(function* () {
  const runtime = yield* Runtime
  console.log(
    `bench:bags${smoke ? " --smoke (times mean nothing)" : ""}: K=${k}, modes ${modes.join(",")}, threads ${threadCounts.join(",")}, ` +
      `exact on TF.js ${runtime.backend}; ${cpus().length} x ${cpus()[0]?.model}; node ${process.version}`
  )
  console.log(`load average at start: ${load()}`)
  const usearch = modes.includes("hnsw") ? yield* loadUsearch : undefined
  for (let c = 0; c < ns.length; c++) {
    const n = ns[c]!
    const dim = dims[c]!
    const t0 = performance.now()
    const features = clustered(n, dim)
    console.log(`\n${n} x ${dim}: ${clusters} clusters, spread ${spread}, generated in ${seconds(t0).toFixed(1)} s`)
    // the rows whose exact lists are timed and serve as recall's ground truth
    const sample = sampleRows(n, Math.max(Math.min(exactRows, n), Math.min(recallSample, n)), seed + 1)
    const queries = new Float32Array(sample.length * dim)
    sample.forEach((row, j) => queries.set(features.subarray(row * dim, (row + 1) * dim), j * dim))
    // the one-time cost of a search (normalising and transposing all N rows), timed apart with one
    // query row so that the extrapolation scales only the per-row part
    const t0s = performance.now()
    runSteps(exactTopKSteps(queries.subarray(0, dim), features, dim, { width: k + 1, chunkSize: boundedChunkSize(n) }))
    const setup = seconds(t0s)
    const t1 = performance.now()
    const exactTop = runSteps(exactTopKSteps(queries, features, dim, { width: k + 1, chunkSize: boundedChunkSize(n) }))
    const exactSample = seconds(t1)
    const exact = mergeTopK([exactTop], sample, k)
    const exactAll = setup + (Math.max(0, exactSample - setup) * n) / sample.length
    if (modes.includes("exact"))
      console.log(
        `  exact: ${sample.length} query rows in ${exactSample.toFixed(2)} s (of which ~${setup.toFixed(2)} s one-time setup, timed with 1 row) -> all ${n} rows ${exactAll.toFixed(1)} s (extrapolated); peak RSS ${peakMiB()} MiB`
      )
    if (usearch === undefined) continue
    for (const quantization of quantizations) {
      for (const threads of threadCounts) {
        const options: HnswOptions = {
          connectivity: Number(values.connectivity),
          expansionAdd: Number(values["expansion-add"]),
          expansionSearch: Number(values["expansion-search"]),
          quantization,
          threads
        }
        const index = createHnswIndex(usearch, dim, options)
        const ids = Int32Array.from({ length: n }, (_, i) => i)
        const t2 = performance.now()
        runSteps(buildHnswSteps(index, features, dim, ids, threads))
        const build = seconds(t2)
        const t3 = performance.now()
        const top = runSteps(searchHnswSteps(index, features, dim, k + 1, threads))
        const query = seconds(t3)
        const bags = mergeTopK([top], ids, k)
        const approx = new Int32Array(sample.length * k)
        sample.forEach((row, j) => approx.set(bags.subarray(row * k, (row + 1) * k), j * k))
        const recall = recallAtK(approx, exact, k)
        console.log(
          `  hnsw ${quantization} M=${options.connectivity} ef_add=${options.expansionAdd} ef_search=${options.expansionSearch}, ${threads} thread(s): ` +
            `build ${build.toFixed(1)} s, query ${query.toFixed(1)} s (${Math.round(n / query)} rows/s), recall@${k} ${(100 * recall).toFixed(2)}% ` +
            `(${sample.length} rows); exact/hnsw ${(exactAll / (build + query)).toFixed(1)}x; peak RSS ${peakMiB()} MiB`
        )
      }
    }
  }
  console.log(`\nload average at end: ${load()}; tensors left ${tf.memory().numTensors}`)
})

Effect.runPromise(program.pipe(Effect.provide(Runtime.layer({ backend: values.backend as BackendChoice, seed })))).catch((e: unknown) => {
  console.error(String(e))
  process.exitCode = 1
})
