import * as tf from "@tensorflow/tfjs"
import { Schema } from "effect"
import { contrastiveCrossEntropy, defineLoss, nonNegativeNumber, optionsFromSchema, positiveNumber, requireView } from "@bingo/losses"

/** The options a config may set (`distill.loss.options`), each with its default. */
const Options = Schema.Struct({
  temperature: positiveNumber(0.2),
  alpha: nonNegativeNumber(1)
})
type Options = typeof Options.Type

/**
 * "bag-align": an example of a user-defined distillation loss, living outside the library.
 *
 *   L = mean_b CE(s_a, t_a) + alpha * mean_b (1 - s_p . t_a)
 *
 * CE is BINGO's contrastive cross-entropy against the queue of teacher keys (docs/method.md),
 * so the first term is BINGO's L_intra; the second pulls the student's embedding of the bag
 * positive towards the teacher's embedding of the anchor with a plain cosine distance instead
 * of the paper's L_inter. Shapes: s_a, s_p, t_a [B, D], L2-normalised; queue [Q, D].
 */
export const bagAlign = (sA: tf.Tensor2D, sP: tf.Tensor2D, tA: tf.Tensor2D, queue: tf.Tensor2D, options: Options): tf.Scalar =>
  tf.tidy(() => {
    const ce = tf.mean(contrastiveCrossEntropy(sA, tA, queue, options.temperature))
    const cosine = tf.sum(tf.mul(sP, tA), 1)
    return tf.add(ce, tf.mul(options.alpha, tf.mean(tf.sub(1, cosine)))) as tf.Scalar
  })

export default defineLoss({
  name: "bag-align",
  description: "L_intra + alpha * cosine distance of the bag positive to the teacher's anchor (example plugin)",
  // s_a, t_a and the queue ("teacher") and the student's embedding of the bag positive s_p
  // ("studentPositive"); not t_p, so not "positive", which would make the trainer embed the
  // positive with the teacher for nothing
  needs: ["studentPositive", "teacher"],
  // `defaults` and a `decodeOptions` that names any unknown key, wrong type or bad value
  ...optionsFromSchema(Options),
  compute: (views, options) =>
    bagAlign(views.studentAnchor, requireView(views, "studentPositive", "bag-align"), views.teacherAnchor, views.teacherQueue, options)
})
