/**
 * Where one block of exact kNN search spends its time: the similarity matMul of 1,024 query rows
 * against all N rows (pre-transposed, as `exactTopK` runs it, and with transposeB) and the
 * top-(K+1) of each row, each read back, three repetitions (the first includes warm-up).
 *
 *   cd packages/bag-miner && BINGO_NATIVE_THREADS=2 pnpm tsx scripts/profileKnnBlock.ts [--n 60000 --dim 512 --rows 1024]
 *
 * Random normal features; the time does not depend on the values. Times are only meaningful on
 * a quiet machine (the load average is printed).
 */
import { Runtime } from "@bingo/runtime"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { loadavg } from "node:os"
import { parseArgs } from "node:util"

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "60000" },
    dim: { type: "string", default: "512" },
    rows: { type: "string", default: "1024" },
    k: { type: "string", default: "5" }
  }
})
const n = Number(values.n)
const dim = Number(values.dim)
const rows = Number(values.rows)
const width = Number(values.k) + 1

const program = Effect.gen(function* () {
  const runtime = yield* Runtime
  console.log(
    `${rows} x ${n} x ${dim} block on ${runtime.backend}; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`
  )
  const all = tf.randomNormal([n, dim], 0, 1, "float32", 0) as tf.Tensor2D
  const allT = tf.transpose(all) as tf.Tensor2D
  const queries = tf.slice(all, [0, 0], [rows, dim])
  const gflop = (2 * rows * n * dim) / 1e9
  for (let rep = 0; rep < 3; rep++) {
    let t = performance.now()
    const sim = tf.matMul(queries, allT)
    sim.dataSync()
    const matMul = performance.now() - t
    t = performance.now()
    const top = tf.topk(sim, width)
    top.values.dataSync()
    top.indices.dataSync()
    const topk = performance.now() - t
    t = performance.now()
    const simB = tf.matMul(queries, all, false, true)
    simB.dataSync()
    const matMulB = performance.now() - t
    console.log(
      `  matMul ${matMul.toFixed(0)} ms (${((gflop / matMul) * 1000).toFixed(0)} GFLOP/s), top-${width} ${topk.toFixed(0)} ms, ` +
        `matMul with transposeB ${matMulB.toFixed(0)} ms`
    )
    tf.dispose([sim, top.values, top.indices, simB])
  }
  tf.dispose([all, allT, queries])
})

await Effect.runPromise(program.pipe(Effect.provide(Runtime.layer({ backend: "auto", seed: 0 }))))
