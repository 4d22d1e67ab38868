import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { computeThreadsField, keepComputeThreads, Rng, variableGrads } from "@bingo/runtime"
import { type OptimisationOptions, Sgd } from "@bingo/optim"
import { checkpointExists, loadCheckpoint, type LoopState, saveCheckpoint } from "./LoopCheckpoint.ts"
import { type EpochAccumulator, emptyAccumulator, type EpochSummary, type EpochTiming, type LoopProgress } from "./LoopProgress.ts"
import type { LossOutput, Objective, StepContext } from "./Objective.ts"
import { type LrSchedule, scheduledLr, scheduleOf } from "./LearningRate.ts"
import { embeddingHealth, gradientNorm, type HealthThresholds, healthDefaults, judgeEpoch } from "./TrainingHealth.ts"
import { TrainingCollapsed, TrainingDiverged } from "./TrainingError.ts"
import { appendMetrics, type MetricsLogOptions, prepareMetrics, type StepLine } from "./MetricsLog.ts"

/** How a run of the loop is kept and watched: checkpoints, logs, hooks, health thresholds (none changes the trajectory). */
export interface LoopRunOptions {
  /** Where the state is checkpointed (atomically); absent: no checkpoints. */
  readonly checkpointPath?: string | undefined
  /** Checkpoint every this many steps (and always at the end of each epoch). 0: epoch ends only. */
  readonly checkpointEverySteps?: number | undefined
  /** Continue from `checkpointPath` when it exists (default true). */
  readonly resume?: boolean | undefined
  /** Log a line every this many steps (0 or absent: once per epoch). */
  readonly logEvery?: number | undefined
  /** Stop after this many steps in this process (tests of resumption); the run is unfinished. */
  readonly stopAfterSteps?: number | undefined
  /** Called after every finished step (progress bars, metrics files, soak tests). */
  readonly onStep?: ((report: StepReport) => void) | undefined
  readonly health?: Partial<HealthThresholds> | undefined
  /** Append step and epoch lines to this metrics.jsonl (docs/metrics.md). */
  readonly metrics?: MetricsLogOptions | undefined
}

export interface TrainingLoopOptions extends LoopRunOptions {
  /** Names the stage in logs and errors ("teacher pre-training", "distillation"). */
  readonly stage: string
  readonly schedule: LrSchedule
  readonly momentum: number
  readonly weightDecay: number
  /** Order RNG = seed + 1, augmentation RNG = seed + 2. */
  readonly seed: number
  /** Everything outside the loop's options that changes the trajectory (networks, data, loss). */
  readonly fingerprint: string
}

/** The loop's options for a stage with these optimisation and run settings. */
export const loopOptions = (
  stage: string,
  o: OptimisationOptions & LoopRunOptions,
  seed: number,
  fingerprint: string
): TrainingLoopOptions => ({
  stage,
  schedule: scheduleOf(o),
  momentum: o.momentum,
  weightDecay: o.weightDecay,
  seed,
  fingerprint,
  checkpointPath: o.checkpointPath,
  checkpointEverySteps: o.checkpointEverySteps,
  resume: o.resume,
  logEvery: o.logEvery,
  stopAfterSteps: o.stopAfterSteps,
  onStep: o.onStep,
  health: o.health,
  metrics: o.metrics
})

/** The numbers of one step, as read back from the backend in one sync. */
export interface StepNumbers {
  readonly loss: number
  readonly gradNorm: number
  readonly terms: Readonly<Record<string, number>>
  readonly embeddings: Readonly<Record<string, { readonly spread: number; readonly embeddingStd: number; readonly dead: number }>>
}

export interface StepReport extends StepNumbers {
  readonly stage: string
  readonly epoch: number
  readonly step: number
  readonly stepsInEpoch: number
  readonly globalStep: number
  readonly lr: number
}

export interface LoopResult {
  readonly epochs: ReadonlyArray<EpochSummary>
  readonly steps: number
  /** False when stopped early by `stopAfterSteps`. */
  readonly finished: boolean
}

/**
 * The one training loop: for each epoch, plan its steps from the order RNG; for each step, make
 * the views, compute the loss and its gradients, check the step's health, update with SGD
 * (PyTorch's rule) at the scheduled lr, let the objective enqueue keys and move momentum
 * encoders; report; checkpoint every N steps and at every epoch end. A checkpoint holds everything
 * the trajectory depends on, so a resumed run continues with identical losses. A non-finite loss
 * or gradient is a TrainingDiverged, a collapsed embedding a TrainingCollapsed; both name the
 * stage, epoch, step and the last good checkpoint.
 */
export const runTrainingLoop = <In, E>(objective: Objective<In, E>, options: TrainingLoopOptions) =>
  Effect.gen(function* () {
    const sgd = new Sgd({ momentum: options.momentum, weightDecay: options.weightDecay })
    const state: LoopState = { networks: objective.networks, sgd, queues: objective.queues }
    return yield* trainEpochs(objective, options, state).pipe(Effect.ensuring(Effect.sync(() => sgd.dispose())))
  })

const loopFingerprint = (o: TrainingLoopOptions, objective: Objective<unknown, unknown>): string =>
  JSON.stringify({
    schedule: o.schedule,
    momentum: o.momentum,
    weightDecay: o.weightDecay,
    seed: o.seed,
    trainable: [...objective.trainable.keys()],
    objective: o.fingerprint
  })

const freshProgress = (seed: number): LoopProgress => ({
  epoch: 0,
  stepInEpoch: 0,
  globalStep: 0,
  orderRngAtEpochStart: Rng.fromSeed(seed + 1).state(),
  augRng: Rng.fromSeed(seed + 2).state(),
  epochs: [],
  partial: emptyAccumulator(),
  ...computeThreadsField()
})

const trainEpochs = <In, E>(objective: Objective<In, E>, options: TrainingLoopOptions, state: LoopState) =>
  Effect.gen(function* () {
    const fingerprint = loopFingerprint(options, objective as Objective<unknown, unknown>)
    const ckpt = options.checkpointPath
    let progress = freshProgress(options.seed)
    if (ckpt !== undefined && (options.resume ?? true) && checkpointExists(ckpt)) {
      progress = yield* loadCheckpoint(ckpt, state, fingerprint)
      yield* Effect.logInfo(
        `${options.stage}: resumed from ${ckpt} at epoch ${progress.epoch + 1}, step ${progress.stepInEpoch} (global step ${progress.globalStep})`
      )
      const threads = keepComputeThreads(progress.computeThreads)
      if (threads !== undefined) yield* Effect.logInfo(`${options.stage}: ${threads}`)
      progress = { ...progress, ...computeThreadsField() }
    }
    if (options.metrics !== undefined) prepareMetrics(options.metrics.path, options.stage, progress.epoch, progress.globalStep)
    const run: EpochRun<In, E> = {
      objective,
      options,
      state,
      progress,
      fingerprint,
      thresholds: { ...healthDefaults, ...options.health },
      lastCheckpoint: ckpt !== undefined && checkpointExists(ckpt) ? ckpt : undefined,
      stepsThisProcess: 0,
      lowSpreadSteps: {},
      timing: { images: 0, seconds: 0 }
    }
    while (progress.epoch < options.schedule.epochs) {
      const stopped = yield* trainEpoch(run)
      if (stopped) return { epochs: progress.epochs, steps: progress.globalStep, finished: false } satisfies LoopResult
    }
    return { epochs: progress.epochs, steps: progress.globalStep, finished: true } satisfies LoopResult
  })

/** The mutable context of a run, shared by its epochs. */
interface EpochRun<In, E> {
  readonly objective: Objective<In, E>
  readonly options: TrainingLoopOptions
  readonly state: LoopState
  readonly progress: LoopProgress
  readonly fingerprint: string
  readonly thresholds: HealthThresholds
  lastCheckpoint: string | undefined
  stepsThisProcess: number
  /** This process's steps of the epoch in progress. */
  timing: EpochTiming
  /** Consecutive steps each monitored embedding spent below the collapse spread, and its spread when the streak began. */
  lowSpreadSteps: Record<string, { readonly from: number; steps: number }>
}

const checkpoint = <In, E>(run: EpochRun<In, E>) =>
  Effect.gen(function* () {
    const path = run.options.checkpointPath
    if (path === undefined) return
    yield* saveCheckpoint(path, run.state, run.progress, run.fingerprint)
    run.lastCheckpoint = path
  })

/** One epoch from `progress.stepInEpoch` to its end (true when `stopAfterSteps` stopped it). */
const trainEpoch = <In, E>(run: EpochRun<In, E>) =>
  Effect.gen(function* () {
    const { objective, options, progress } = run
    const orderRng = Rng.fromState(progress.orderRngAtEpochStart)
    const plan = objective.planEpoch(orderRng)
    const trainable = objective.trainable
    const trainableList = [...trainable.values()]
    for (let step = progress.stepInEpoch; step < plan.steps; step++) {
      const input = yield* plan.take(step)
      const lr = scheduledLr(options.schedule, progress.epoch, step, plan.steps)
      const augRng = Rng.fromState(progress.augRng)
      const context = { epoch: progress.epoch, step, augRng }
      const t0 = performance.now()
      const prepared = objective.prepare === undefined ? input : yield* objective.prepare(input, context)
      const numbers = trainStep(objective, prepared, context, trainable, trainableList, run.state.sgd, lr)
      const seconds = (performance.now() - t0) / 1000
      yield* checkStep(run, step, lr, numbers)
      progress.augRng = augRng.state()
      accumulate(progress.partial, numbers, lr)
      run.timing.images += objective.imagesPerStep
      run.timing.seconds += seconds
      progress.stepInEpoch = step + 1
      progress.globalStep++
      run.stepsThisProcess++
      const report: StepReport = {
        ...numbers,
        stage: options.stage,
        epoch: progress.epoch,
        step,
        stepsInEpoch: plan.steps,
        globalStep: progress.globalStep,
        lr
      }
      options.onStep?.(report)
      // before any checkpoint of this step: a kill between the two re-writes the line on resume
      if (options.metrics !== undefined && progress.globalStep % Math.max(1, options.metrics.every) === 0) {
        appendMetrics(options.metrics.path, stepLine(run, report, objective.imagesPerStep / Math.max(seconds, 1e-9)))
      }
      if (options.logEvery !== undefined && options.logEvery > 0 && progress.globalStep % options.logEvery === 0) {
        yield* Effect.logInfo(
          `${options.stage} epoch ${progress.epoch + 1}/${options.schedule.epochs} step ${step + 1}/${plan.steps} loss ${numbers.loss.toFixed(4)}`
        )
      }
      const every = options.checkpointEverySteps ?? 0
      if (every > 0 && progress.globalStep % every === 0 && step + 1 < plan.steps) yield* checkpoint(run)
      if (options.stopAfterSteps !== undefined && run.stepsThisProcess >= options.stopAfterSteps) {
        yield* checkpoint(run)
        return true
      }
      yield* Effect.yieldNow
    }
    yield* finishEpoch(run, orderRng)
    return false
  })

/**
 * One step inside a tidy: views, loss and gradients, the health numbers, one read-back, and the
 * update when the numbers are finite (a non-finite step changes nothing; the caller fails).
 */
const trainStep = <In>(
  objective: Objective<In, unknown>,
  input: In,
  context: StepContext,
  trainable: ReadonlyMap<string, tf.Variable>,
  trainableList: Array<tf.Variable>,
  sgd: Sgd,
  lr: number
): StepNumbers => {
  let numbers: StepNumbers | undefined
  tf.tidy(() => {
    const views = objective.makeViews(input, context)
    let out: LossOutput | undefined
    let stats: tf.Tensor1D | undefined
    const { value, grads } = variableGrads(() => {
      out = views.loss()
      const terms = Object.values(out.terms ?? {}).map((t) => t.reshape([1]))
      stats = tf.keep(tf.concat([tf.zeros([0]), ...terms, ...out.monitored.map(([, z]) => embeddingHealth(z))]) as tf.Tensor1D)
      return out.total
    }, trainableList)
    const named = new Map([...trainable].map(([name, v]) => [name, grads[v.name]!]))
    const all = tf.concat([value.reshape([1]), gradientNorm([...named.values()]).reshape([1]), stats!]).dataSync()
    stats!.dispose()
    numbers = parseNumbers(all, out!)
    if (Number.isFinite(numbers.loss) && Number.isFinite(numbers.gradNorm)) {
      sgd.step(named, trainable, lr)
      views.afterUpdate?.()
    }
  })
  return numbers!
}

const parseNumbers = (all: ArrayLike<number>, out: LossOutput): StepNumbers => {
  let i = 2
  const terms: Record<string, number> = {}
  for (const name of Object.keys(out.terms ?? {})) terms[name] = all[i++]!
  for (const [name, v] of Object.entries(out.scalars ?? {})) terms[name] = v
  const embeddings: Record<string, { spread: number; embeddingStd: number; dead: number }> = {}
  for (const [name] of out.monitored) {
    embeddings[name] = { spread: all[i]!, embeddingStd: all[i + 1]!, dead: all[i + 2]! }
    i += 3
  }
  return { loss: all[0]!, gradNorm: all[1]!, terms, embeddings }
}

/** A diverged step fails now; an embedding below the collapse spread for `collapseSteps` steps in a row too. */
const checkStep = <In, E>(run: EpochRun<In, E>, step: number, lr: number, n: StepNumbers) =>
  Effect.gen(function* () {
    const { stage } = run.options
    const epoch = run.progress.epoch
    const last = run.lastCheckpoint === undefined ? {} : { lastCheckpoint: run.lastCheckpoint }
    if (!Number.isFinite(n.loss) || !Number.isFinite(n.gradNorm)) {
      return yield* new TrainingDiverged({ stage, epoch, step, loss: n.loss, gradNorm: n.gradNorm, lr, ...last })
    }
    const t = run.thresholds
    for (const [network, h] of Object.entries(n.embeddings)) {
      const streak = h.spread < t.collapseSpread ? (run.lowSpreadSteps[network] ?? { from: h.spread, steps: 0 }) : undefined
      if (streak === undefined) delete run.lowSpreadSteps[network]
      else {
        streak.steps++
        run.lowSpreadSteps[network] = streak
      }
      if (streak !== undefined && streak.steps >= t.collapseSteps && h.spread <= streak.from) {
        return yield* new TrainingCollapsed({
          stage,
          epoch,
          step,
          network,
          evidence:
            `have had a spread below ${t.collapseSpread} for ${t.collapseSteps} steps in a row, not rising ` +
            `(${streak.from.toFixed(4)} then ${h.spread.toFixed(4)}; 1 = spread out, 0 = one point)`,
          advice: collapseAdvice(run.objective as Objective<unknown, unknown>, network, lr),
          ...last
        })
      }
    }
  })

const collapseAdvice = (objective: Objective<unknown, unknown>, network: string, lr: number): string =>
  objective.frozenNetworks?.includes(network) === true
    ? "The frozen teacher outputs the same embedding for every image: distillation cannot learn from it. Check the teacher's weights, or pre-train it with a lower lr."
    : `Try a lower lr (e.g. ${(lr / 3).toPrecision(2)} at this batch size), a longer lr warm-up (lrWarmupEpochs), or a larger batch.`

const stepLine = <In, E>(run: EpochRun<In, E>, r: StepReport, imagesPerSecond: number): StepLine => {
  const images = r.globalStep * run.objective.imagesPerStep
  return {
    type: "step",
    stage: r.stage,
    epoch: r.epoch,
    step: r.step,
    globalStep: r.globalStep,
    images,
    loss: r.loss,
    terms: r.terms,
    lr: r.lr,
    gradNorm: r.gradNorm,
    embeddings: r.embeddings,
    queueFill: Object.fromEntries([...run.objective.queues].map(([name, q]) => [name, Math.min(1, images / q.size)])),
    imagesPerSecond,
    time: new Date().toISOString()
  }
}

const accumulate = (a: EpochAccumulator, n: StepNumbers, lr: number) => {
  a.count++
  a.loss += n.loss
  a.gradNorm += n.gradNorm
  a.lr = lr
  for (const [k, v] of Object.entries(n.terms)) a.terms[k] = (a.terms[k] ?? 0) + v
  for (const [k, h] of Object.entries(n.embeddings)) {
    const e = a.embeddings[k] ?? { spread: 0, embeddingStd: 0, dead: 0 }
    a.embeddings[k] = e
    e.spread += h.spread
    e.embeddingStd += h.embeddingStd
    e.dead += h.dead
  }
}

const summarise = (epoch: number, a: EpochAccumulator, timing: EpochTiming, collapseValue: number | undefined): EpochSummary => {
  const mean = (x: number) => x / Math.max(1, a.count)
  return {
    epoch,
    loss: mean(a.loss),
    terms: Object.fromEntries(Object.entries(a.terms).map(([k, v]) => [k, mean(v)])),
    lr: a.lr,
    gradNorm: mean(a.gradNorm),
    embeddings: Object.fromEntries(
      Object.entries(a.embeddings).map(([k, e]) => [k, { spread: mean(e.spread), embeddingStd: mean(e.embeddingStd), dead: mean(e.dead) }])
    ),
    collapseValue: collapseValue ?? null,
    imagesPerSecond: timing.seconds > 0 ? timing.images / timing.seconds : null,
    seconds: timing.seconds > 0 ? timing.seconds : null
  }
}

/** Summarise the epoch, judge its health (fail before checkpointing a collapsed state), log, checkpoint. */
const finishEpoch = <In, E>(run: EpochRun<In, E>, orderRng: Rng) =>
  Effect.gen(function* () {
    const { options, progress, objective } = run
    const summary = summarise(progress.epoch, progress.partial, run.timing, objective.collapseValue)
    const verdict = judgeEpoch(
      {
        loss: summary.loss,
        previousLosses: progress.epochs.map((e) => e.loss),
        ...(progress.epochs.length === 0
          ? {}
          : { previousSpreads: Object.fromEntries(Object.entries(progress.epochs.at(-1)!.embeddings).map(([k, e]) => [k, e.spread])) }),
        collapseValue: objective.collapseValue,
        embeddings: Object.entries(summary.embeddings)
      },
      run.thresholds
    )
    if (verdict._tag === "Collapsed") {
      return yield* new TrainingCollapsed({
        stage: options.stage,
        epoch: progress.epoch,
        step: Math.max(0, progress.stepInEpoch - 1),
        network: verdict.network,
        evidence: verdict.evidence,
        advice: collapseAdvice(objective as Objective<unknown, unknown>, verdict.network, summary.lr),
        ...(run.lastCheckpoint === undefined ? {} : { lastCheckpoint: run.lastCheckpoint })
      })
    }
    yield* Effect.logInfo(formatEpoch(options.stage, options.schedule.epochs, summary))
    if (verdict._tag === "Drifting") {
      for (const w of verdict.warnings) yield* Effect.logWarning(`${options.stage} epoch ${progress.epoch + 1}: ${w}`)
    }
    progress.epochs.push(summary)
    if (options.metrics !== undefined)
      appendMetrics(options.metrics.path, { type: "epoch", stage: options.stage, ...summary, time: new Date().toISOString() })
    progress.partial = emptyAccumulator()
    run.timing = { images: 0, seconds: 0 }
    progress.epoch++
    progress.stepInEpoch = 0
    progress.orderRngAtEpochStart = orderRng.state()
    yield* checkpoint(run)
  })

/** `distillation epoch 3/6 loss 6.1234 (collapse 7.6251) lr 0.0600 |g| 1.23 spread student 0.81 teacher 0.77 (1473 img/s)` + terms. */
export const formatEpoch = (stage: string, epochs: number, s: EpochSummary): string => {
  const collapse = s.collapseValue === null ? "" : ` (collapse ${s.collapseValue.toFixed(4)})`
  const spreads = Object.entries(s.embeddings)
    .map(([k, e]) => `${k} ${e.spread.toFixed(3)}`)
    .join(" ")
  const terms = Object.entries(s.terms)
    .map(([k, v]) => `${k} ${v.toFixed(4)}`)
    .join(" ")
  return (
    `${stage} epoch ${s.epoch + 1}/${epochs} loss ${s.loss.toFixed(4)}${collapse} lr ${s.lr.toFixed(4)} |g| ${s.gradNorm.toFixed(3)}` +
    (spreads === "" ? "" : ` spread ${spreads}`) +
    (terms === "" ? "" : ` [${terms}]`) +
    (s.imagesPerSecond === null ? "" : ` (${s.imagesPerSecond.toFixed(0)} img/s)`)
  )
}
