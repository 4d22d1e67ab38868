import * as tf from "@tensorflow/tfjs"

export interface KnnClassifierOptions {
  /** Neighbours voting (200 is the common choice; the paper also reports 10). */
  readonly k: number
  /** Temperature of the vote weights exp(sim / T) (0.07 as in Wu et al. 2018). */
  readonly temperature: number
  readonly numClasses: number
  /** Test rows per similarity block. */
  readonly chunkSize?: number
}

export interface ClassifierScore {
  readonly top1: number
  readonly top5: number
}

/**
 * Weighted kNN classifier on frozen features (Wu et al. 2018, "Unsupervised Feature Learning
 * via Non-Parametric Instance Discrimination", Eq. 6 voting): features are L2-normalised, the
 * k most cosine-similar training samples vote for their class with weight exp(sim / T).
 * Returns top-1 / top-5 accuracy in [0, 1]. Features are [N, D] row-major.
 */
export const knnClassifier = (
  train: { readonly features: Float32Array; readonly labels: Int32Array },
  test: { readonly features: Float32Array; readonly labels: Int32Array },
  dim: number,
  options: KnnClassifierOptions
): ClassifierScore => {
  const nTrain = train.labels.length
  const nTest = test.labels.length
  const k = Math.min(options.k, nTrain)
  const chunk = options.chunkSize ?? 512
  const trainT = tf.tidy(() => normalise(tf.tensor2d(train.features, [nTrain, dim])))
  let hit1 = 0
  let hit5 = 0
  try {
    for (let start = 0; start < nTest; start += chunk) {
      const end = Math.min(nTest, start + chunk)
      const { values, indices } = tf.tidy(() => {
        const q = normalise(tf.tensor2d(test.features.subarray(start * dim, end * dim), [end - start, dim]))
        return tf.topk(tf.matMul(q, trainT, false, true), k)
      })
      const sims = values.dataSync()
      const idx = indices.dataSync()
      tf.dispose([values, indices])
      const votes = new Float64Array(options.numClasses)
      for (let r = 0; r < end - start; r++) {
        votes.fill(0)
        for (let j = 0; j < k; j++) votes[train.labels[idx[r * k + j]!]!]! += Math.exp(sims[r * k + j]! / options.temperature)
        const truth = test.labels[start + r]!
        const ranked = rankClasses(votes)
        if (ranked[0] === truth) hit1++
        if (ranked.slice(0, 5).includes(truth)) hit5++
      }
    }
  } finally {
    trainT.dispose()
  }
  return { top1: hit1 / nTest, top5: hit5 / nTest }
}

const normalise = (x: tf.Tensor2D): tf.Tensor2D => tf.div(x, tf.maximum(tf.norm(x, "euclidean", 1, true), 1e-12))

/** Class indices by decreasing score (ties: lower index first). */
export const rankClasses = (scores: ArrayLike<number>): Array<number> =>
  Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b)
