/**
 * `pnpm bench`: one training step of two models, on the native cpu kernels (@bingo/native-cpu),
 * on wasm (bingo's im2col convolutions) and on PyTorch (when importable), in one run; prints
 * img/s for each and the ratio to PyTorch at the same thread count.
 *
 *   resnet18   CIFAR ResNet-18 (3x3 stem, 64-128-256-512, BN in train mode) + linear 512->128,
 *              batch 32 of 32x32x3, MSE to a fixed random target, SGD momentum 0.9.
 *   quickstart the quickstart's models: frozen teacher convnet x0.5 (16-32-64-128, head 256->64)
 *              embeds the batch (eval mode), student convnet-small x0.5 (8-16-32, head 128->64)
 *              is trained (BN train mode) on the squared distance of the L2-normalised
 *              embeddings; batch 128 of 16x16x1, SGD momentum 0.9.
 *   bingo      one code-form BINGO distillation step as `Trainer.distil` runs it: teacher ResNet-18
 *              (eval mode) embeds k and pk, student ResNet-18 x0.5 embeds q, pq and CutMix(q, pq),
 *              six-term loss against a 4,096-key queue, SGD; batch 32 of 32x32x3
 *              (packages/trainer/scripts/benchModels.ts has the details).
 *   teacher    that teacher's embedding pass alone: batch 256, eval mode, keys read back.
 * bingo and teacher are not run on wasm (minutes per step).
 *
 * Options: --models resnet18,quickstart,bingo,teacher  --backends native,wasm,pytorch  --threads <n>
 *          (default: what @bingo/native-cpu picks: BINGO_NATIVE_THREADS or the free cores)
 *          --steps <n> (timed native/pytorch steps; median and best reported; default 10)
 *          --wasm-steps <n> (default 2: a wasm ResNet-18 step takes tens of seconds)
 *          --profile (per-kernel times of one native step, tf.profile; resnet18 and quickstart)
 *          --alloc (no timing: bytes the native kernels allocate for their outputs in each step,
 *          with the output pool off (BINGO_NATIVE_POOL=0) and on; deterministic, so valid on a
 *          busy machine; default 4 steps)
 *          Also the peak bytes of tensor data in each step (@bingo/runtime installTensorMemoryMeter)
 *          and PyTorch's peak RSS in a fresh process per model (with --backends including pytorch).
 * The native rows also report the median bytes of new output buffers per timed step ("alloc").
 * Each backend runs in its own process (TF.js backends are global state). The load average is
 * printed before and after: figures are only comparable on a quiet machine.
 */
import { createEncoder, type Encoder, mlp } from "@bingo/backbones"
import { chooseThreads, nativeAllocationStats, resetNativeAllocationStats } from "@bingo/native-cpu"
import { Sgd } from "@bingo/optim"
import { installTensorMemoryMeter, Rng, selectBackend, variableGrads } from "@bingo/runtime"
import * as tf from "@tensorflow/tfjs"
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
// A relative import: the bench models of the trainer use packages the root does not depend on.
import { runBingoSteps, runTeacherPasses, type StepSample } from "../packages/trainer/scripts/benchModels.ts"

const { values } = parseArgs({
  options: {
    models: { type: "string", default: "resnet18,quickstart,bingo,teacher" },
    backends: { type: "string", default: "native,wasm,pytorch" },
    threads: { type: "string" },
    steps: { type: "string" },
    "wasm-steps": { type: "string", default: "2" },
    profile: { type: "boolean", default: false },
    alloc: { type: "boolean", default: false },
    warmup: { type: "string" },
    worker: { type: "string" },
    model: { type: "string" }
  }
})

interface Result {
  readonly backend: string
  readonly model: string
  readonly threads: number
  /** Median over the timed steps. */
  readonly msPerStep: number
  /** Fastest timed step: on a shared machine the least disturbed one. */
  readonly bestMs: number
  /** Median CPU time (user + system, all threads) per step: barely affected by other processes. */
  readonly cpuMs: number
  readonly imgPerSec: number
  /** Peak resident set size of the process that ran the steps (MiB). */
  readonly peakRssMiB?: number
  /** Native only: peak MiB of tensor data held in each step (distinct buffers; installTensorMemoryMeter). */
  readonly peakTensorMiB?: ReadonlyArray<number>
  /** Native only: MiB of new output buffers the native kernels allocated in each timed step. */
  readonly allocMiB?: ReadonlyArray<number>
  readonly loss?: number
  readonly note?: string
}

type Model = "resnet18" | "quickstart" | "bingo" | "teacher"
const batchOf: Record<Model, number> = { resnet18: 32, quickstart: 128, bingo: 32, teacher: 256 }
/** Models too slow for wasm (a ResNet-18 step there takes tens of seconds). */
const notOnWasm: ReadonlyArray<Model> = ["bingo", "teacher"]

/** Build the model and return one training step (returns the loss). */
const buildStep = (model: "resnet18" | "quickstart"): (() => number) => {
  const rng = Rng.fromSeed(0)
  const sgd = new Sgd({ momentum: 0.9, weightDecay: 0 })
  const trainStep = (lossFn: () => tf.Scalar, vars: ReadonlyMap<string, tf.Variable>, lr: number): number => {
    const { value, grads } = variableGrads(
      lossFn,
      [...vars.values()].filter((v) => v.trainable)
    )
    const byName = new Map<string, tf.Tensor>()
    for (const [name, v] of vars) if (grads[v.name] !== undefined) byName.set(name, grads[v.name]!)
    sgd.step(byName, vars, lr)
    const loss = value.dataSync()[0]!
    tf.dispose([value, ...Object.values(grads)])
    return loss
  }
  if (model === "resnet18") {
    const student: Encoder = createEncoder(
      { backbone: "resnet18", inputShape: [32, 32, 3], stem: "cifar", headHidden: 1, embeddingDim: 128 },
      rng,
      "r18"
    )
    // A linear 512 -> 128 head (createEncoder's head is an MLP; use the backbone and one dense layer).
    const head = mlp({ inputDim: 512, widths: [128], rng, name: "r18.linear" })
    const vars = new Map<string, tf.Variable>([...student.backbone.params, ...[...head.params].map(([k, v]) => [`head.${k}`, v] as const)])
    const x = tf.randomNormal([32, 32, 32, 3], 0, 1, "float32", 1) as tf.Tensor4D
    const target = tf.randomNormal([32, 128], 0, 1, "float32", 2)
    return () =>
      trainStep(
        () => tf.tidy(() => tf.losses.meanSquaredError(target, head.apply(student.backbone.apply(x, "train"), "train")) as tf.Scalar),
        vars,
        0.01
      )
  }
  const teacher = createEncoder(
    { backbone: "convnet", inputShape: [16, 16, 1], widthMultiplier: 0.5, headHidden: 256, embeddingDim: 64 },
    rng,
    "teacher"
  )
  const student = createEncoder(
    { backbone: "convnet-small", inputShape: [16, 16, 1], widthMultiplier: 0.5, headHidden: 128, embeddingDim: 64 },
    rng,
    "student"
  )
  const x = tf.randomNormal([128, 16, 16, 1], 0, 1, "float32", 3) as tf.Tensor4D
  const l2 = (t: tf.Tensor2D) => tf.div(t, tf.maximum(tf.norm(t, "euclidean", 1, true), 1e-12)) as tf.Tensor2D
  const embedWith = (e: Encoder, mode: "train" | "eval") => l2(e.head.apply(e.backbone.apply(x, mode), mode))
  return () => {
    const t = tf.tidy(() => embedWith(teacher, "eval"))
    const loss = trainStep(
      () => tf.tidy(() => tf.mean(tf.sum(tf.squaredDifference(embedWith(student, "train"), t), 1)) as tf.Scalar),
      student.params,
      0.06
    )
    t.dispose()
    return loss
  }
}

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** `count` steps of `model`, one sample each (the first ones are the warm-up). */
const runSteps = async (model: Model, count: number, mark: () => number): Promise<{ samples: Array<StepSample>; step?: () => number }> => {
  if (model === "bingo") return { samples: await runBingoSteps(count, mark) }
  if (model === "teacher") return { samples: await runTeacherPasses(count, mark) }
  const step = buildStep(model)
  const samples: Array<StepSample> = []
  for (let i = 0; i < count; i++) {
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    const loss = step()
    const ms = performance.now() - t0
    const c = process.cpuUsage(c0)
    samples.push({ ms, cpuMs: (c.user + c.system) / 1000, loss, mark: mark() })
  }
  return { samples, step }
}

const runWorker = async (backend: string, model: Model, steps: number): Promise<Result> => {
  const sel = await selectBackend(backend === "native" ? "cpu-native" : "wasm")
  if ("error" in sel) throw new Error(sel.error)
  console.error(sel.reason)
  const threads = backend === "native" ? Number(/(\d+) threads?/.exec(sel.reason)?.[1] ?? 1) : 1
  // Warm-up (kernel caches, oneDNN primitives, the output pool); one on wasm, where a ResNet-18 step takes minutes.
  const warmup = values.warmup !== undefined ? Number(values.warmup) : backend === "wasm" ? 1 : 2
  // Bytes of new output buffers of the native kernels since the last step (0 elsewhere), and the
  // peak bytes of tensor data in the step (installed before the networks are built).
  const meter = backend === "native" ? installTensorMemoryMeter() : undefined
  const peaks: Array<number> = []
  const mark =
    backend === "native"
      ? () => {
          const bytes = nativeAllocationStats().allocatedBytes
          resetNativeAllocationStats()
          peaks.push(meter?.peakBytes() ?? Number.NaN)
          meter?.resetPeak()
          return bytes
        }
      : () => 0
  resetNativeAllocationStats()
  const { samples: all, step } = await runSteps(model, warmup + steps, mark)
  const samples = all.slice(warmup)
  const times = samples.map((x) => x.ms)
  const cpuTimes = samples.map((x) => x.cpuMs)
  const loss = samples[samples.length - 1]?.loss ?? Number.NaN
  if (values.profile === true && step !== undefined) {
    const info = await tf.profile(() => {
      step()
    })
    const byKernel = new Map<string, number>()
    for (const k of info.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + ((await k.kernelTimeMs) as number))
    const total = [...byKernel.values()].reduce((a, b) => a + b, 0)
    console.error(`profile (${model}, ${backend}): ${info.kernels.length} kernel calls, ${total.toFixed(0)} ms in kernels`)
    for (const [name, ms] of [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
      console.error(`  ${name.padEnd(24)} ${ms.toFixed(1).padStart(8)} ms  ${((100 * ms) / total).toFixed(1).padStart(5)} %`)
    }
  }
  const ms = median(times)
  return {
    backend,
    model,
    threads,
    msPerStep: ms,
    bestMs: Math.min(...times),
    cpuMs: median(cpuTimes),
    imgPerSec: batchOf[model] / (ms / 1000),
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    ...(backend === "native"
      ? { allocMiB: samples.map((x) => x.mark / 2 ** 20), peakTensorMiB: peaks.slice(warmup).map((b) => b / 2 ** 20) }
      : {}),
    loss
  }
}

const python = (): string | undefined => {
  for (const p of [process.env.BENCH_PYTHON, "/usr/bin/python3", "python3"]) {
    if (p === undefined) continue
    if (spawnSync(p, ["-c", "import torch, torchvision"], { stdio: "ignore" }).status === 0) return p
  }
  return undefined
}

const main = async () => {
  if (values.worker !== undefined) {
    const steps = Number(values.steps ?? (values.worker === "wasm" ? 2 : 10))
    const r = await runWorker(values.worker, values.model as Model, steps)
    console.log(JSON.stringify(r))
    return
  }
  const here = dirname(fileURLToPath(import.meta.url))
  const models = values.models!.split(",") as Array<Model>
  const backends = values.backends!.split(",")
  const threads = values.threads !== undefined ? Number(values.threads) : chooseThreads().threads
  const env = { ...process.env, BINGO_NATIVE_THREADS: String(threads) }
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")
  console.log(
    `bench: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, ${threads} thread(s); load average before: ${load()}`
  )
  if (values.alloc === true) {
    allocReport(models, env, here)
    return
  }
  const py = backends.includes("pytorch") ? python() : undefined
  const results: Array<Result> = []
  for (const model of models) {
    for (const backend of backends) {
      if (backend === "pytorch") {
        if (py === undefined) {
          console.log(
            `  ${model} pytorch: skipped (no python with torch + torchvision; apt-get install -y python3-torch python3-torchvision)`
          )
          continue
        }
        const args = [
          join(here, "bench_torch.py"),
          "--model",
          model,
          "--threads",
          String(threads),
          ...(values.steps === undefined ? [] : ["--steps", values.steps])
        ]
        const r = spawnSync(py, args, { encoding: "utf8", env })
        if (r.status !== 0) {
          console.log(`  ${model} pytorch: failed (${r.stderr.trim().split("\n").pop()})`)
          continue
        }
        results.push(JSON.parse(r.stdout.trim().split("\n").pop()!) as Result)
      } else if (backend === "wasm" && notOnWasm.includes(model)) {
        console.log(`  ${model} wasm: skipped (minutes per step on wasm)`)
        continue
      } else {
        const steps = backend === "wasm" ? values["wasm-steps"] : values.steps
        const args = [
          ...process.execArgv,
          process.argv[1]!,
          "--worker",
          backend,
          "--model",
          model,
          ...(steps === undefined ? [] : ["--steps", steps]),
          ...(values.warmup === undefined ? [] : ["--warmup", values.warmup]),
          ...(values.profile === true ? ["--profile"] : [])
        ]
        const r = spawnSync(process.execPath, args, { encoding: "utf8", env, stdio: ["ignore", "pipe", "inherit"] })
        if (r.status !== 0) {
          console.log(`  ${model} ${backend}: failed (exit ${r.status})`)
          continue
        }
        results.push(JSON.parse(r.stdout.trim().split("\n").pop()!) as Result)
      }
      const last = results[results.length - 1]!
      if (last.model === model)
        console.log(
          `  ${model.padEnd(10)} ${last.backend.padEnd(8)} ${last.threads} thr  ${last.msPerStep.toFixed(0).padStart(7)} ms/step (CPU ${last.cpuMs.toFixed(0)} ms)  ${last.imgPerSec.toFixed(1).padStart(7)} img/s  peak RSS ${last.peakRssMiB?.toFixed(0) ?? "?"} MiB${last.allocMiB === undefined ? "" : `  alloc ${allocOf(last)} MiB/step`}`
        )
    }
  }
  console.log(`load average after: ${load()}`)
  console.log(
    "\n| model | backend | threads | ms / step (median) | best ms | CPU ms / step | img/s (median) | vs PyTorch (median) | vs PyTorch (best) | vs PyTorch (CPU time) | peak RSS MiB | RSS vs PyTorch | native alloc MiB / step |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  )
  for (const r of results) {
    const torch = results.find((t) => t.backend === "pytorch" && t.model === r.model)
    const ratio = (a: number, b: number | undefined) => (b === undefined ? "-" : `${(b / a).toFixed(2)}x`)
    console.log(
      `| ${r.model} | ${r.backend} | ${r.threads} | ${r.msPerStep.toFixed(0)} | ${r.bestMs.toFixed(0)} | ${r.cpuMs.toFixed(0)} | ${r.imgPerSec.toFixed(1)} | ` +
        `${ratio(r.msPerStep, torch?.msPerStep)} | ${ratio(r.bestMs, torch?.bestMs)} | ${ratio(r.cpuMs, torch?.cpuMs)} | ${r.peakRssMiB?.toFixed(0) ?? "-"} | ` +
        `${r.peakRssMiB === undefined || torch?.peakRssMiB === undefined ? "-" : `${(r.peakRssMiB / torch.peakRssMiB).toFixed(2)}x`} | ${r.allocMiB === undefined ? "-" : allocOf(r)} |`
    )
  }
  if (!existsSync(join(here, "..", "packages", "native-cpu", "native", "build", "Release", "bingo_native.node"))) {
    console.log("(native addon not built: pnpm --filter @bingo/native-cpu build:native)")
  }
}

/** Median MiB of new native output buffers per timed step. */
const allocOf = (r: Result): string => (r.allocMiB === undefined || r.allocMiB.length === 0 ? "-" : median([...r.allocMiB]).toFixed(1))

/**
 * `--alloc`: each model's native worker with the output pool off and on, printing the MiB of new
 * output buffers in every step, warm-up included (no times: valid on a busy machine).
 */
const allocReport = (models: ReadonlyArray<Model>, env: NodeJS.ProcessEnv, here: string) => {
  const steps = values.steps ?? "4"
  const py = values.backends!.split(",").includes("pytorch") ? python() : undefined
  console.log(
    "Per step from the first (--warmup 0): MiB of new native output buffers, and the peak MiB of tensor data held (distinct buffers,\n" +
      "installTensorMemoryMeter); peak RSS of the whole process; PyTorch: peak RSS (ru_maxrss) of a fresh process running the same steps:"
  )
  for (const model of models) {
    for (const pool of ["0", "1"]) {
      const args = [...process.execArgv, process.argv[1]!, "--worker", "native", "--model", model, "--steps", steps, "--warmup", "0"]
      const r = spawnSync(process.execPath, args, {
        encoding: "utf8",
        env: { ...env, BINGO_NATIVE_POOL: pool },
        stdio: ["ignore", "pipe", "inherit"]
      })
      if (r.status !== 0) {
        console.log(`  ${model} pool ${pool === "1" ? "on " : "off"}: failed (exit ${r.status})`)
        continue
      }
      const res = JSON.parse(r.stdout.trim().split("\n").pop()!) as Result
      const list = (xs: ReadonlyArray<number> | undefined) => (xs ?? []).map((m) => m.toFixed(1)).join(", ")
      console.log(
        `  ${model.padEnd(10)} pool ${pool === "1" ? "on " : "off"}: alloc ${list(res.allocMiB)}; peak tensor MiB ${list(res.peakTensorMiB)}  (peak RSS ${res.peakRssMiB?.toFixed(0) ?? "?"} MiB)`
      )
    }
    if (py !== undefined) {
      const r = spawnSync(
        py,
        [join(here, "bench_torch.py"), "--model", model, "--threads", env.BINGO_NATIVE_THREADS ?? "1", "--steps", steps, "--warmup", "0"],
        {
          encoding: "utf8",
          env
        }
      )
      const res = r.status === 0 ? (JSON.parse(r.stdout.trim().split("\n").pop()!) as Result) : undefined
      console.log(
        `  ${model.padEnd(10)} pytorch : peak RSS ${res?.peakRssMiB?.toFixed(0) ?? `? (failed: ${r.stderr.trim().split("\n").pop()})`} MiB`
      )
    }
  }
}

await main()
