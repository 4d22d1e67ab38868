/**
 * `pnpm bench:teacher`: the teacher's embedding pass (`Teacher.embedDataset`, the pass bag mining
 * and the teacher's evaluation run) of one network in two runtimes: the ONNX graph in
 * onnxruntime-node (CPU) and the same weights as a bingo encoder in TF.js (`weightsFormat:
 * torchvision`), on the native cpu kernels and on wasm. Prints images/s for each.
 *
 * Networks (--network): `tiny` (default), the test fixture (test/fixtures/export_onnx.py: ResNet-18
 * at 1/16 width, CIFAR stem, 16x16x3, MoCo head); `resnet18`, full-width ResNet-18 (CIFAR stem,
 * 32x32x3, MoCo-v2 head 512-2048-128), exported by `export_onnx.py --bench <dir>` with Debian's
 * PyTorch into a temporary folder on first use (not committed, 50 MB). Any other network exported
 * the same way can be given with --onnx, --safetensors and --spec (a JSON EncoderSpec whose
 * inputShape matches the ONNX input).
 *
 * Options: --images <n> (synthetic 3-channel shapes, default 4096)  --repeats <n> (timed passes,
 *          median reported; default 3)  --runtimes onnx,tfjs-native,tfjs-wasm
 * Each runtime runs in its own process (TF.js backends are global state; the ONNX run uses
 * cpu-native, else wasm, for the views' preprocessing). The load average is printed before and
 * after: figures are only comparable on a quiet machine.
 */
import { Runtime } from "@bingo/runtime"
import type { EncoderSpec } from "@bingo/backbones"
import { makeShapes } from "@bingo/data"
import { Effect, Layer, Logger } from "effect"
import { spawnSync } from "node:child_process"
import { cpus, loadavg } from "node:os"
import { existsSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { Teacher } from "../src/Teacher.ts"

const fixtures = join(import.meta.dirname, "..", "test", "fixtures")
const benchDir = join(tmpdir(), "bingo-bench-teacher")
const networks: Record<string, { readonly onnx: string; readonly safetensors: string; readonly spec: EncoderSpec }> = {
  tiny: {
    onnx: join(fixtures, "resnet18_tiny.onnx"),
    safetensors: join(fixtures, "resnet18_tiny.safetensors"),
    spec: { backbone: "resnet18", inputShape: [16, 16, 3], widthMultiplier: 1 / 16, stem: "cifar", headHidden: 32, embeddingDim: 16 }
  },
  resnet18: {
    onnx: join(benchDir, "resnet18_32.onnx"),
    safetensors: join(benchDir, "resnet18_32.safetensors"),
    spec: { backbone: "resnet18", inputShape: [32, 32, 3], widthMultiplier: 1, stem: "cifar", headHidden: 2048, embeddingDim: 128 }
  }
}
const { values } = parseArgs({
  options: {
    network: { type: "string", default: "tiny" },
    onnx: { type: "string" },
    safetensors: { type: "string" },
    spec: { type: "string" },
    images: { type: "string", default: "4096" },
    repeats: { type: "string", default: "3" },
    runtimes: { type: "string", default: "onnx,tfjs-native,tfjs-wasm" },
    worker: { type: "string" }
  }
})

interface Result {
  readonly runtime: string
  readonly backend: string
  readonly images: number
  readonly medianSeconds: number
  readonly imagesPerSecond: number
  readonly peakRssMiB: number
}

const imagenet = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }

const network = networks[values.network!]
if (network === undefined) throw new Error(`--network must be one of ${Object.keys(networks).join(", ")}, got '${values.network}'`)
const onnxPath = values.onnx ?? network.onnx
const safetensorsPath = values.safetensors ?? network.safetensors
const specOf = (): EncoderSpec => (values.spec === undefined ? network.spec : (JSON.parse(values.spec) as EncoderSpec))

/** The `resnet18` network's files, exported with Debian's PyTorch the first time. */
const ensureExported = (): void => {
  if (values.network !== "resnet18" || values.onnx !== undefined || (existsSync(onnxPath) && existsSync(safetensorsPath))) return
  console.log(`exporting full-width ResNet-18 to ${benchDir} (export_onnx.py --bench, needs python3-torch)`)
  const r = spawnSync("/usr/bin/python3", [join(fixtures, "export_onnx.py"), "--bench", benchDir], { stdio: "inherit" })
  if (r.status !== 0) throw new Error("export_onnx.py --bench failed: install Debian's python3-torch (apt-get install -y python3-torch)")
}

const worker = async (runtime: string): Promise<Result> => {
  const spec = specOf()
  const [size, , channels] = spec.inputShape
  const n = Number(values.images)
  const data = makeShapes({ n, size, channels: channels as 1 | 3, seed: 0 })
  const augment = { outputSize: size, ...imagenet }
  const teacher =
    runtime === "onnx"
      ? Teacher.layerOnnx({
          weights: onnxPath,
          featureOutput: "features",
          embeddingOutput: "embedding",
          input: { layout: "NCHW", ...imagenet },
          views: { augment, channels }
        })
      : Teacher.layerPretrained({ spec, weights: safetensorsPath, format: "torchvision" })
  const backend = runtime === "tfjs-wasm" ? "wasm" : "auto"
  const program = Effect.gen(function* () {
    const t = yield* Teacher
    yield* t.embedDataset(data, augment) // warm-up
    const seconds: Array<number> = []
    for (let i = 0; i < Number(values.repeats); i++) {
      const t0 = performance.now()
      yield* t.embedDataset(data, augment)
      seconds.push((performance.now() - t0) / 1000)
    }
    const median = [...seconds].sort((a, b) => a - b)[Math.floor(seconds.length / 2)]!
    const rt = yield* Runtime
    return {
      runtime,
      backend: rt.backend,
      images: n,
      medianSeconds: median,
      imagesPerSecond: n / median,
      peakRssMiB: process.resourceUsage().maxRSS / 1024
    } satisfies Result
  })
  return Effect.runPromise(
    Effect.scoped(program).pipe(
      Effect.provide(teacher.pipe(Layer.provideMerge(Runtime.layer({ backend, seed: 0 })))),
      Effect.provide(Logger.layer([]))
    )
  )
}

const main = async () => {
  if (values.worker !== undefined) {
    console.log(JSON.stringify(await worker(values.worker)))
    return
  }
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")
  ensureExported()
  console.log(`bench:teacher: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}; load average before: ${load()}`)
  console.log(`network: ${values.network} (${onnxPath} / ${safetensorsPath}), ${values.images} images, median of ${values.repeats} passes`)
  const results: Array<Result> = []
  for (const runtime of values.runtimes!.split(",")) {
    const args = [...process.execArgv, process.argv[1]!, ...process.argv.slice(2), "--worker", runtime]
    const r = spawnSync(process.execPath, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })
    if (r.status !== 0) {
      console.log(`  ${runtime}: failed (exit ${r.status})`)
      continue
    }
    const result = JSON.parse(r.stdout.trim().split("\n").pop()!) as Result
    results.push(result)
    console.log(
      `  ${runtime.padEnd(12)} ${result.backend.padEnd(10)} ${result.medianSeconds.toFixed(2)} s  ${result.imagesPerSecond.toFixed(0)} img/s  peak RSS ${result.peakRssMiB.toFixed(0)} MiB`
    )
  }
  console.log(`load average after: ${load()}`)
  console.log("\n| runtime | TF.js backend | images | s / pass (median) | img/s | peak RSS MiB |\n|---|---|---|---|---|---|")
  for (const r of results) {
    console.log(
      `| ${r.runtime} | ${r.backend} | ${r.images} | ${r.medianSeconds.toFixed(2)} | ${r.imagesPerSecond.toFixed(0)} | ${r.peakRssMiB.toFixed(0)} |`
    )
  }
}

await main()
