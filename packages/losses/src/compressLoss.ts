import * as tf from "@tensorflow/tfjs"
import { expectPositive, expectQueue, expectSameShape } from "./internal/validate.ts"

/**
 * CompRess-1q (Koohpayegani, Tejankar and Pirsiavash, "CompRess: Self-Supervised Learning by
 * Compressing Representations", NeurIPS 2020; its single-memory-bank variant "1q"): the
 * student and the teacher embed the same image and are compared with one memory bank of past
 * teacher embeddings (the teacher queue):
 *
 *   p_t(j) = softmax_j( t·n_j / T ),   p_s(j) = softmax_j( s·n_j / T )
 *   L = mean_b KL(p_t ‖ p_s) = mean_b Σ_j p_t(j) ( log p_t(j) − log p_s(j) ),   T = 0.04
 *
 * (`reduction="batchmean"` as in the reference). Computed from logSoftmax; a teacher
 * probability that underflows to 0 contributes 0, as 0·log 0 = 0 by convention.
 *
 * Shapes: student [B, D], teacher [B, D], teacherQueue [Q, D] → scalar. The student head must
 * output the teacher's dimension D.
 */
export const compressLoss = (student: tf.Tensor2D, teacher: tf.Tensor2D, teacherQueue: tf.Tensor2D, temperature = 0.04): tf.Scalar => {
  const [, dim] = expectSameShape("compressLoss", { student, teacher })
  expectQueue("compressLoss", "teacherQueue", teacherQueue, dim)
  expectPositive("compressLoss", "temperature", temperature)
  return tf.tidy(() => {
    const logPs = tf.logSoftmax(tf.div(tf.matMul(student, teacherQueue, false, true), temperature)) // [B, Q]
    const logPt = tf.logSoftmax(tf.div(tf.matMul(teacher, teacherQueue, false, true), temperature)) // [B, Q]
    return tf.mean(tf.sum(tf.mul(tf.exp(logPt), tf.sub(logPt, logPs)), 1)) as tf.Scalar
  })
}
