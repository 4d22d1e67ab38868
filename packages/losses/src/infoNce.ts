import * as tf from "@tensorflow/tfjs"
import { contrastiveCrossEntropy } from "./contrastiveCrossEntropy.ts"

/**
 * MoCo's InfoNCE loss (He et al., "Momentum Contrast for Unsupervised Visual Representation
 * Learning", CVPR 2020, Eq. 1):
 *
 *   L = mean_b −log( exp(q_b·k_b / T) / ( exp(q_b·k_b / T) + Σ_n exp(q_b·n / T) ) )
 *
 * a (1+Q)-way cross-entropy with target index 0 over the logits [q·k, q·queueᵀ] / T,
 * averaged over the batch. Shapes: q [B, D], k [B, D], queue [Q, D] → scalar.
 * It is the batch mean of {@link contrastiveCrossEntropy}.
 */
export const infoNce = (q: tf.Tensor2D, k: tf.Tensor2D, queue: tf.Tensor2D, temperature: number): tf.Scalar =>
  tf.tidy(() => tf.mean(contrastiveCrossEntropy(q, k, queue, temperature)) as tf.Scalar)
