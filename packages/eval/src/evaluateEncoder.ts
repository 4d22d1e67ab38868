import { Effect } from "effect"
import { cosineLr } from "@bingo/optim"
import { Rng } from "@bingo/runtime"
import { type Encoder, extractFeatures } from "@bingo/backbones"
import type { AugmentConfig, ImageSource } from "@bingo/data"
import { knnClassifier, type KnnClassifierOptions } from "./knnClassifier.ts"
import { linearProbe, type LinearProbeOptions, type ProbeScore } from "./linearProbe.ts"
import { LinearProbeDiverged, MissingLabels } from "./EvalError.ts"
import { semiSupervisedMetric, semiSupervisedProbe } from "./semiSupervised.ts"

export interface EvaluationOptions {
  readonly view: AugmentConfig
  readonly knn: Omit<KnnClassifierOptions, "numClasses">
  readonly linear: Omit<LinearProbeOptions, "numClasses">
  readonly seed: number
  /**
   * Fractions of the training labels for semi-supervised linear probes (e.g. [0.01, 0.1]): each
   * trains the linear probe on a fixed class-balanced subset (`semiSupervisedSubset`) of the
   * same features and scores it on the whole test split. Default none.
   */
  readonly semiSupervised?: ReadonlyArray<number>
  /** Called with each probe's per-epoch mean training losses and lrs, as it finishes (metrics.jsonl). */
  readonly onProbe?: (probe: string, epochs: ReadonlyArray<{ readonly loss: number; readonly lr: number }>) => void
}

export interface EvaluationScores {
  readonly knnTop1: number
  readonly knnTop5: number
  readonly linearTop1: number
  readonly linearTop5: number
  /** Semi-supervised probes, one pair per fraction asked for: `labels1pctTop1`, `labels1pctTop5`, ... (`semiSupervisedMetric`). */
  readonly [semiSupervised: `labels${string}pct${"Top1" | "Top5"}`]: number
}

/**
 * A probe's score, or LinearProbeDiverged when its last epoch's loss is not finite; either way
 * its epochs are reported to `options.onProbe` first.
 */
const finiteProbe = (probe: string, score: ProbeScore, options: EvaluationOptions) => {
  options.onProbe?.(
    probe,
    score.epochLosses.map((loss, epoch) => ({ loss, lr: cosineLr(options.linear.lr, epoch, options.linear.epochs) }))
  )
  const last = score.epochLosses.at(-1)
  return last !== undefined && !Number.isFinite(last)
    ? Effect.fail(new LinearProbeDiverged({ probe, epoch: score.epochLosses.length - 1, loss: last }))
    : Effect.succeed(score)
}

/**
 * Stage 3: kNN classifier and linear probe on the frozen backbone features of `encoder`,
 * trained on `train`'s labels and scored on `test`, then one linear probe per fraction of
 * `options.semiSupervised` trained on that fraction of the labels (the features are extracted
 * once for all of them). Both splits need labels.
 */
export const evaluateEncoder = (encoder: Encoder, train: ImageSource, test: ImageSource, options: EvaluationOptions) =>
  evaluateFeatures((split, progress) => extractFeatures(encoder, split, options.view, progress), train, test, options)

/**
 * {@link evaluateEncoder} for any source of frozen features: `featuresOf(split, progress)` gives
 * the [N, dim] features of a split (a teacher that is not a TF.js encoder, such as an ONNX graph,
 * passes its own embedding pass).
 */
export const evaluateFeatures = Effect.fn("evaluateFeatures")(function* <E>(
  featuresOf: (split: ImageSource, progress: string) => Effect.Effect<{ readonly values: Float32Array; readonly dim: number }, E>,
  train: ImageSource,
  test: ImageSource,
  options: EvaluationOptions
) {
  if (train.labels === undefined) return yield* new MissingLabels({ dataset: train.name })
  if (test.labels === undefined) return yield* new MissingLabels({ dataset: test.name })
  let maxLabel = 0
  for (const l of train.labels) maxLabel = Math.max(maxLabel, l)
  for (const l of test.labels) maxLabel = Math.max(maxLabel, l)
  const numClasses = Math.max(train.numClasses ?? 0, maxLabel + 1)
  const tr = yield* featuresOf(train, `eval: features of ${train.name}`)
  const te = yield* featuresOf(test, `eval: features of ${test.name}`)
  const trainSet = { features: tr.values, labels: train.labels }
  const testSet = { features: te.values, labels: test.labels }
  const knn = knnClassifier(trainSet, testSet, tr.dim, { ...options.knn, numClasses })
  const linear = yield* finiteProbe(
    "linear probe",
    linearProbe(trainSet, testSet, tr.dim, { ...options.linear, numClasses }, Rng.fromSeed(options.seed)),
    options
  )
  const semi: Record<`labels${string}pct${"Top1" | "Top5"}`, number> = {}
  for (const fraction of options.semiSupervised ?? []) {
    const score = yield* finiteProbe(
      `linear probe on ${100 * fraction}% of the labels`,
      semiSupervisedProbe(trainSet, testSet, tr.dim, fraction, { ...options.linear, numClasses }, Rng.fromSeed(options.seed)),
      options
    )
    semi[semiSupervisedMetric(fraction, "Top1")] = score.top1
    semi[semiSupervisedMetric(fraction, "Top5")] = score.top5
  }
  const scores: EvaluationScores = { knnTop1: knn.top1, knnTop5: knn.top5, linearTop1: linear.top1, linearTop5: linear.top5, ...semi }
  return scores
})
