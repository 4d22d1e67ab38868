/**
 * Time exact kNN bag mining (knnBags) on random features.
 *
 *   cd packages/bag-miner
 *   pnpm tsx scripts/timeKnn.ts --backend wasm                 # 60,000 x 512, K = 5, all chunks
 *   pnpm tsx scripts/timeKnn.ts --backend cpu --chunks 2       # time 2 chunks, extrapolate
 *
 * Options: --n 60000 --dim 512 --k 5 --chunk 1024 --backend wasm|cpu|auto --chunks <all>.
 * Prints one line per chunk and a summary with the machine's load average before and after
 * (the figure is only meaningful on a quiet machine).
 */
import { Rng, Runtime, type BackendChoice } from "@bingo/runtime"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { cpus, loadavg } from "node:os"
import { parseArgs } from "node:util"
import { knnBagsSteps } from "../src/knnBags.ts"

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "60000" },
    dim: { type: "string", default: "512" },
    k: { type: "string", default: "5" },
    chunk: { type: "string", default: "1024" },
    backend: { type: "string", default: "wasm" },
    chunks: { type: "string" }
  }
})
const n = Number(values.n)
const dim = Number(values.dim)
const k = Number(values.k)
const chunkSize = Number(values.chunk)
const totalChunks = Math.ceil(n / chunkSize)
const runChunks = values.chunks === undefined ? totalChunks : Math.min(totalChunks, Number(values.chunks))
/** Seconds per chunk after the first (which also pays for normalising and transposing). */
const perChunk = (seconds: number, first: number, chunks: number) => (chunks > 1 ? (seconds - first) / (chunks - 1) : first)
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")

const program = Effect.gen(function* () {
  const runtime = yield* Runtime
  const loadBefore = load()
  const rng = Rng.fromSeed(0)
  const features = Float32Array.from({ length: n * dim }, () => rng.normal())
  console.log(
    `knnBags ${n} x ${dim}, K=${k}, chunk ${chunkSize} on ${runtime.backend}; ${cpus().length} x ${cpus()[0]?.model}; node ${process.version}`
  )
  console.log(`load average before: ${loadBefore}`)
  let peakRss = 0
  const started = performance.now()
  let firstChunk = 0
  const steps = knnBagsSteps(features, dim, { k, chunkSize })
  let chunks = 0
  for (;;) {
    const r = steps.next()
    if (r.done === true) break
    chunks++
    peakRss = Math.max(peakRss, process.memoryUsage().rss)
    const elapsed = (performance.now() - started) / 1000
    if (chunks === 1) firstChunk = elapsed
    console.log(`  ${r.value.done}/${r.value.total} rows  ${elapsed.toFixed(1)} s`)
    if (chunks === runChunks) {
      steps.return(undefined as never)
      break
    }
  }
  const seconds = (performance.now() - started) / 1000
  const summary =
    chunks === totalChunks
      ? `total ${seconds.toFixed(1)} s (${(seconds / 60).toFixed(1)} min), measured`
      : `${chunks} of ${totalChunks} chunks in ${seconds.toFixed(1)} s; ` +
        `extrapolated total ${((firstChunk + perChunk(seconds, firstChunk, chunks) * (n / chunkSize - 1)) / 60).toFixed(1)} min`
  console.log(summary)
  console.log(`peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB; tensors left ${tf.memory().numTensors}; load average after: ${load()}`)
})

Effect.runPromise(program.pipe(Effect.provide(Runtime.layer({ backend: values.backend as BackendChoice, seed: 0 })))).catch(
  (e: unknown) => {
    console.error(String(e))
    process.exitCode = 1
  }
)
