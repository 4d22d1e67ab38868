import * as tf from "@tensorflow/tfjs"
import { contrastiveCrossEntropy } from "./contrastiveCrossEntropy.ts"
import { expectNonNegative, expectSameShape } from "./internal/validate.ts"

/**
 * InfoNCE with several positives per row, as BINGO's reference code optimises it
 * (Xu, Fang et al., ICLR 2022; the `MulposCrossEntropy` of haohang96/bingo `main_moco.py`):
 * one (1+Q)-way cross-entropy per positive, each against the same queue of negatives,
 * combined as a weighted average
 *
 *   L = Σ_i w_i · mean_b CE(q_b, p_{i,b}) / Σ_i w_i
 *
 * (each positive has its own softmax; this is not the SupCon form that puts every positive in
 * one denominator). Weights default to equal; they are relative (normalised to sum 1), must be
 * ≥ 0 with a positive sum, and a positive of weight 0 is skipped entirely.
 *
 * Shapes: q [B, D], each positive [B, D], queue [Q, D] → scalar.
 */
export const multiPositiveInfoNce = (
  q: tf.Tensor2D,
  positives: ReadonlyArray<tf.Tensor2D>,
  queue: tf.Tensor2D,
  temperature: number,
  weights?: ReadonlyArray<number>
): tf.Scalar => {
  if (positives.length === 0) throw new RangeError("multiPositiveInfoNce: needs at least one positive")
  const w = weights ?? positives.map(() => 1)
  if (w.length !== positives.length) {
    throw new RangeError(`multiPositiveInfoNce: ${positives.length} positives but ${w.length} weights`)
  }
  expectSameShape("multiPositiveInfoNce", { q, ...Object.fromEntries(positives.map((p, i) => [`positives[${i}]`, p])) })
  w.forEach((wi, i) => expectNonNegative("multiPositiveInfoNce", `weights[${i}]`, wi))
  const total = w.reduce((a, b) => a + b, 0)
  if (!(total > 0)) throw new RangeError("multiPositiveInfoNce: the weights must not all be 0")
  return tf.tidy(() => {
    const terms = positives.flatMap((p, i) =>
      w[i]! === 0 ? [] : [tf.mul(tf.mean(contrastiveCrossEntropy(q, p, queue, temperature)), w[i]! / total)]
    )
    return tf.addN(terms) as tf.Scalar
  })
}
