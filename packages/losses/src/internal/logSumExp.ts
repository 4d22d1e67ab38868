import * as tf from "@tensorflow/tfjs"

/**
 * Row-wise log-sum-exp of a [B, N] tensor, kept as [B, 1]: lse = m + log Σ exp(x − m) with
 * m the row maximum, and the closed-form gradient d lse / dx = softmax(x) = exp(x − lse).
 * tf.logSumExp differentiates through its max (an Equal mask broadcast back over [B, N]),
 * which on the pure-JS cpu backend cost more than the rest of a distillation step.
 */
export const logSumExpRows = (x: tf.Tensor2D): tf.Tensor2D => {
  const f = tf.customGrad(((input: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const m = tf.max(input, 1, true)
    const lse = tf.add(m, tf.log(tf.sum(tf.exp(tf.sub(input, m)), 1, true)))
    save([input, lse])
    return {
      value: lse,
      gradFunc: (dy: tf.Tensor2D, saved: Array<tf.Tensor>) => {
        const [xs, l] = saved as [tf.Tensor2D, tf.Tensor2D]
        return tf.mul(dy, tf.exp(tf.sub(xs, l)))
      }
    }
  }) as never) as (x: tf.Tensor) => tf.Tensor2D
  return f(x)
}
