import * as tf from "@tensorflow/tfjs"
import { Effect, Schema } from "effect"
import { contrastiveCrossEntropy, defineLoss, requireView } from "@bingo/losses"

/**
 * "bag-align": an example of a user-defined distillation loss, living outside the library.
 *
 *   L = mean_b CE(s_a, t_a) + alpha * mean_b (1 - s_p . t_a)
 *
 * CE is BINGO's contrastive cross-entropy against the queue of teacher keys (docs/method.md), so the
 * first term is BINGO's L_intra; the second pulls the student's embedding of the bag positive
 * towards the teacher's embedding of the anchor with a plain cosine distance instead of the
 * paper's L_inter. Shapes: s_a, s_p, t_a [B, D], L2-normalised; queue [Q, D].
 */
const Options = Schema.Struct({
  temperature: Schema.Number.pipe(Schema.withDecodingDefaultKey(Effect.succeed(0.2))),
  alpha: Schema.Number.pipe(Schema.withDecodingDefaultKey(Effect.succeed(1)))
})
type Options = typeof Options.Type

export const bagAlign = (sA: tf.Tensor2D, sP: tf.Tensor2D, tA: tf.Tensor2D, queue: tf.Tensor2D, options: Options): tf.Scalar =>
  tf.tidy(() => {
    const ce = tf.mean(contrastiveCrossEntropy(sA, tA, queue, options.temperature))
    const cosine = tf.sum(tf.mul(sP, tA), 1)
    return tf.add(ce, tf.mul(options.alpha, tf.mean(tf.sub(1, cosine)))) as tf.Scalar
  })

export default defineLoss<Options>({
  name: "bag-align",
  description: "L_intra + alpha * cosine distance of the bag positive to the teacher's anchor (example plugin)",
  needs: ["positive", "teacher"],
  defaults: { temperature: 0.2, alpha: 1 },
  decodeOptions: (raw) => {
    try {
      return Schema.decodeUnknownSync(Options)(raw ?? {}, { onExcessProperty: "error" })
    } catch (e) {
      return { error: (e as Error).message }
    }
  },
  compute: (views, options) =>
    bagAlign(views.studentAnchor, requireView(views, "studentPositive", "bag-align"), views.teacherAnchor, views.teacherQueue, options)
})
