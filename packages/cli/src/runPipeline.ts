import { Effect, Layer } from "effect"
import { existsSync, readdirSync } from "node:fs"
import { join, relative, resolve } from "node:path"
import { atomicWrite, computeThreadsField, removeStaleTempFiles, Rng, Runtime } from "@bingo/runtime"
import { createEncoder, disposeEncoder, type EncoderSpec, exportTfjsModel, parameterCount, saveWeights } from "@bingo/backbones"
import { type AugmentConfig, DatasetSource, type ImageSource, resolveAugmentConfig } from "@bingo/data"
import { BagMiner, bagPurity, type Bags } from "@bingo/bag-miner"
import { LossRegistry } from "@bingo/losses"
import { Teacher } from "@bingo/teacher"
import { Trainer } from "@bingo/trainer"
import { appendMetrics, type EpochSummary, prepareMetrics, type StepReport } from "@bingo/training"
import { evaluateEncoder, evaluateFeatures, type EvaluationOptions, formatResultsTable, type ReportRow } from "@bingo/eval"
import type { PipelineConfig } from "./PipelineConfig.ts"
import { loadPlugins } from "./loadPlugins.ts"
import { ConfigError } from "./ConfigError.ts"
import { teacherWarnings } from "./teacherWarnings.ts"
import { teacherLayer } from "./teacherLayer.ts"
import { writeRunConfig } from "./runConfigFile.ts"

export interface PipelineResult {
  readonly name: string
  readonly backend: string
  /** Native cpu threads the run computed with (cpu-native only): its float results depend on the count. */
  readonly computeThreads?: number
  readonly dataset: { readonly name: string; readonly train: number; readonly test: number }
  readonly bagPurity: number | null
  readonly distillLosses: ReadonlyArray<number>
  /** Each distillation epoch's means: every loss term, lr, gradient norm, embedding spread of student and teacher, collapse value. */
  readonly distillEpochs: ReadonlyArray<EpochSummary>
  /** The same for the teacher's MoCo-v2 pre-training, when this pipeline pre-trained it (empty for a loaded teacher). */
  readonly teacherPretraining: ReadonlyArray<EpochSummary>
  readonly rows: ReadonlyArray<ReportRow>
  /** Why there are no rows, when evaluation was skipped (unlabelled data). */
  readonly evaluationSkipped?: string
  readonly chance: number
  /**
   * Warnings about the run's results, one line each (also logged): a teacher whose linear probe
   * is not better than a random teacher's or a random student's (`teacherWarnings`).
   */
  readonly warnings: ReadonlyArray<string>
  /** Wall-clock seconds per stage; `teacher` includes loading the data and building the teacher (pre-training it, if needed). */
  readonly seconds: {
    readonly teacher: number
    readonly bags: number
    readonly distill: number
    readonly eval: number
    readonly total: number
  }
  /** Peak resident set size of the process so far (`process.resourceUsage().maxRSS`), MiB. */
  readonly peakRssMiB: number
}

/** Peak RSS of this process so far, MiB (maxRSS is in KiB on every platform Node reports it for). */
export const peakRssMiB = (): number => Math.round(process.resourceUsage().maxRSS / 1024)

export const encoderSpec = (section: PipelineConfig["student"], inputShape: readonly [number, number, number]): EncoderSpec => ({
  backbone: section.backbone,
  inputShape,
  widthMultiplier: section.widthMultiplier,
  headHidden: section.headHidden,
  embeddingDim: section.embeddingDim,
  ...(section.stem === undefined ? {} : { stem: section.stem })
})

/** Watchers of a run that change nothing in it. */
export interface PipelineHooks {
  /** Called after every training step of teacher pre-training and distillation (`bingo run`'s progress bar). */
  readonly onStep?: (report: StepReport) => void
}

/**
 * The layers of one run, composed here and only here (plus examples and tests). The encoders'
 * input shape comes from the dataset (channels) and the augmentation (view size), so the
 * teacher and trainer layers are built after the DatasetSource has loaded.
 */
export const pipelineLayer = (given: PipelineConfig, configDir: string, hooks: PipelineHooks = {}) => {
  const config = given
  const outDir = resolve(configDir, config.outDir)
  const runtime = Runtime.layer({ backend: config.backend, seed: config.seed })
  const dataset = DatasetSource.layer({ name: config.dataset.name, options: resolveDatasetPaths(config.dataset.options, configDir) })
  const miner = BagMiner.layer({
    method: config.bags.method,
    k: config.bags.k,
    seed: config.seed,
    ...(config.bags.clusters === undefined ? {} : { clusters: config.bags.clusters }),
    ...knnSearchOptions(config.bags)
  })
  const stages = Layer.unwrap(
    Effect.gen(function* () {
      // before any stage writes: temp files of a run killed mid-write are never results
      const stale = [outDir, ...subdirectories(outDir)].flatMap((d) =>
        removeStaleTempFiles(d).map((name) => relative(outDir, join(d, name)))
      )
      if (stale.length > 0)
        yield* Effect.logInfo(`removed ${stale.length} temp file(s) left in ${outDir} by an interrupted run: ${stale.join(", ")}`)
      const { train, test } = yield* (yield* DatasetSource).load
      const config = yield* withQueueSizes(given, train.size)
      // checked before the teacher is pre-trained, so a config that cannot finish fails in seconds
      yield* checkSplits(config, train, test)
      // the decoded config, for `bingo report` (and a record of what ran); written once the data are known to fit it
      yield* Effect.sync(() => writeRunConfig(given, configDir))
      const augment = augmentOf(config, train)
      const metrics = { path: join(outDir, "metrics.jsonl"), every: config.metricsEvery }
      const inputShape = [augment.outputSize, augment.outputSize, train.channels] as const
      const teacher = teacherLayer(config, {
        configDir,
        outDir,
        augment,
        channels: train.channels,
        seed: config.seed,
        metrics,
        onStep: hooks.onStep
      })
      const trainer = Trainer.layer({
        student: encoderSpec(config.student, inputShape),
        augment,
        epochs: config.distill.epochs,
        batchSize: config.distill.batchSize,
        lr: config.distill.lr,
        lrScaling: config.distill.lrScaling,
        lrWarmupEpochs: config.distill.lrWarmupEpochs,
        momentum: config.distill.momentum,
        weightDecay: config.distill.weightDecay,
        queueSize: config.distill.queueSize,
        studentKeyMomentum: config.distill.studentKeyMomentum,
        seed: config.seed,
        checkpointPath: join(outDir, "checkpoint.safetensors"),
        checkpointEverySteps: config.distill.checkpointEverySteps,
        resume: config.distill.resume,
        logEvery: 0,
        metrics,
        onStep: hooks.onStep
      })
      return trainer.pipe(Layer.provideMerge(teacher))
    })
  )
  return Layer.mergeAll(stages, miner).pipe(Layer.provideMerge(dataset), Layer.provideMerge(runtime))
}

/** The kNN search keys of a `bags` section that are set, as BagMiner options (the rest keep bag-miner's defaults). */
export const knnSearchOptions = (bags: PipelineConfig["bags"]) => ({
  ...(bags.search === undefined ? {} : { search: bags.search }),
  ...(bags.exactUpTo === undefined ? {} : { exactUpTo: bags.exactUpTo }),
  ...(bags.recallSample === undefined ? {} : { recallSample: bags.recallSample }),
  ...(bags.hnsw === undefined ? {} : { hnsw: bags.hnsw })
})

/** The config's augmentation with the view size filled in: `augment.outputSize`, else the images' height. */
export const augmentOf = (config: PipelineConfig, train: { readonly height: number }): AugmentConfig => ({
  ...config.augment,
  outputSize: config.augment.outputSize ?? train.height
})

/**
 * The dataset's name in the report and results.json: the config's `dataset.options.name` when
 * given, else the name the loader gave the training split (an image folder's name, or its
 * parent's when the folder is a split such as train/ or test/; an IDX directory's name; the
 * CIFAR variant; "shapes"; "digits"), else the registry name.
 */
export const datasetName = (config: PipelineConfig, train: { readonly name: string }): string => {
  const named = config.dataset.options["name"]
  return typeof named === "string" && named !== "" ? named : train.name !== "" ? train.name : config.dataset.name
}

/** Dataset options that name files or folders (`dir`, `testDir`, `cache`); the registry's loaders take them as given. */
const datasetPathOptions = ["dir", "testDir", "cache"] as const

/**
 * The dataset options with relative paths resolved against the config file's folder, as every
 * other path of a config is (outDir, plugins, bags.file, teacher.weights).
 */
export const resolveDatasetPaths = (options: Readonly<Record<string, unknown>>, configDir: string): Readonly<Record<string, unknown>> => {
  const resolved: Record<string, unknown> = { ...options }
  for (const key of datasetPathOptions) {
    const value = options[key]
    if (typeof value === "string") resolved[key] = resolve(configDir, value)
  }
  return resolved
}

/** The folders inside `dir` (e.g. student-tfjs/); none when `dir` does not exist yet. */
const subdirectories = (dir: string): Array<string> =>
  existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => join(dir, e.name))
    : []

/** Config problems only the loaded data reveal, named by their key path. */
/**
 * Why the splits cannot be evaluated (kNN and linear probe need labels on both), or undefined
 * when they can. Unlabelled data still train: the pipeline then skips evaluation.
 */
export const evaluationSkippedBecause = (train: ImageSource, test: ImageSource | undefined): string | undefined =>
  train.labels === undefined
    ? `the training images of '${train.name}' have no labels`
    : test !== undefined && test.labels === undefined
      ? `the test images of '${test.name}' have no labels`
      : undefined

const checkSplits = (config: SizedConfig, train: ImageSource, test: ImageSource | undefined) => {
  const dropped = "partial batches are dropped, so no step would run"
  if (test === undefined && evaluationSkippedBecause(train, test) === undefined) {
    return Effect.fail(new ConfigError({ path: "dataset", reason: `dataset '${config.dataset.name}' has no test split to evaluate on` }))
  }
  for (const field of ["mean", "std"] as const) {
    const values = config.augment[field]
    if (values !== undefined && values.length !== 1 && values.length !== train.channels) {
      return Effect.fail(
        new ConfigError({
          path: `augment.${field}`,
          reason: `${values.length} values for the ${train.channels}-channel images of dataset '${config.dataset.name}' (expected 1${train.channels > 1 ? ` or ${train.channels}` : ""})`
        })
      )
    }
  }
  if (config.distill.batchSize > train.size) {
    return Effect.fail(
      new ConfigError({
        path: "distill.batchSize",
        reason: `${config.distill.batchSize} is larger than the training set (${train.size} images); ${dropped}`
      })
    )
  }
  if (config.teacher.weights === undefined && config.teacher.pretrain.batchSize > train.size) {
    return Effect.fail(
      new ConfigError({
        path: "teacher.pretrain.batchSize",
        reason: `${config.teacher.pretrain.batchSize} is larger than the training set (${train.size} images); ${dropped}`
      })
    )
  }
  for (const [section, o] of [
    ["distill", config.distill],
    ["teacher.pretrain", config.teacher.pretrain]
  ] as const) {
    if (section === "teacher.pretrain" && config.teacher.weights !== undefined) continue
    if (o.queueSize < o.batchSize) {
      return Effect.fail(
        new ConfigError({
          path: `${section}.queueSize`,
          reason: `${o.queueSize} is smaller than one batch (${section}.batchSize ${o.batchSize}): each step enqueues a whole batch of keys; use a queue of at least ${o.batchSize}`
        })
      )
    }
  }
  return queueWarnings(config, train.size)
}

/** The largest queue `queueSize: auto` picks. */
export const autoQueueMax = 4096

/**
 * `queueSize: auto`: a quarter of the training set rounded down to a power of two, at most 4,096
 * (MoCo's CIFAR choice for 50,000 images) and at least one batch. A queue as long as the data
 * holds each batch's own earlier keys as negatives: with 1,438 digits and the old fixed 2,048
 * the teacher's MoCo loss rose towards ln(Q + 1) and the student collapsed.
 */
export const resolveQueueSize = (queueSize: number | "auto", trainSize: number, batchSize: number): number =>
  queueSize === "auto" ? Math.max(batchSize, Math.min(autoQueueMax, largestPowerOfTwoBelow(trainSize / 4))) : queueSize

/** A config whose queue sizes are numbers (`auto` resolved for its training set). */
export type SizedConfig = PipelineConfig & {
  readonly teacher: { readonly pretrain: { readonly queueSize: number } }
  readonly distill: { readonly queueSize: number }
}

/** The config with every `queueSize: auto` resolved for `trainSize` images, each logged. */
export const withQueueSizes = (config: PipelineConfig, trainSize: number) =>
  Effect.gen(function* () {
    const pretrain = config.teacher.pretrain
    const distill = config.distill
    const resolved = {
      ...config,
      teacher: {
        ...config.teacher,
        pretrain: { ...pretrain, queueSize: resolveQueueSize(pretrain.queueSize, trainSize, pretrain.batchSize) }
      },
      distill: { ...distill, queueSize: resolveQueueSize(distill.queueSize, trainSize, distill.batchSize) }
    }
    for (const [path, given, size] of [
      ["teacher.pretrain.queueSize", pretrain.queueSize, resolved.teacher.pretrain.queueSize],
      ["distill.queueSize", distill.queueSize, resolved.distill.queueSize]
    ] as const) {
      if (given === "auto")
        yield* Effect.logInfo(
          `${path} auto: ${size} keys (a quarter of the ${trainSize} training images, to a power of two, at most ${autoQueueMax})`
        )
    }
    return resolved satisfies SizedConfig
  })

/**
 * A warning for each queue of negatives at least as long as the training set: it then always
 * holds earlier keys of the batch's own images, negatives that are really positives (MoCo's
 * queue is 65,536 keys for 1.28M ImageNet images; 4,096 is the usual choice for CIFAR's 50,000).
 */
export const queueWarnings = (config: SizedConfig, trainSize: number) =>
  Effect.forEach(
    [
      ...(config.teacher.weights === undefined ? [["teacher.pretrain.queueSize", config.teacher.pretrain.queueSize] as const] : []),
      ["distill.queueSize", config.distill.queueSize] as const
    ],
    ([path, size]) =>
      size >= trainSize
        ? Effect.logWarning(
            `${path}: a queue of ${size} keys is not shorter than the training set (${trainSize} images), so it always holds ` +
              `earlier keys of each batch's own images as negatives; a queue well below ${trainSize} (e.g. ${largestPowerOfTwoBelow(trainSize / 4)}) avoids that`
          )
        : Effect.void,
    { discard: true }
  )

const largestPowerOfTwoBelow = (x: number): number => 2 ** Math.max(0, Math.floor(Math.log2(Math.max(1, x))))

/**
 * The whole BINGO pipeline: load data -> frozen teacher (pre-trained with MoCo-v2 here, or
 * loaded) -> embed -> mine bags -> distil the student -> evaluate student, a random student
 * of the same architecture and the teacher -> results table + results.json in outDir.
 * Needs the layers of `pipelineLayer`. Re-running reuses the teacher, the bags and the last
 * distillation checkpoint found in outDir.
 */
export const runPipeline = Effect.fn("runPipeline")(function* (config: PipelineConfig, configDir: string, startedAt = performance.now()) {
  const started = startedAt
  const clock = () => (performance.now() - started) / 1000
  const outDir = resolve(configDir, config.outDir)
  const runtime = yield* Runtime
  const { train, test } = yield* (yield* DatasetSource).load
  const skipEvaluation = evaluationSkippedBecause(train, test)
  if (test === undefined && skipEvaluation === undefined) {
    return yield* new ConfigError({ path: "dataset", reason: `dataset '${config.dataset.name}' has no test split to evaluate on` })
  }
  const augment = augmentOf(config, train)
  const teacher = yield* Teacher
  const tTeacher = clock()

  // Stage 1: bags
  const miner = yield* BagMiner
  const bagPath = join(outDir, "bags.npy")
  let bags: Bags
  if (config.bags.file !== undefined) {
    bags = yield* miner.load(resolve(configDir, config.bags.file), train.size)
  } else if (existsSync(bagPath)) {
    bags = yield* miner.load(bagPath, train.size)
    yield* Effect.logInfo(`bags: reusing ${bagPath}`)
  } else {
    const feats = yield* teacher.embedDataset(train, augment)
    bags = yield* miner.mine({ features: feats.values, dim: feats.dim, ...(train.labels === undefined ? {} : { labels: train.labels }) })
    yield* miner.save(bagPath, bags)
  }
  const purity = train.labels === undefined ? null : bagPurity(bags, train.labels).overall
  if (purity !== null) yield* Effect.logInfo(`bags: ${bags.n} x ${bags.k}, purity ${(100 * purity).toFixed(1)}%`)
  const tBags = clock()

  // Stage 2: distillation
  const plugins = yield* loadPlugins(config.plugins, configDir)
  const registry = yield* LossRegistry.build(plugins)
  const loss = yield* registry.resolve(config.distill.loss.name, config.distill.loss.options)
  const trainer = yield* Trainer
  const distilled = yield* Effect.acquireRelease(trainer.distil({ dataset: train, bags, loss }), (r) =>
    Effect.sync(() => disposeEncoder(r.student))
  )
  yield* saveWeights(join(outDir, "student.safetensors"), distilled.student.params, { spec: JSON.stringify(distilled.student.spec) })
  // the same student for browsers / plain TF.js: model.json + weights, with the eval preprocessing it expects
  const view = resolveAugmentConfig(augment)
  yield* exportTfjsModel(distilled.student, join(outDir, "student-tfjs"), {
    metadata: { preprocessing: { pixelRange: [0, 1], mean: view.mean, std: view.std, centerCropFraction: view.centerCropFraction } }
  })
  const tDistill = clock()

  // Stage 3: evaluation
  const evalOptions: EvaluationOptions = {
    view: augment,
    knn: config.eval.knn,
    linear: config.eval.linear,
    seed: config.seed,
    semiSupervised: config.eval.semiSupervised
  }
  // metrics.jsonl: one "probe" line per probe epoch; an evaluation always runs whole, so a
  // re-run (after a kill) first drops the lines an earlier one wrote
  const metricsPath = join(outDir, "metrics.jsonl")
  prepareMetrics(metricsPath, "linear probe", 0, 0)
  const probeOptions = (model: string): EvaluationOptions => ({
    ...evalOptions,
    onProbe: (probe, epochs) =>
      epochs.forEach(({ loss, lr }, epoch) =>
        appendMetrics(metricsPath, { type: "probe", stage: "linear probe", model, probe, epoch, loss, lr, time: new Date().toISOString() })
      )
  })
  const rows: Array<ReportRow> = []
  const warnings: Array<string> = []
  const evaluate = (model: string, encoder: typeof distilled.student, ds: { train: ImageSource; test: ImageSource }) =>
    Effect.gen(function* () {
      const scores = yield* evaluateEncoder(encoder, ds.train, ds.test, probeOptions(model))
      rows.push({ model, backbone: encoder.spec.backbone, params: parameterCount(encoder.backbone), scores })
      yield* Effect.logInfo(`eval ${model}: kNN ${(100 * scores.knnTop1).toFixed(1)}%, linear ${(100 * scores.linearTop1).toFixed(1)}%`)
    })
  if (skipEvaluation !== undefined || test === undefined) {
    yield* Effect.logInfo(`evaluation skipped: ${skipEvaluation} (kNN and linear probe need labels); the student is in ${outDir}`)
  } else {
    yield* evaluate(`student (${loss.loss.name})`, distilled.student, { train, test })
    if (config.eval.randomBaseline) {
      const random = yield* Effect.acquireRelease(
        Effect.sync(() => createEncoder(distilled.student.spec, Rng.fromSeed(config.seed), "random-student")),
        (e) => Effect.sync(() => disposeEncoder(e))
      )
      yield* evaluate("student (random init)", random, { train, test })
    }
    if (config.eval.teacher) {
      // the teacher through its own embedding pass (a TF.js encoder, or a model file in its runtime)
      const teacherScores = yield* evaluateFeatures((split) => teacher.embedDataset(split, augment), train, test, probeOptions("teacher"))
      rows.push({ model: "teacher", backbone: teacher.architecture, params: teacher.parameterCount, scores: teacherScores })
      yield* Effect.logInfo(
        `eval teacher: kNN ${(100 * teacherScores.knnTop1).toFixed(1)}%, linear ${(100 * teacherScores.linearTop1).toFixed(1)}%`
      )
      // the teacher's architecture untrained: what its features are worth before any pre-training
      // (bingo can re-initialise an encoder it builds; a model file's graph it cannot)
      if (teacher.encoder !== undefined) {
        const spec = teacher.encoder.spec
        const randomTeacher = yield* Effect.acquireRelease(
          Effect.sync(() => createEncoder(spec, Rng.fromSeed(config.seed), "random-teacher")),
          (e) => Effect.sync(() => disposeEncoder(e))
        )
        yield* evaluate("teacher (random init)", randomTeacher, { train, test })
      } else
        yield* Effect.logInfo(`eval: no random-init teacher row (a ${teacher.format} teacher is a model file bingo cannot re-initialise)`)
      const top1 = (model: string) => {
        const scores = rows.find((r) => r.model === model)?.scores
        return scores === undefined ? undefined : { knn: scores.knnTop1, linear: scores.linearTop1 }
      }
      const randomStudent = top1("student (random init)")
      const randomTeacher = top1("teacher (random init)")
      warnings.push(
        ...teacherWarnings({
          teacher: top1("teacher")!,
          ...(randomTeacher === undefined ? {} : { randomTeacher }),
          ...(randomStudent === undefined ? {} : { randomStudent })
        })
      )
    }
  }
  for (const warning of warnings) yield* Effect.logWarning(warning)
  const tEval = clock()

  const numClasses = train.numClasses ?? new Set(train.labels ?? []).size
  const result: PipelineResult = {
    name: config.name,
    backend: runtime.backend,
    ...computeThreadsField(),
    dataset: { name: datasetName(config, train), train: train.size, test: test?.size ?? 0 },
    bagPurity: purity,
    distillLosses: distilled.epochLosses,
    distillEpochs: distilled.epochs,
    teacherPretraining: teacher.pretraining,
    rows,
    ...(skipEvaluation === undefined ? {} : { evaluationSkipped: skipEvaluation }),
    chance: numClasses > 0 ? 1 / numClasses : 0,
    warnings,
    seconds: { teacher: tTeacher, bags: tBags - tTeacher, distill: tDistill - tBags, eval: tEval - tDistill, total: tEval },
    peakRssMiB: peakRssMiB()
  }
  atomicWrite(join(outDir, "results.json"), `${JSON.stringify(result, null, 2)}\n`)
  return result
})

export const formatPipelineResult = (r: PipelineResult): string =>
  [
    `${r.name}: ${r.dataset.name} (${r.dataset.train} train / ${r.dataset.test} test) on ${r.backend}`,
    r.bagPurity === null ? "" : `bag purity (kNN neighbours sharing the anchor's label): ${(100 * r.bagPurity).toFixed(1)}%`,
    r.evaluationSkipped === undefined ? formatResultsTable(r.rows, r.chance) : `evaluation skipped: ${r.evaluationSkipped}`,
    ...r.warnings.map((w) => `warning: ${w}`),
    `time: data + teacher ${r.seconds.teacher.toFixed(0)} s, bags ${r.seconds.bags.toFixed(0)} s, distillation ${r.seconds.distill.toFixed(0)} s, evaluation ${r.seconds.eval.toFixed(0)} s, total ${r.seconds.total.toFixed(0)} s`,
    `peak RSS: ${r.peakRssMiB} MiB`
  ]
    .filter((l) => l !== "")
    .join("\n")
