import * as tf from "@tensorflow/tfjs"
import { expectPositive, expectQueue, expectSameShape } from "./internal/validate.ts"

export interface SeedOptions {
  /** Temperature of the student's softmax (0.2 in SEED). */
  readonly studentTemperature: number
  /** Temperature of the teacher's (sharper) softmax; the SEED reference uses 1e-4 to 0.01. */
  readonly teacherTemperature: number
}

export const seedDefaults: SeedOptions = { studentTemperature: 0.2, teacherTemperature: 0.01 }

/**
 * SEED (Fang et al., "SEED: Self-supervised Distillation for Visual Representation",
 * ICLR 2021; its distillation objective). Over the (1+Q) candidates D⁺ = [t_a ; teacher queue]
 * (the teacher's own embedding of the row first, then the queue) the student's similarity
 * distribution
 *
 *   p_s(j) = softmax_j( s·d_j / T_s ),   p_t(j) = softmax_j( t·d_j / T_t )
 *
 * is trained to match the teacher's by the soft cross-entropy
 *
 *   L = mean_b −Σ_j p_t(j) log p_s(j)
 *
 * (equal to KL(p_t ‖ p_s) up to the teacher's entropy, which is constant for the student).
 * Both distributions are computed with logSoftmax, so T_t = 1e-4 stays finite.
 *
 * Shapes: student [B, D] (s_a), teacher [B, D] (t_a), teacherQueue [Q, D] → scalar.
 */
export const seedLoss = (
  student: tf.Tensor2D,
  teacher: tf.Tensor2D,
  teacherQueue: tf.Tensor2D,
  options: Partial<SeedOptions> = {}
): tf.Scalar => {
  const o: SeedOptions = { ...seedDefaults, ...options }
  const [, dim] = expectSameShape("seedLoss", { student, teacher })
  expectQueue("seedLoss", "teacherQueue", teacherQueue, dim)
  expectPositive("seedLoss", "studentTemperature", o.studentTemperature)
  expectPositive("seedLoss", "teacherTemperature", o.teacherTemperature)
  return tf.tidy(() => {
    const similarities = (x: tf.Tensor2D): tf.Tensor2D =>
      tf.concat([tf.sum(tf.mul(x, teacher), 1, true), tf.matMul(x, teacherQueue, false, true)], 1) // [B, 1 + Q]
    const logPs = tf.logSoftmax(tf.div(similarities(student), o.studentTemperature))
    const pt = tf.exp(tf.logSoftmax(tf.div(similarities(teacher), o.teacherTemperature)))
    return tf.neg(tf.mean(tf.sum(tf.mul(pt, logPs), 1))) as tf.Scalar
  })
}
