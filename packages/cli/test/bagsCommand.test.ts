import { createEncoder, saveWeights } from "@bingo/backbones"
import { knnBags, readBagsNpy, readNpy } from "@bingo/bag-miner"
import { Rng } from "@bingo/runtime"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { runCli } from "../src/runCli.ts"

/**
 * `bingo embed` and `bingo bags ...` on 90 shapes with a random MLP teacher given as weights:
 * the sharded files, the n x n search tasks, the merge against knnBags on the same features,
 * the all-in-one command, the no-ops and the typed errors.
 */
const config = (outDir: string, teacher: string) =>
  [
    "seed: 1",
    "backend: cpu",
    `outDir: ${outDir}`,
    "dataset: { name: shapes, options: { trainSize: 90, testSize: 10, size: 8, seed: 0 } }",
    "augment: { outputSize: 8 }",
    `teacher: { backbone: mlp, headHidden: 16, embeddingDim: 8${teacher} }`,
    "bags: { method: knn, k: 3 }",
    "student: { backbone: mlp, headHidden: 16, embeddingDim: 8 }"
  ].join("\n")

let dir = ""
const cli = async (...argv: Array<string>) => {
  const stderr: Array<string> = []
  const code = await runCli(argv, { stderr: (t) => void stderr.push(t), log: false, progress: false })
  return { code, stderr: stderr.join("") }
}
const read = (path: string) => Effect.runPromise(readNpy(path))

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "bingo-cli-bags-"))
  const encoder = createEncoder(
    { backbone: "mlp", inputShape: [8, 8, 1], widthMultiplier: 1, headHidden: 16, embeddingDim: 8 },
    Rng.fromSeed(5),
    "teacher"
  )
  await Effect.runPromise(saveWeights(join(dir, "teacher.safetensors"), encoder.params, { spec: JSON.stringify(encoder.spec) }))
  writeFileSync(join(dir, "run.yaml"), config("out", ", weights: teacher.safetensors"))
  writeFileSync(join(dir, "pretrain.yaml"), config("pretrain-out", ", pretrain: { epochs: 1, batchSize: 30, queueSize: 60 }"))
})

describe("bingo embed / bags", () => {
  it("refuses to embed with a teacher that needs pre-training", async () => {
    const r = await cli("embed", join(dir, "pretrain.yaml"), "--shard", "0/1")
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`teacher.weights: not set, and ${join(dir, "pretrain-out", "teacher.safetensors")} does not exist`)
    expect(r.stderr).toContain("run `bingo run` on this config first")
  })

  it("bingo bags in one process pre-trains that teacher first, as bingo run does", async () => {
    const r = await cli("bags", join(dir, "pretrain.yaml"))
    expect(r).toEqual({ code: 0, stderr: "" })
    for (const file of ["teacher.safetensors", "bags.npy", "embeddings/rows-0-of-1.npy", "embeddings/bags.json"])
      expect(existsSync(join(dir, "pretrain-out", file)), file).toBe(true)
  })

  it("embeds in shards, searches n x n tasks and merges into knnBags' bags of the same features", async () => {
    const yaml = join(dir, "run.yaml")
    const emb = join(dir, "out", "embeddings")
    for (const shard of ["0/2", "1/2"]) expect((await cli("embed", yaml, "--shard", shard)).code).toBe(0)
    const f0 = await read(join(emb, "features-0-of-2.npy"))
    const f1 = await read(join(emb, "features-1-of-2.npy"))
    const rows1 = await read(join(emb, "rows-1-of-2.npy"))
    expect(f0.shape).toEqual([45, f0.shape[1]])
    expect(f1.shape[0]).toBe(45)
    expect(rows1.dtype).toBe("int64")
    expect(Array.from(rows1.data as BigInt64Array, Number)).toEqual(Array.from({ length: 45 }, (_, i) => 45 + i))
    // a finished shard is not embedded again
    const mtime = statSync(join(emb, "features-0-of-2.npy")).mtimeMs
    expect((await cli("embed", yaml, "--shard", "0/2")).code).toBe(0)
    expect(statSync(join(emb, "features-0-of-2.npy")).mtimeMs).toBe(mtime)
    // another shard count next to these is refused
    const other = await cli("embed", yaml, "--shard", "0/3")
    expect(other.code).toBe(1)
    expect(other.stderr).toContain("embedding as 3 shards, but files of 2 shards are there")

    // exact search: index has nothing to do; search needs 4 tasks
    expect((await cli("bags", "index", yaml, "--shard", "0/2")).code).toBe(0)
    expect(existsSync(join(emb, "index-0-of-2.usearch"))).toBe(false)
    const wrongT = await cli("bags", "search", yaml, "--shard", "0/3")
    expect(wrongT.code).toBe(1)
    expect(wrongT.stderr).toContain("bags search: 3 tasks, but 2 embedding shards need 2 x 2 = 4")
    for (const t of [0, 1, 3]) expect((await cli("bags", "search", yaml, "--shard", `${t}/4`)).code).toBe(0)
    const missing = await cli("bags", "merge", yaml)
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain("missing topk-1-0-of-2.ids.npy, topk-1-0-of-2.sims.npy, topk-1-0-of-2.json")
    expect((await cli("bags", "search", yaml, "--shard", "2/4")).code).toBe(0)
    expect((await cli("bags", "merge", yaml)).code).toBe(0)

    const features = new Float32Array([...(f0.data as Float32Array), ...(f1.data as Float32Array)])
    await tf.setBackend("cpu")
    const expected = knnBags(features, f0.shape[1]!, { k: 3 })
    const bags = await Effect.runPromise(readBagsNpy(join(dir, "out", "bags.npy")))
    expect(Array.from(bags.neighbours)).toEqual(Array.from(expected.neighbours))
    const report = JSON.parse(readFileSync(join(emb, "bags.json"), "utf8"))
    expect(report).toMatchObject({ N: 90, D: f0.shape[1], K: 3, shards: 2, search: "exact", recall: null })
    expect(report.purity).toBeGreaterThan(0)
    expect(report.seconds.embed).toBeGreaterThan(0)

    // all in one process, in a fresh outDir: one shard, the same bags
    const one = await cli("bags", yaml, "--set", "outDir=one")
    expect(one).toEqual({ code: 0, stderr: "" })
    expect(existsSync(join(dir, "one", "embeddings", "rows-0-of-1.npy"))).toBe(true)
    const oneBags = await Effect.runPromise(readBagsNpy(join(dir, "one", "bags.npy")))
    expect(Array.from(oneBags.neighbours)).toEqual(Array.from(expected.neighbours))
  })

  it("with bags.search hnsw: index tasks, search tasks, merge with recall in bags.json", async () => {
    const yaml = join(dir, "run.yaml")
    const set = ["--set", "outDir=hnsw", "--set", "bags.search=hnsw", "--set", "bags.hnsw.threads=1"]
    for (const shard of ["0/2", "1/2"]) expect((await cli("embed", yaml, "--shard", shard, ...set)).code).toBe(0)
    const wrongN = await cli("bags", "index", yaml, "--shard", "0/3", ...set)
    expect(wrongN.stderr).toContain("bags index: 3 tasks, but there are 2 embedding shards")
    const early = await cli("bags", "search", yaml, "--shard", "1/4", ...set)
    expect(early.code).toBe(1)
    expect(early.stderr).toContain("missing index-1-of-2.usearch; run `bingo bags index <config.yaml>` for those shards first")
    for (const shard of ["0/2", "1/2"]) expect((await cli("bags", "index", yaml, "--shard", shard, ...set)).code).toBe(0)
    for (let t = 0; t < 4; t++) expect((await cli("bags", "search", yaml, "--shard", `${t}/4`, ...set)).code).toBe(0)
    expect((await cli("bags", "merge", yaml, ...set)).code).toBe(0)
    const report = JSON.parse(readFileSync(join(dir, "hnsw", "embeddings", "bags.json"), "utf8"))
    expect(report).toMatchObject({ N: 90, K: 3, shards: 2, search: "hnsw", recallSample: 90 })
    expect(report.recall).toBeGreaterThan(0.9)
    expect(report.index.built).toMatchObject({ connectivity: 16, expansionAdd: 128, quantization: "f16", threads: 1 })
    rmSync(join(dir, "hnsw"), { recursive: true })
  })
})
