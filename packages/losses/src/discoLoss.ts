import * as tf from "@tensorflow/tfjs"
import { infoNce } from "./infoNce.ts"
import { expectNonNegative, expectSameShape } from "./internal/validate.ts"

export interface DiscoOptions {
  /** InfoNCE temperature of the student's own MoCo-v2 task (0.2). */
  readonly temperature: number
  /** Weight of the embedding-matching term (1). */
  readonly weight: number
}

export const discoDefaults: DiscoOptions = { temperature: 0.2, weight: 1 }

/**
 * DisCo (Gao et al., "DisCo: Remedy Self-supervised Learning on Lightweight Models with
 * Distilled Contrastive Learning", ECCV 2022; its overall objective): the student keeps its own MoCo-v2
 * objective and additionally regresses the teacher's embedding,
 *
 *   L = InfoNCE(q_s, k_s; student-key queue, T) + weight · MSE(q_s, t)
 *   MSE(q_s, t) = 1/(B·D) Σ_{b,d} (q_s[b,d] − t[b,d])²
 *
 * with q_s the student's query embedding, k_s the momentum-student's key embedding and t the
 * teacher's embedding. MSE is the element mean, as `nn.MSELoss()` in the reference (for unit
 * vectors, ‖q_s − t‖² per row equals D times it).
 *
 * Shapes: student [B, D], studentKey [B, D], studentKeyQueue [Q, D], teacher [B, D] → scalar.
 */
export const discoLoss = (
  student: tf.Tensor2D,
  studentKey: tf.Tensor2D,
  studentKeyQueue: tf.Tensor2D,
  teacher: tf.Tensor2D,
  options: Partial<DiscoOptions> = {}
): tf.Scalar => {
  const o: DiscoOptions = { ...discoDefaults, ...options }
  expectSameShape("discoLoss", { student, studentKey, teacher })
  expectNonNegative("discoLoss", "weight", o.weight)
  return tf.tidy(
    () =>
      tf.add(
        infoNce(student, studentKey, studentKeyQueue, o.temperature),
        tf.mul(tf.mean(tf.squaredDifference(student, teacher)), o.weight)
      ) as tf.Scalar
  )
}
