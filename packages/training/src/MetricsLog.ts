import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs"
import { dirname } from "node:path"
import { atomicWrite } from "@bingo/runtime"
import type { EpochSummary } from "./LoopProgress.ts"

/**
 * `metrics.jsonl`: one JSON object per line, appended as training goes (docs/metrics.md has the
 * schema). Step lines (`"type": "step"`) every `every` steps, an epoch line (`"type": "epoch"`)
 * at each epoch end, for every stage that writes to the file (teacher pre-training, distillation).
 * Each line is one append of a whole line, so a killed run leaves at most one partial last line;
 * a resumed stage first drops that and every line of its own past its checkpoint, then appends
 * again: the file of a killed and resumed run has the lines of an uninterrupted one.
 */
export interface MetricsLogOptions {
  readonly path: string
  /** A step line every this many steps of the stage (1: every step). */
  readonly every: number
}

export interface StepLine {
  readonly type: "step"
  readonly stage: string
  readonly epoch: number
  readonly step: number
  readonly globalStep: number
  /** Images this stage has trained on so far. */
  readonly images: number
  readonly loss: number
  readonly terms: Readonly<Record<string, number>>
  readonly lr: number
  readonly gradNorm: number
  readonly embeddings: Readonly<Record<string, { readonly spread: number; readonly embeddingStd: number; readonly dead: number }>>
  /** Fraction of each queue holding real keys (the rest is its random initialisation). */
  readonly queueFill: Readonly<Record<string, number>>
  /** Images per second of this step (not reproducible: timing). */
  readonly imagesPerSecond: number
  /** Wall-clock time the line was written, ISO 8601 (not reproducible). */
  readonly time: string
}

export interface EpochLine extends EpochSummary {
  readonly type: "epoch"
  readonly stage: string
  readonly time: string
}

/** One epoch of a linear probe of the evaluation (stage "linear probe"): its mean training loss and lr. */
export interface ProbeLine {
  readonly type: "probe"
  readonly stage: "linear probe"
  /** The evaluated network, as in the results table ("student (bingo)", "teacher", ...). */
  readonly model: string
  /** "linear probe", or "linear probe on 1% of the labels", ... */
  readonly probe: string
  readonly epoch: number
  readonly loss: number
  readonly lr: number
  readonly time: string
}

export type MetricsLine = StepLine | EpochLine | ProbeLine

/** The whole lines of a metrics file (a partial last line, from a kill mid-append, is not one). */
export const readMetrics = (path: string): Array<MetricsLine> => {
  if (!existsSync(path)) return []
  const text = readFileSync(path, "utf8")
  const whole = text.endsWith("\n") ? text : text.slice(0, text.lastIndexOf("\n") + 1)
  return whole
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as MetricsLine)
}

/**
 * Make the file ready for `stage` starting at `epoch` / `globalStep` (0 / 0 for a fresh start,
 * the checkpoint's position for a resume): keep other stages' lines and this stage's lines from
 * before that position; drop the rest and any partial last line. Rewrites atomically, and only
 * when something is dropped.
 */
export const prepareMetrics = (path: string, stage: string, epoch: number, globalStep: number): void => {
  if (!existsSync(path)) return
  const text = readFileSync(path, "utf8")
  const lines = readMetrics(path)
  const kept = lines.filter((l) => l.stage !== stage || (l.type === "step" ? l.globalStep <= globalStep : l.epoch < epoch))
  const partial = !text.endsWith("\n") && text.length > 0
  if (kept.length === lines.length && !partial) return
  atomicWrite(path, kept.map((l) => `${JSON.stringify(l)}\n`).join(""))
}

export const appendMetrics = (path: string, line: MetricsLine): void => {
  mkdirSync(dirname(path), { recursive: true })
  appendFileSync(path, `${JSON.stringify(line)}\n`)
}
