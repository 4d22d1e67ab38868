import { describe, expect, it } from "vitest"
import { Effect } from "effect"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, watch, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import { Rng } from "@bingo/runtime"
import { type MetricsLine, readMetrics } from "@bingo/training"
import { decodeSafetensors } from "@bingo/backbones"
import { readBagsNpy } from "@bingo/bag-miner"
import { type CliRun, runCli, spawnCli } from "./cliProcess.ts"

/**
 * kill -9 at random points of real `bingo run` processes, then run again, until a run
 * finishes. After every kill, each result file in outDir must be complete (decodable); the
 * finished run must end with the same teacher, bags, student and scores, byte for byte, as an
 * uninterrupted run of the same config. Kills are aimed at stages by watching the child's log
 * lines and outDir's temp files, then delayed by a seeded random time.
 */
const config = (outDir: string) => `
name: kill-test
seed: 3
backend: cpu
outDir: ${outDir}
dataset: { name: shapes, options: { trainSize: 256, testSize: 64, size: 16, seed: 0 } }
augment: { outputSize: 16 }
teacher: { backbone: mlp, widthMultiplier: 0.25, headHidden: 16, embeddingDim: 8, pretrain: { epochs: 6, batchSize: 32, queueSize: 64, lr: 1, checkpointEverySteps: 4 } }
bags: { method: knn, k: 3 }
student: { backbone: mlp, widthMultiplier: 0.125, headHidden: 16, embeddingDim: 8 }
distill: { epochs: 3, batchSize: 16, queueSize: 64, lr: 1, checkpointEverySteps: 2 }
eval: { knn: { k: 10 }, linear: { epochs: 2 }, randomBaseline: false, teacher: false }
`

const results = [
  "config.json",
  "metrics.jsonl",
  "teacher.safetensors",
  "teacher.checkpoint.safetensors",
  "bags.npy",
  "checkpoint.safetensors",
  "student.safetensors",
  "student-tfjs",
  "results.json",
  "report.html"
]
const isTemp = (name: string) => /^\..+\.\d+\.\d+\.tmp$/.test(name)
/** Temp files in outDir and student-tfjs/. */
const tempsIn = (dir: string): Array<string> => [
  ...readdirSync(dir).filter(isTemp),
  ...(existsSync(join(dir, "student-tfjs"))
    ? readdirSync(join(dir, "student-tfjs"))
        .filter(isTemp)
        .map((n) => `student-tfjs/${n}`)
    : [])
]

/** Every result file present decodes in full: a kill never leaves half of one. */
const checkComplete = async (dir: string): Promise<void> => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (isTemp(name)) continue
    expect(results).toContain(name)
    if (name.endsWith(".safetensors")) expect(() => decodeSafetensors(readFileSync(path))).not.toThrow()
    else if (name === "bags.npy") await Effect.runPromise(readBagsNpy(path, { n: 256 }))
    else if (name === "results.json" || name === "config.json") JSON.parse(readFileSync(path, "utf8"))
    else if (name === "report.html") expect(readFileSync(path, "utf8")).toMatch(/<\/html>\n$/)
    // appended a whole line at a time: every complete line parses (a kill may cut the last one short)
    else if (name === "metrics.jsonl") readMetrics(path)
    else if (existsSync(join(path, "model.json"))) {
      // the TF.js export: model.json names a weights file that exists and holds every weight
      const model = JSON.parse(readFileSync(join(path, "model.json"), "utf8")) as {
        weightsManifest: Array<{ paths: Array<string>; weights: Array<{ shape: Array<number> }> }>
      }
      for (const group of model.weightsManifest) {
        const bytes = group.paths.reduce((n, p) => n + readFileSync(join(path, p)).byteLength, 0)
        expect(bytes).toBe(4 * group.weights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0))
      }
    }
  }
}

/** What a kill aims at: a log line or the temp file of a write to wait for, then a random delay. */
interface Aim {
  readonly stage: string
  readonly log?: RegExp
  readonly tempOf?: string
  readonly delayMs: number
  /** With `tempOf`: the start of the temp file's name, after its leading dot; fire at its `nth` write (default 1). */
  readonly nth?: number
  /** Whether the stage is still ahead, given what outDir holds. */
  readonly ahead: (dir: string) => boolean
  /**
   * With `tempOf`: a log line of the next stage at which to kill if the write went unseen (a
   * temp file lives for milliseconds; fs.watch can miss it on a busy machine), so a missed
   * write does not let the run finish and end the plan early.
   */
  readonly fallbackLog?: RegExp
}

/** The checkpoint's position (epoch 3 = finished), or undefined before the first checkpoint. */
const checkpointAt = (dir: string): { epoch: number; globalStep: number } | undefined => {
  const path = join(dir, "checkpoint.safetensors")
  if (!existsSync(path)) return undefined
  return (JSON.parse(decodeSafetensors(readFileSync(path)).metadata["bingo-state"]!) as { progress: { epoch: number; globalStep: number } })
    .progress
}
const distillFinished = (dir: string): boolean => (checkpointAt(dir)?.epoch ?? 0) >= 3
const lacks = (f: string) => (dir: string) => !existsSync(join(dir, f))
const inDistillation = (dir: string) => !distillFinished(dir)

/** The kills, in pipeline order (a later stage's event implies the earlier stages are done). */
const plan = (rng: Rng): ReadonlyArray<Aim> => [
  // after the first of 6 pre-training epochs, so the kill lands inside pre-training however fast the machine
  {
    stage: "teacher pre-training",
    log: /teacher pre-training epoch 1\/6/,
    delayMs: rng.uniform(0, 20),
    ahead: lacks("teacher.safetensors")
  },
  {
    stage: "teacher checkpoint write",
    tempOf: "teacher.checkpoint.safetensors.",
    nth: 1 + rng.int(3),
    delayMs: 0,
    ahead: lacks("teacher.safetensors"),
    fallbackLog: /teacher pre-training epoch 6\/6/
  },
  {
    stage: "teacher write",
    tempOf: "teacher.safetensors.",
    delayMs: 0,
    ahead: lacks("teacher.safetensors"),
    fallbackLog: /mining knn bags/
  },
  { stage: "bag mining", log: /mining knn bags/, delayMs: rng.uniform(0, 15), ahead: lacks("bags.npy") },
  { stage: "bags write", tempOf: "bags.npy.", delayMs: 0, ahead: lacks("bags.npy"), fallbackLog: /distillation epoch 1\/3/ },
  { stage: "distillation step", log: /\): bags: \d+ x \d+, purity/, delayMs: rng.uniform(300, 1000), ahead: inDistillation },
  {
    stage: "checkpoint write",
    tempOf: "checkpoint.safetensors.",
    nth: 1 + rng.int(5),
    delayMs: 0,
    ahead: inDistillation,
    fallbackLog: /distillation epoch 3\/3/
  },
  {
    stage: "checkpoint write",
    tempOf: "checkpoint.safetensors.",
    nth: 1 + rng.int(5),
    delayMs: 0,
    ahead: inDistillation,
    fallbackLog: /distillation epoch 3\/3/
  },
  { stage: "student write", tempOf: "student.safetensors.", delayMs: 0, ahead: lacks("student.safetensors"), fallbackLog: /eval student/ },
  { stage: "TF.js export", tempOf: "weights-", delayMs: 0, ahead: lacks("results.json"), fallbackLog: /eval student/ },
  { stage: "evaluation", log: /eval student/, delayMs: rng.uniform(0, 30), ahead: lacks("results.json") }
]

/** Start a run and SIGKILL it when `aim` is reached; resolves with what happened. */
const runAndKill = async (cfg: string, dir: string, aim: Aim) => {
  const run: CliRun = spawnCli(["run", cfg])
  let killTimer: NodeJS.Timeout | undefined
  let killed = false
  let fellBack = false
  const writes = new Set<string>()
  const fire = (delayMs: number) => {
    if (killTimer !== undefined || killed) return
    killTimer = setTimeout(() => {
      killed = run.child.kill("SIGKILL")
    }, delayMs)
  }
  const seen = (file: string) => {
    if (aim.tempOf === undefined || !isTemp(file) || !file.startsWith(`.${aim.tempOf}`)) return
    writes.add(file)
    if (writes.size >= (aim.nth ?? 1)) fire(aim.delayMs)
  }
  // temp files are seen by fs.watch and by polling the folders (either can miss one alone)
  const watcher =
    aim.tempOf === undefined ? undefined : watch(dir, { recursive: true }, (_event, name) => seen(name === null ? "" : basename(name)))
  const poll = setInterval(() => {
    if (aim.log?.test(run.stdout())) fire(aim.delayMs)
    if (aim.tempOf !== undefined) {
      for (const name of tempsIn(dir)) seen(basename(name))
      if (aim.fallbackLog !== undefined && killTimer === undefined && aim.fallbackLog.test(run.stdout())) {
        fellBack = true
        fire(0)
      }
    }
  }, 1)
  const exit = await run.done
  watcher?.close()
  clearInterval(poll)
  if (killTimer !== undefined) clearTimeout(killTimer)
  return { ...exit, temps: tempsIn(dir), fellBack }
}

describe("kill -9 and resume (real processes)", () => {
  it("a run killed at random points resumes to the same teacher, bags, student and scores as an uninterrupted run", async () => {
    const root = mkdtempSync(join(tmpdir(), "bingo-kill-"))
    const write = (name: string) => {
      const d = join(root, name)
      mkdirSync(d)
      writeFileSync(join(d, "tiny.yaml"), config("out"))
      return { cfg: join(d, "tiny.yaml"), out: join(d, "out") }
    }
    const reference = write("reference")
    const killed = write("killed")
    mkdirSync(killed.out)

    // the uninterrupted run, alongside the interrupted ones (kills are aimed by events, not by wall-clock)
    const referenceRun = runCli(["run", reference.cfg])

    const log: Array<string> = []
    const killedIn: Array<string> = []
    /** The checkpoint's global step after each kill during distillation (0: none yet). */
    const resumedFrom: Array<number> = []
    let leftTemps = 0
    for (const aim of plan(Rng.fromSeed(20240607))) {
      if (!aim.ahead(killed.out)) continue
      const r = await runAndKill(killed.cfg, killed.out, aim)
      const lastLog =
        r.stdout
          .trim()
          .split("\n")
          .pop()
          ?.replace(/^\[[\d:.]+\] \w+ \(#\d+\): /, "") ?? ""
      if (r.signal !== "SIGKILL") {
        // the stage was over before the kill fired: the run finished
        log.push(`${aim.stage}: not reached, run finished (exit ${r.code})`)
        expect(r.code).toBe(0)
        break
      }
      await checkComplete(killed.out)
      leftTemps += r.temps.length
      killedIn.push(aim.stage)
      const at = checkpointAt(killed.out)
      if (aim.stage.startsWith("distillation") || aim.stage.startsWith("checkpoint")) resumedFrom.push(at?.globalStep ?? 0)
      log.push(
        `${aim.stage}${aim.nth === undefined ? "" : ` #${aim.nth}`} (+${aim.delayMs.toFixed(0)} ms)` +
          `${r.fellBack ? " (write unseen: killed at the next stage's log line)" : ""}: killed after "${lastLog}"` +
          `${at === undefined ? "" : `; checkpoint at step ${at.globalStep}/48`}${r.temps.length > 0 ? `; left ${r.temps.join(" ")}` : ""}`
      )
    }
    const last = await runCli(["run", killed.cfg])
    expect(last.stderr).not.toMatch(/bingo:/)
    expect(last.code).toBe(0)
    const cleaned = /removed (\d+) temp file/.exec(last.stdout)
    log.push(`final run: exit ${last.code}${cleaned === null ? "" : `, removed ${cleaned[1]} stale temp file(s) at start`}`)
    const ref = await referenceRun
    expect(ref.code).toBe(0)
    console.log(`kill -9 schedule (seeded): ${killedIn.length} kills\n  ${log.join("\n  ")}\n  temp files left by kills: ${leftTemps}`)

    // kills in the stages of the plan that were still ahead: pre-training, steps, checkpoint writes
    expect(killedIn.length).toBeGreaterThanOrEqual(6)
    // (bag mining of 256 rows takes milliseconds, so on a quiet machine the kill aimed at it may land
    // in the next stage; its atomic write is covered by "bags write" and checkComplete either way)
    for (const stage of ["teacher pre-training", "distillation step", "checkpoint write"]) expect(killedIn).toContain(stage)
    // and at least one resume from a checkpoint in the middle of distillation
    expect(resumedFrom.some((step) => step > 0 && step < 48)).toBe(true)
    // temp files of killed writers never survive a later start
    expect(tempsIn(killed.out)).toEqual([])
    // the teacher's pre-training checkpoint is removed once teacher.safetensors is complete
    expect(readdirSync(killed.out).sort()).toEqual(results.filter((r) => r !== "teacher.checkpoint.safetensors").sort())
    const exported = readdirSync(join(reference.out, "student-tfjs")).sort()
    expect(readdirSync(join(killed.out, "student-tfjs")).sort()).toEqual(exported)
    const compared = [
      "config.json",
      "teacher.safetensors",
      "bags.npy",
      "checkpoint.safetensors",
      "student.safetensors",
      ...exported.map((f) => `student-tfjs/${f}`)
    ]
    for (const f of compared) {
      expect(Buffer.compare(readFileSync(join(killed.out, f)), readFileSync(join(reference.out, f))), f).toBe(0)
    }
    const scores = (dir: string) => {
      const {
        seconds: _s,
        peakRssMiB: _m,
        distillEpochs,
        teacherPretraining,
        ...rest
      } = JSON.parse(readFileSync(join(dir, "results.json"), "utf8"))
      // epoch timings differ between runs (and a reused teacher's file keeps none); everything else of an epoch is the training's
      const untimed = (epochs: Array<Record<string, unknown>>) => epochs.map(({ imagesPerSecond: _r, seconds: _t, ...e }) => e)
      return { ...rest, distillEpochs: untimed(distillEpochs), teacherPretraining: untimed(teacherPretraining) }
    }
    expect(scores(killed.out)).toEqual(scores(reference.out))
    // metrics.jsonl: the lines of the uninterrupted run, whatever the kills cut (timings aside)
    const untimed = (dir: string) =>
      readMetrics(join(dir, "metrics.jsonl")).map((l) => {
        const { time: _t, imagesPerSecond: _r, seconds: _s, ...rest } = l as MetricsLine & { imagesPerSecond?: unknown; seconds?: unknown }
        return rest
      })
    expect(untimed(killed.out)).toEqual(untimed(reference.out))
    expect(untimed(reference.out).length).toBeGreaterThan(0)
  }, 240_000)
})
