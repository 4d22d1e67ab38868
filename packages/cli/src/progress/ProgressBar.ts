import type { StepReport } from "@bingo/training"

/** What the bar needs to know of a stage beyond its step reports: its epochs, and its images per step (for img/s). */
export interface StageTotals {
  readonly epochs: number
  readonly imagesPerStep?: number
}

export interface ProgressBarOptions {
  /** Where the bar is drawn (a terminal: `process.stderr.write`). */
  readonly write: (text: string) => void
  /** The terminal's width; the line is cut to fit. */
  readonly columns: () => number
  /** The stages it draws, by the name the training loop gives them; steps of other stages are ignored. */
  readonly stages: Readonly<Record<string, StageTotals>>
  /** Milliseconds (default `performance.now`). */
  readonly now?: () => number
  /** Redraw at most this often (default 100 ms); the first and the last step of a stage are always drawn. */
  readonly minIntervalMs?: number
}

/** One state of the bar, as `formatProgress` draws it. */
export interface ProgressState {
  readonly stage: string
  readonly epoch: number
  readonly epochs: number
  readonly step: number
  readonly stepsInEpoch: number
  /** Steps of the stage done and in all. */
  readonly done: number
  readonly total: number
  /** Undefined until two steps have been timed. */
  readonly stepsPerSecond: number | undefined
  readonly imagesPerStep: number | undefined
}

/** `1:05`, `1:02:03`. */
export const formatEta = (seconds: number): string => {
  const s = Math.max(0, Math.round(seconds))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const pad = (n: number) => String(n).padStart(2, "0")
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`
}

/**
 * The bar's line: `distillation [█████░░░░░]  50% epoch 2/4 step 3/10 | 12.5 steps/s 1,600 img/s | ETA 0:08`,
 * cut to `width` characters. The rate and ETA read "…" until two steps have been timed.
 */
export const formatProgress = (p: ProgressState, width: number): string => {
  const fraction = p.total === 0 ? 1 : Math.min(1, p.done / p.total)
  const cells = 20
  const filled = Math.round(fraction * cells)
  const bar = `[${"█".repeat(filled)}${"░".repeat(cells - filled)}]`
  const position = `${String(Math.floor(100 * fraction)).padStart(3)}% epoch ${p.epoch + 1}/${p.epochs} step ${p.step + 1}/${p.stepsInEpoch}`
  const rate =
    p.stepsPerSecond === undefined
      ? "… steps/s"
      : `${p.stepsPerSecond.toFixed(1)} steps/s${p.imagesPerStep === undefined ? "" : ` ${Math.round(p.stepsPerSecond * p.imagesPerStep).toLocaleString("en-US")} img/s`}`
  const eta = p.stepsPerSecond === undefined ? "ETA …" : `ETA ${formatEta((p.total - p.done) / p.stepsPerSecond)}`
  const line = `${p.stage} ${bar} ${position} | ${rate} | ${eta}`
  return line.length <= width ? line : line.slice(0, Math.max(0, width))
}

/** Steps over which the rate is measured (the most recent ones). */
const rateWindow = 50

/**
 * A one-line progress bar of the training loops, fed by their `onStep` hook and redrawn in place
 * (`\r`, erase line) on a terminal: stage, share done, epoch and step, steps/s and images/s over
 * the last 50 steps, ETA of the stage. `clear` erases it (before a log line is printed) and
 * `redraw` puts it back; the stage's last step erases it for good. Only for terminals: `bingo run`
 * makes one when stderr is a TTY, so logs written to files or CI keep their lines unchanged.
 */
export class ProgressBar {
  private readonly now: () => number
  private readonly minIntervalMs: number
  private state: ProgressState | undefined
  private times: Array<{ readonly done: number; readonly at: number }> = []
  private shown = false
  private lastDraw = Number.NEGATIVE_INFINITY

  constructor(private readonly options: ProgressBarOptions) {
    this.now = options.now ?? (() => performance.now())
    this.minIntervalMs = options.minIntervalMs ?? 100
  }

  /** A finished step (the training loop's `onStep`). */
  readonly update = (report: StepReport): void => {
    const totals = this.options.stages[report.stage]
    if (totals === undefined) return
    const at = this.now()
    const total = totals.epochs * report.stepsInEpoch
    if (this.state?.stage !== report.stage) this.times = []
    this.times.push({ done: report.globalStep, at })
    if (this.times.length > rateWindow) this.times.shift()
    const first = this.times[0]!
    const stepsPerSecond = this.times.length >= 2 && at > first.at ? ((report.globalStep - first.done) * 1000) / (at - first.at) : undefined
    const firstDraw = this.state?.stage !== report.stage
    this.state = {
      stage: report.stage,
      epoch: report.epoch,
      epochs: totals.epochs,
      step: report.step,
      stepsInEpoch: report.stepsInEpoch,
      done: report.globalStep,
      total,
      stepsPerSecond,
      imagesPerStep: totals.imagesPerStep
    }
    if (report.globalStep >= total) {
      this.clear()
      this.state = undefined
      this.times = []
      return
    }
    if (firstDraw || at - this.lastDraw >= this.minIntervalMs) this.redraw()
  }

  /** Erase the bar (if drawn), e.g. before a log line. */
  readonly clear = (): void => {
    if (!this.shown) return
    this.options.write("\r\u001b[2K")
    this.shown = false
  }

  /** Draw the bar again (after a log line), if a stage is in progress. */
  readonly redraw = (): void => {
    if (this.state === undefined) return
    this.options.write(`\r\u001b[2K${formatProgress(this.state, Math.max(20, this.options.columns() - 1))}`)
    this.shown = true
    this.lastDraw = this.now()
  }
}
