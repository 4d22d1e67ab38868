import * as tf from "@tensorflow/tfjs"
import { logSumExpRows } from "./internal/logSumExp.ts"
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
 * Both distributions are computed in log space (log-sum-exp), so T_t = 1e-4 stays finite.
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
    // Column 0 is the teacher's own key t_a, columns 1..Q the queue. The student's side is kept
    // as two pieces (no concat: its gradient is a split, very slow on the JS cpu backend);
    // log-normaliser of [pos, neg] = lse(neg) + softplus(pos - lse(neg)).
    const parts = (x: tf.Tensor2D, temperature: number) => {
      const pos = tf.div(tf.sum(tf.mul(x, teacher), 1, true), temperature) // [B, 1]
      const neg = tf.div(tf.matMul(x, teacherQueue, false, true), temperature) // [B, Q]
      const lseNeg = logSumExpRows(neg as tf.Tensor2D) // [B, 1]
      const lse = tf.add(lseNeg, tf.softplus(tf.sub(pos, lseNeg))) // [B, 1]
      return { logPos: tf.sub(pos, lse), logNeg: tf.sub(neg, lse) }
    }
    const s = parts(student, o.studentTemperature)
    const t = parts(teacher, o.teacherTemperature)
    const crossEntropy = tf.add(tf.reshape(tf.mul(tf.exp(t.logPos), s.logPos), [-1]), tf.sum(tf.mul(tf.exp(t.logNeg), s.logNeg), 1)) // [B]
    return tf.neg(tf.mean(crossEntropy)) as tf.Scalar
  })
}
