import type * as tf from "@tensorflow/tfjs"
import { infoNce } from "./infoNce.ts"

/**
 * The MoCo-v2 baseline: the student trained alone, without a teacher (He et al., CVPR 2020,
 * Eq. 1; Chen et al., "Improved Baselines with Momentum Contrastive Learning", 2020).
 * InfoNCE of the student's query embedding against the momentum-student's key embedding of
 * the other view, with a queue of past momentum-student keys as negatives:
 *
 *   L = mean_b −log( exp(q_b·k_b / T) / ( exp(q_b·k_b / T) + Σ_n exp(q_b·n / T) ) ),  T = 0.2
 *
 * Shapes: query [B, D], key [B, D], keyQueue [Q, D] → scalar.
 */
export const mocoLoss = (query: tf.Tensor2D, key: tf.Tensor2D, keyQueue: tf.Tensor2D, temperature = 0.2): tf.Scalar =>
  infoNce(query, key, keyQueue, temperature)
