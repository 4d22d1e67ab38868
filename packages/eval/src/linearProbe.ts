import * as tf from "@tensorflow/tfjs"
import type { Rng } from "@bingo/runtime"
import { cosineLr, Sgd } from "@bingo/optim"
import { type ClassifierScore, rankClasses } from "./knnClassifier.ts"

export interface LinearProbeOptions {
  readonly numClasses: number
  readonly epochs: number
  readonly batchSize: number
  readonly lr: number
  readonly momentum: number
  readonly weightDecay: number
}

export const linearProbeDefaults: Omit<LinearProbeOptions, "numClasses"> = {
  epochs: 30,
  batchSize: 256,
  lr: 0.1,
  momentum: 0.9,
  weightDecay: 0
}

/** A probe's scores with the mean training cross-entropy of each epoch it ran. */
export interface ProbeScore extends ClassifierScore {
  /** Mean training loss per epoch; a non-finite last entry means the probe diverged (and stopped there). */
  readonly epochLosses: ReadonlyArray<number>
}

/**
 * Linear probe on frozen features: a softmax classifier W x + b trained with SGD + momentum and
 * cosine decay on cross-entropy. Features are standardised with the training split's per-dim
 * mean and std first (the role of the reference's large lr 30 on raw ResNet features).
 * Deviation from the reference: features are precomputed from center views (no crop/flip
 * augmentation during the probe), which keeps the probe cheap; stated in docs/method.md.
 * Each epoch's mean loss is read back once (one sync per epoch); a non-finite one stops the probe,
 * and the caller (`evaluateEncoder`) turns it into a typed LinearProbeDiverged.
 *
 * It does not run in @bingo/training's loop: it trains one dense layer for seconds on features
 * already in memory, with no views, momentum encoders, queues or checkpoints to speak of.
 */
export const linearProbe = (
  train: { readonly features: Float32Array; readonly labels: Int32Array },
  test: { readonly features: Float32Array; readonly labels: Int32Array },
  dim: number,
  options: LinearProbeOptions,
  rng: Rng
): ProbeScore => {
  const { scores: _scores, ...score } = fitLinearProbe(train, test, dim, options, rng)
  return score
}

/** A probe's scores, each test image's predicted class and the test logits. */
export interface ProbePredictions extends ProbeScore {
  /** The top-ranked class of each test image (`rankClasses`: ties to the lower class), as top-1 counts it. */
  readonly predictions: Int32Array
}

/**
 * `linearProbe` (the same training, the same scores for the same arguments and rng), also
 * returning the class it predicts for each test image: what a confusion matrix needs. Empty
 * predictions when the probe diverged.
 */
export const linearProbePredictions = (
  train: { readonly features: Float32Array; readonly labels: Int32Array },
  test: { readonly features: Float32Array; readonly labels: Int32Array },
  dim: number,
  options: LinearProbeOptions,
  rng: Rng
): ProbePredictions => {
  const { scores, ...score } = fitLinearProbe(train, test, dim, options, rng)
  const predictions = new Int32Array(scores === undefined ? 0 : test.labels.length)
  if (scores !== undefined)
    for (let r = 0; r < predictions.length; r++)
      predictions[r] = rankClasses(scores.subarray(r * options.numClasses, (r + 1) * options.numClasses))[0]!
  return { ...score, predictions }
}

/** The probe itself: its scores and the test logits (N_test x numClasses), undefined when it diverged. */
const fitLinearProbe = (
  train: { readonly features: Float32Array; readonly labels: Int32Array },
  test: { readonly features: Float32Array; readonly labels: Int32Array },
  dim: number,
  options: LinearProbeOptions,
  rng: Rng
): ProbeScore & { readonly scores: Float32Array | undefined } => {
  const nTrain = train.labels.length
  const nTest = test.labels.length
  const { mean, std } = standardiser(train.features, nTrain, dim)
  const w = tf.tidy(() => tf.variable(tf.zeros([dim, options.numClasses])))
  const b = tf.tidy(() => tf.variable(tf.zeros([options.numClasses])))
  // bingo's Sgd (PyTorch's rule, weight decay on W only); tf.train.momentum leaks a scalar on dispose
  const sgd = new Sgd({ momentum: options.momentum, weightDecay: 0 })
  const params = new Map([
    ["weight", w],
    ["bias", b]
  ])
  const xTrain = tf.tidy(() => tf.tensor2d(train.features, [nTrain, dim]).sub(mean).div(std))
  const yTrain = tf.tensor1d(train.labels, "int32")
  const lossSum = tf.tidy(() => tf.variable(tf.scalar(0), false))
  const epochLosses: Array<number> = []
  try {
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      const lr = cosineLr(options.lr, epoch, options.epochs)
      const order = rng.permutation(nTrain)
      let steps = 0
      for (let start = 0; start < nTrain; start += options.batchSize) {
        const idx = order.subarray(start, Math.min(nTrain, start + options.batchSize))
        steps++
        tf.tidy(() => {
          const i = tf.tensor1d(idx, "int32")
          const x = tf.gather(xTrain, i)
          const y = tf.oneHot(tf.gather(yTrain, i), options.numClasses)
          const { value, grads } = tf.variableGrads(() => {
            const logits = tf.add(tf.matMul(x, w), b)
            const ce = tf.losses.softmaxCrossEntropy(y, logits)
            return (options.weightDecay > 0 ? tf.add(ce, tf.mul(options.weightDecay / 2, tf.sum(tf.square(w)))) : ce) as tf.Scalar
          }, [w, b])
          sgd.step(
            new Map([
              ["weight", grads[w.name]!],
              ["bias", grads[b.name]!]
            ]),
            params,
            lr
          )
          lossSum.assign(tf.add(lossSum, value))
        })
      }
      const mean = lossSum.dataSync()[0]! / Math.max(1, steps)
      tf.tidy(() => lossSum.assign(tf.scalar(0)))
      epochLosses.push(mean)
      if (!Number.isFinite(mean)) return { top1: Number.NaN, top5: Number.NaN, epochLosses, scores: undefined }
    }
    const logits = tf.tidy(() => tf.add(tf.matMul(tf.tensor2d(test.features, [nTest, dim]).sub(mean).div(std), w), b))
    const scores = logits.dataSync() as Float32Array
    logits.dispose()
    let hit1 = 0
    let hit5 = 0
    for (let r = 0; r < nTest; r++) {
      const ranked = rankClasses(scores.subarray(r * options.numClasses, (r + 1) * options.numClasses))
      if (ranked[0] === test.labels[r]) hit1++
      if (ranked.slice(0, 5).includes(test.labels[r]!)) hit5++
    }
    return { top1: hit1 / nTest, top5: hit5 / nTest, epochLosses, scores }
  } finally {
    tf.dispose([w, b, xTrain, yTrain, mean, std, lossSum])
    sgd.dispose()
  }
}

const standardiser = (x: Float32Array, n: number, dim: number) => {
  const mean = new Float32Array(dim)
  const std = new Float32Array(dim)
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j]! += x[i * dim + j]!
  for (let j = 0; j < dim; j++) mean[j]! /= Math.max(1, n)
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) std[j]! += (x[i * dim + j]! - mean[j]!) ** 2
  for (let j = 0; j < dim; j++) std[j] = Math.sqrt(std[j]! / Math.max(1, n)) + 1e-6
  return { mean: tf.tensor1d(mean), std: tf.tensor1d(std) }
}
