import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type MetricsLine, readMetrics } from "@bingo/training"
import { Effect, Layer } from "effect"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Rng, Runtime } from "@bingo/runtime"
import { createEncoder, decodeSafetensors, disposeEncoder, saveWeights } from "@bingo/backbones"
import { writeNpy } from "@bingo/bag-miner"
import { runCli } from "../src/runCli.ts"
import { runCli as runCliProcess, stackLine } from "./cliProcess.ts"

/**
 * Every bad input a user can give `bingo run` ends in one typed error that names what is wrong
 * and where, printed as `bingo: <message>` with exit code 1 and no stack trace. Most cases call
 * `runCli` (exactly what main.ts runs, without a process start per case); the NaN case and one
 * data error spawn the real command. docs/errors.md lists these messages.
 */
const root = mkdtempSync(join(tmpdir(), "bingo-errors-"))
const cfg = join(root, "errors.yaml")
const teacherSpec = { backbone: "mlp", inputShape: [16, 16, 1] as const, widthMultiplier: 0.25, headHidden: 16, embeddingDim: 8 }
const seen: Array<[string, string]> = []

const fixture = (...parts: Array<string>) => join(root, ...parts)

beforeAll(async () => {
  writeFileSync(
    cfg,
    `
name: errors
seed: 1
backend: cpu
outDir: out
dataset: { name: shapes, options: { trainSize: 64, testSize: 32, size: 16, seed: 0 } }
augment: { outputSize: 16 }
teacher: { backbone: mlp, widthMultiplier: 0.25, headHidden: 16, embeddingDim: 8, pretrain: { epochs: 1, batchSize: 32, queueSize: 64 } }
bags: { method: knn, k: 3 }
student: { backbone: mlp, widthMultiplier: 0.125, headHidden: 16, embeddingDim: 8 }
distill: { epochs: 2, batchSize: 16, queueSize: 64, checkpointEverySteps: 2 }
eval: { knn: { k: 10 }, linear: { epochs: 2 }, randomBaseline: false, teacher: false }
`
  )
  // IDX: a truncated image file, and a well-formed one holding 0 images
  const idx = (dir: string, n: number, imageBytes: number, split = "train", side = 16) => {
    mkdirSync(fixture(dir), { recursive: true })
    const header = Buffer.alloc(16)
    header.writeUInt32BE(0x803, 0)
    header.writeUInt32BE(n, 4)
    header.writeUInt32BE(side, 8)
    header.writeUInt32BE(side, 12)
    writeFileSync(fixture(dir, `${split}-images-idx3-ubyte`), Buffer.concat([header, Buffer.alloc(imageBytes)]))
    const labels = Buffer.alloc(8)
    labels.writeUInt32BE(0x801, 0)
    labels.writeUInt32BE(n, 4)
    writeFileSync(fixture(dir, `${split}-labels-idx1-ubyte`), Buffer.concat([labels, Buffer.alloc(n)]))
  }
  idx("idx-truncated", 10, 100)
  idx("idx-empty", 0, 0)
  // 16x16 training images, 8x8 test images
  idx("idx-sizes", 4, 4 * 256)
  idx("idx-sizes", 4, 4 * 64, "t10k", 8)
  // CIFAR-10 binary: a batch file cut short (not a whole number of 3073-byte records)
  mkdirSync(fixture("cifar", "cifar-10-batches-bin"), { recursive: true })
  writeFileSync(fixture("cifar", "cifar-10-batches-bin", "data_batch_1.bin"), Buffer.alloc(3073 * 2 + 100))
  // image folders: one class holding a file that is not an image; one class holding nothing
  mkdirSync(fixture("folder-corrupt", "cat"), { recursive: true })
  writeFileSync(fixture("folder-corrupt", "cat", "broken.png"), "this is not a PNG")
  mkdirSync(fixture("folder-empty", "cat"), { recursive: true })
  // bag files: 10 rows for a 64-image dataset; 64 rows with one index out of range
  const bags = (name: string, rows: number, bad?: number) => {
    const data = new BigInt64Array(rows * 3)
    for (let i = 0; i < rows; i++) for (let j = 0; j < 3; j++) data[i * 3 + j] = BigInt((i + j + 1) % rows)
    if (bad !== undefined) data[3 * 3 + 1] = BigInt(bad)
    return Effect.runPromise(writeNpy(fixture(name), { dtype: "int64", shape: [rows, 3], data }))
  }
  await bags("bags-10.npy", 10)
  await bags("bags-out-of-range.npy", 64, 999)
  // a teacher saved exactly as `bingo run` saves one (16x16x1 inputs)
  await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        yield* Layer.build(Runtime.layerTest)
        const teacher = createEncoder(teacherSpec, Rng.fromSeed(0), "fixture-teacher")
        yield* saveWeights(fixture("teacher-grey16.safetensors"), teacher.params, { spec: JSON.stringify(teacherSpec) })
        disposeEncoder(teacher)
      })
    )
  )
  // a loss plugin that is finite in epoch 1 and NaN from epoch 2 on
  writeFileSync(
    fixture("nanLoss.mjs"),
    `export default {
  name: "nan-after-epoch-1",
  description: "finite in epoch 1, NaN after (for tests)",
  needs: [],
  defaults: {},
  decodeOptions: () => ({}),
  compute: (v) => v.epoch === 0 ? v.studentAnchor.mul(v.teacherAnchor).sum(1).mean().neg() : v.studentAnchor.mean().div(0).mul(0)
}
`
  )
}, 60_000)

afterAll(() => {
  // the messages as a user sees them (docs/errors.md copies them)
  console.log(seen.map(([name, text]) => `${name}\n  ${text.trimEnd().split("\n").join("\n  ")}`).join("\n"))
})

/** `bingo run errors.yaml --set ...` through runCli: the exit code and what went to stderr. */
const run = async (name: string, sets: ReadonlyArray<string>) => {
  let stderr = ""
  const code = await runCli(["run", cfg, ...sets.flatMap((s) => ["--set", s])], { stderr: (t) => (stderr += t), log: false })
  seen.push([name, stderr.replaceAll(root, "<tmp>")])
  return { code, stderr }
}

/** The run fails with exit code 1 and exactly this kind of message, and no stack trace. */
const expectError = async (name: string, sets: ReadonlyArray<string>, message: RegExp) => {
  const { code, stderr } = await run(name, sets)
  expect(code).toBe(1)
  expect(stderr).toMatch(/^bingo: /)
  expect(stderr).toMatch(message)
  expect(stderr).not.toMatch(stackLine)
  return stderr
}

const out = (name: string) => `outDir=${fixture("runs", name)}`

describe("bad input: one typed error, no stack trace", () => {
  it("config: an unknown key, a mistyped value, a bad --set value", async () => {
    await expectError("unknown YAML key", [out("c1"), "distill.epochz=3"], /errors\.yaml: distill\.epochz: Unexpected key with value 3$/m)
    await expectError("mistyped value", [out("c1"), "distill.epochs=ten"], /errors\.yaml: distill\.epochs: Expected number, got "ten"$/m)
    await expectError(
      "bad --set value",
      [out("c1"), "dataset.options={dir:"],
      /override 'dataset\.options=\{dir:': value is not valid YAML: Flow map must end with a \}/
    )
    await expectError(
      "unknown backbone",
      [out("c1"), "student.backbone=resnet99"],
      /errors\.yaml: student\.backbone: unknown backbone 'resnet99'; available: mlp, /
    )
    await expectError("unknown loss", [out("c1"), "distill.loss.name=nope"], /unknown loss 'nope'; available: bingo, /)
  })

  it("augmentation inconsistent with itself or with the data", async () => {
    await expectError(
      "empty crop range",
      [out("a1"), "augment.cropScale=[1, 0.2]"],
      /errors\.yaml: augment\.cropScale: need 0 < lo <= hi <= 1, got \[1, 0\.2\]/
    )
    await expectError(
      "normalisation vs channels",
      [out("a2"), "augment.mean=[0.5, 0.5, 0.5]"],
      /augment\.mean: 3 values for the 1-channel images of dataset 'shapes' \(expected 1\)/
    )
  })

  it("datasets: a missing path, corrupt files, images of another size, empty datasets, too few images for a batch, no test split, image caches", async () => {
    await expectError(
      "missing dataset path",
      [out("d1"), "dataset.name=idx", `dataset.options={dir: ${fixture("nowhere")}}`],
      /dataset not found: .*nowhere \(no such directory\)/
    )
    await expectError(
      "truncated IDX file",
      [out("d2"), "dataset.name=idx", `dataset.options={dir: ${fixture("idx-truncated")}}`],
      /malformed dataset file .*idx-truncated\/train-images-idx3-ubyte: truncated: dimensions \[10, 16, 16\] need 2576 bytes, file has 116/
    )
    await expectError(
      "corrupt CIFAR batch",
      [out("d3"), "dataset.name=cifar", `dataset.options={dir: ${fixture("cifar")}}`],
      /malformed dataset file .*data_batch_1\.bin: size 6246 is not a multiple of the cifar10 record size 3073/
    )
    await expectError(
      "corrupt image",
      [out("d4"), "dataset.name=folder", `dataset.options={dir: ${fixture("folder-corrupt")}, size: 16, onCorrupt: fail}`],
      /corrupt or unreadable image .*folder-corrupt\/cat\/broken\.png: /
    )
    await expectError(
      "test images of another size",
      [out("d2"), "dataset.name=idx", `dataset.options={dir: ${fixture("idx-sizes")}}`],
      /shape mismatch in .*idx-sizes\/t10k-images-idx3-ubyte: expected \[16, 16\], got \[8, 8\]/
    )
    await expectError(
      "empty IDX file",
      [out("d5"), "dataset.name=idx", `dataset.options={dir: ${fixture("idx-empty")}}`],
      /dataset 'idx-empty' is empty/
    )
    await expectError(
      "empty image folder",
      [out("d6"), "dataset.name=folder", `dataset.options={dir: ${fixture("folder-empty")}, size: 16}`],
      /dataset 'folder-empty' is empty: .*folder-empty/
    )
    await expectError(
      "shapes trainSize 0",
      [out("d7"), "dataset.options.trainSize=0"],
      /invalid options for dataset 'shapes': trainSize: Expected a value greater than or equal to 1, got 0$/m
    )
    await expectError(
      "idx limitTrain 0",
      [out("d7"), "dataset.name=idx", `dataset.options={dir: ${fixture("idx-truncated")}, limitTrain: 0}`],
      /invalid options for dataset 'idx': limitTrain: Expected a value greater than or equal to 1, got 0$/m
    )
    await expectError(
      "fewer images than a batch",
      [out("d8"), "distill.batchSize=128"],
      /distill\.batchSize: 128 is larger than the training set \(64 images\); partial batches are dropped, so no step would run/
    )
    await expectError(
      "a queue shorter than a batch",
      [out("d8q"), "distill.batchSize=32", "distill.queueSize=16"],
      /distill\.queueSize: 16 is smaller than one batch \(distill\.batchSize 32\): each step enqueues a whole batch of keys; use a queue of at least 32/
    )
    await expectError(
      "no test split",
      [out("d9"), "dataset.options.testSize=0"],
      /dataset: dataset 'shapes' has no test split to evaluate on/
    )
    await expectError(
      "inMemory: false without a cache",
      [out("d10"), "dataset.name=folder", `dataset.options={dir: ${fixture("folder-corrupt")}, size: 16, inMemory: false}`],
      /invalid options for dataset 'folder': inMemory: false reads the images from cache files: set cache \(a directory\) too/
    )
    await expectError(
      "image cache that cannot be written",
      [
        out("d11"),
        "dataset.name=folder",
        `dataset.options={dir: ${fixture("folder-corrupt")}, size: 16, cache: ${fixture("folder-corrupt", "cat", "broken.png")}}`
      ],
      /cannot write the image cache .*broken\.png\/train-16x16x3-cover\.bingoimg: EEXIST: file already exists, mkdir/
    )
  })

  it("bag files: missing, N that does not match the dataset, an index out of range", async () => {
    await expectError("bag file missing", [out("b1"), `bags.file=${fixture("nope.npy")}`], /cannot read .*nope\.npy: ENOENT/)
    await expectError(
      "bag file N mismatch",
      [out("b2"), `bags.file=${fixture("bags-10.npy")}`],
      /bags-10\.npy: bag matrix has 10 rows but the dataset has 64 samples/
    )
    await expectError(
      "bag index out of range",
      [out("b3"), `bags.file=${fixture("bags-out-of-range.npy")}`],
      /bags-out-of-range\.npy: row 3 names neighbour 999, outside \[0, 64\)/
    )
  })

  it("teacher weights: missing, another architecture, other input channels, another view size", async () => {
    const weights = `teacher.weights=${fixture("teacher-grey16.safetensors")}`
    await expectError(
      "teacher weights missing",
      [out("t1"), `teacher.weights=${fixture("nope.safetensors")}`],
      /nope\.safetensors: cannot read: ENOENT/
    )
    await expectError(
      "teacher weights: another architecture",
      [out("t2"), weights, "teacher.widthMultiplier=0.5"],
      /teacher weights .*teacher-grey16\.safetensors: tensor 'backbone\.fc0\.weight' has shape \[256, 64\], expected \[256, 128\]; the file was saved from another encoder: widthMultiplier 0\.25 \(file\) vs 0\.5 \(this run\)/
    )
    await expectError(
      "teacher weights: other input channels",
      [out("t3"), weights, "dataset.options.channels=3"],
      /tensor 'backbone\.fc0\.weight' has shape \[256, 64\], expected \[768, 64\]; the file was saved for 16x16x1 inputs but this run feeds 16x16x3 views \(view size 16 from the augmentation's outputSize, 3 channel\(s\) from the dataset\)/
    )
    await expectError(
      "teacher weights: augment.outputSize",
      [out("t4"), weights, "augment.outputSize=8"],
      /tensor 'backbone\.fc0\.weight' has shape \[256, 64\], expected \[64, 64\]; the file was saved for 16x16x1 inputs but this run feeds 8x8x1 views/
    )
  })

  it("a NaN loss stops the real command with one line naming the step and the last good checkpoint; nothing written is lost", async () => {
    const dir = fixture("runs", "nan")
    const sets = [`outDir=${dir}`, `plugins=[${fixture("nanLoss.mjs")}]`, "distill.loss.name=nan-after-epoch-1"]
    const first = await runCliProcess(["run", cfg, ...sets.flatMap((s) => ["--set", s])])
    seen.push(["NaN loss (real process)", first.stderr.replaceAll(root, "<tmp>")])
    expect(first.code).toBe(1)
    // exactly one line
    expect(first.stderr).toMatch(
      /^bingo: distillation diverged at epoch 2, step 1: loss NaN, gradient norm NaN at lr \S+; last good checkpoint: \S+\/nan\/checkpoint\.safetensors\. Try a lower lr [^\n]*\n$/
    )
    const kept = ["teacher.safetensors", "bags.npy", "checkpoint.safetensors"]
    expect(readdirSync(dir).sort()).toEqual([...kept, "config.json", "metrics.jsonl"].sort())
    const checkpoint = decodeSafetensors(readFileSync(join(dir, "checkpoint.safetensors")))
    expect(JSON.parse(checkpoint.metadata["bingo-state"]!).progress).toMatchObject({ epoch: 1, stepInEpoch: 0, globalStep: 4 })
    // running it again resumes from that checkpoint, fails the same way and rewrites nothing
    const bytes = kept.map((f) => readFileSync(join(dir, f)))
    const metricsBefore = readMetrics(join(dir, "metrics.jsonl"))
    const again = await run("NaN loss, re-run", sets)
    expect(again.code).toBe(1)
    expect(again.stderr).toBe(first.stderr)
    kept.forEach((f, i) => expect(Buffer.compare(readFileSync(join(dir, f)), bytes[i]!), f).toBe(0))
    // metrics.jsonl: the re-run dropped its lines past the checkpoint and wrote them again (times aside, the same)
    const untimed = (lines: Array<MetricsLine>) => lines.map(({ time: _t, ...l }) => ({ ...l, imagesPerSecond: 0, seconds: 0 }))
    expect(untimed(readMetrics(join(dir, "metrics.jsonl")))).toEqual(untimed(metricsBefore))

    // the same outDir with other settings: stale results are refused, not silently reused
    await expectError(
      "outDir teacher pre-trained with other settings",
      [...sets, "teacher.pretrain.epochs=2"],
      /teacher weights .*nan\/teacher\.safetensors: pre-trained with other settings: moco\.epochs 1 \(file\) vs 2 \(this run\); it was written by an earlier run in this outDir with another teacher config: delete it \(or use another outDir\) to pre-train afresh/
    )
    await expectError(
      "outDir teacher for other channels",
      [...sets, "dataset.options.channels=3"],
      /nan\/teacher\.safetensors: tensor 'backbone\.fc0\.weight' has shape \[256, 64\], expected \[768, 64\]; the file was saved for 16x16x1 inputs but this run feeds 16x16x3 views .*; it was written by an earlier run in this outDir/
    )
    await expectError(
      "outDir checkpoint of another config",
      [...sets, "distill.lr=0.1"],
      /checkpoint .*nan\/checkpoint\.safetensors: written by a run with a different config \(delete it or change outDir to start afresh\)/
    )
    kept.forEach((f, i) => expect(Buffer.compare(readFileSync(join(dir, f)), bytes[i]!), f).toBe(0))
  }, 120_000)

  it("training made to collapse on purpose (lr 30 per 256: 3.75 at batch 32) stops teacher pre-training with one line naming the stage, epoch, step, evidence and checkpoint", async () => {
    await expectError(
      "collapse (huge lr)",
      [out("collapse"), "dataset.options.trainSize=256", "teacher.pretrain.epochs=6", "teacher.pretrain.lr=30"],
      /^bingo: teacher pre-training collapsed at epoch \d+, step \d+: the teacher embeddings have (a spread of [\d.]+ across the batch|had a spread below)[^\n]*last good checkpoint: \S+teacher\.checkpoint\.safetensors\. Try a lower lr/
    )
  }, 60_000)

  it("the real command prints a data error the same way and exits 1", async () => {
    const r = await runCliProcess([
      "run",
      cfg,
      "--set",
      out("p1"),
      "--set",
      "dataset.name=idx",
      "--set",
      `dataset.options={dir: ${fixture("nowhere")}}`
    ])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^bingo: dataset not found: \S+nowhere \(no such directory\)\n$/)
    expect(existsSync(fixture("runs", "p1"))).toBe(false)
  }, 60_000)
})
