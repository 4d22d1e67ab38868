import * as tf from "@tensorflow/tfjs"
import { logSumExpRows } from "./internal/logSumExp.ts"
import { expectPositive, expectQueue, expectSameShape } from "./internal/validate.ts"

/**
 * The contrastive cross-entropy CE(s, t) of BINGO (Xu, Fang et al., ICLR 2022,
 * arXiv:2107.01691; the per-pair term of its intra- and inter-bag losses), one value per row:
 *
 *   CE(s_b, t_b) = -log( exp(s_b·t_b / T) / ( exp(s_b·t_b / T) + Σ_n exp(s_b·n / T) ) )
 *
 * i.e. a (1+Q)-way softmax cross-entropy whose logits are [s_b·t_b, s_b·queueᵀ] / T and whose
 * target is index 0. It is evaluated as
 *
 *   CE = softplus( logsumexp_n(s_b·n / T) − s_b·t_b / T ),
 *
 * the same value (log(e^p + Σ e^n) − p = log(1 + e^(lse_n − p))) with no ratio of exponentials,
 * so logits of ±1e3 stay finite, and without concatenating [p, n] (the gradient of a concat is
 * a split, which the pure-JS cpu backend runs element by element: 95% of a distillation step).
 *
 * Shapes: s [B, D], t [B, D], queue [Q, D] → [B]. Embeddings are expected L2-normalised but
 * this is not required. Gradients flow into every argument; callers hold the teacher, the
 * momentum keys and the queue as constants (as the reference's `torch.no_grad` does).
 */
export const contrastiveCrossEntropy = (s: tf.Tensor2D, t: tf.Tensor2D, queue: tf.Tensor2D, temperature: number): tf.Tensor1D => {
  const [, dim] = expectSameShape("contrastiveCrossEntropy", { s, t })
  expectQueue("contrastiveCrossEntropy", "queue", queue, dim)
  expectPositive("contrastiveCrossEntropy", "temperature", temperature)
  return tf.tidy(() => {
    const positive = tf.sum(tf.mul(s, t), 1, true) // [B, 1]
    const negatives = tf.matMul(s, queue, false, true) // [B, Q]
    const lseNegatives = logSumExpRows(tf.div(negatives, temperature) as tf.Tensor2D) // [B, 1]
    return tf.reshape(tf.softplus(tf.sub(lseNegatives, tf.div(positive, temperature))), [-1]) as tf.Tensor1D
  })
}
