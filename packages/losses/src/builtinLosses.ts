import { Schema } from "effect"
import { bingoLossTerms } from "./bingoLoss.ts"
import { compressLoss } from "./compressLoss.ts"
import { discoLoss } from "./discoLoss.ts"
import { defineLoss, type DistillationLoss, requireView } from "./DistillationLoss.ts"
import { infoNce } from "./infoNce.ts"
import { nonNegativeInt, nonNegativeNumber, oneOf, optionsFromSchema, positiveNumber } from "./LossOptions.ts"
import { mocoLoss } from "./mocoLoss.ts"
import { multiPositiveInfoNce } from "./multiPositiveInfoNce.ts"
import { seedLoss } from "./seedLoss.ts"

/** BINGO, reference "code" form by default (see {@link bingoLoss}). */
const bingo = defineLoss({
  name: "bingo",
  description: "BINGO (Xu, Fang et al., ICLR 2022): bag-aggregation contrastive distillation, code or paper form",
  // the paper form (Eq. 4) reads neither the CutMix view nor the teacher's embedding of the
  // positive: the trainer then skips making and embedding them
  needs: (options) => (options.form === "paper" ? ["studentPositive", "teacher"] : ["positive", "mix", "teacher"]),
  ...optionsFromSchema(
    Schema.Struct({
      form: oneOf(["code", "paper"], "code"),
      temperature: positiveNumber(0.2),
      warmupEpochs: nonNegativeInt(11),
      selfWeight: nonNegativeNumber(0.5),
      crossWeight: nonNegativeNumber(0.5)
    })
  ),
  compute: (views, options) => bingoLossTerms(views, options),
  // code form: (w_s + w_c + w_s + w_c + λ + 1 − λ) / 3 = 1 cross-entropy's worth; paper form: two
  collapseValue: (q, options) => (options.form === "paper" ? 2 : 1) * Math.log(q + 1)
})

/** The MoCo-v2 student trained alone (no teacher). */
const moco = defineLoss({
  name: "moco",
  description: "MoCo-v2 student alone (He et al., CVPR 2020): InfoNCE of query vs momentum key, key queue",
  needs: ["studentKey"],
  ...optionsFromSchema(Schema.Struct({ temperature: positiveNumber(0.2) })),
  compute: (views, options) =>
    mocoLoss(
      views.studentAnchor,
      requireView(views, "studentKey", "moco"),
      requireView(views, "studentKeyQueue", "moco"),
      options.temperature
    ),
  collapseValue: (q) => Math.log(q + 1)
})

/** SEED: match the teacher's similarity distribution over [t_a ; queue]. */
const seed = defineLoss({
  name: "seed",
  description: "SEED (Fang et al., ICLR 2021): soft cross-entropy to the teacher's similarity distribution",
  needs: ["teacher"],
  ...optionsFromSchema(
    Schema.Struct({
      studentTemperature: positiveNumber(0.2),
      teacherTemperature: positiveNumber(0.01)
    })
  ),
  compute: (views, options) => seedLoss(views.studentAnchor, views.teacherAnchor, views.teacherQueue, options)
})

/** CompRess-1q: KL between teacher and student similarity distributions over the teacher queue. */
const compress = defineLoss({
  name: "compress",
  description: "CompRess-1q (Koohpayegani et al., NeurIPS 2020): KL(teacher ‖ student) over the teacher memory bank",
  needs: ["teacher"],
  ...optionsFromSchema(Schema.Struct({ temperature: positiveNumber(0.04) })),
  compute: (views, options) => compressLoss(views.studentAnchor, views.teacherAnchor, views.teacherQueue, options.temperature)
})

/** DisCo: MoCo-v2 on the student plus MSE to the teacher's embedding. */
const disco = defineLoss({
  name: "disco",
  description: "DisCo (Gao et al., ECCV 2022): student MoCo-v2 InfoNCE + weight · MSE(student, teacher)",
  needs: ["studentKey", "teacher"],
  ...optionsFromSchema(Schema.Struct({ temperature: positiveNumber(0.2), weight: nonNegativeNumber(1) })),
  compute: (views, options) =>
    discoLoss(
      views.studentAnchor,
      requireView(views, "studentKey", "disco"),
      requireView(views, "studentKeyQueue", "disco"),
      views.teacherAnchor,
      options
    )
})

/** Contrastive distillation without bags: CE(s_a, t_a) against the teacher queue (BINGO's L_intra alone). */
const infonce = defineLoss({
  name: "infonce",
  description: "InfoNCE distillation without bags: student anchor vs teacher anchor, teacher queue (BINGO's L_intra)",
  needs: ["teacher"],
  ...optionsFromSchema(Schema.Struct({ temperature: positiveNumber(0.2) })),
  compute: (views, options) => infoNce(views.studentAnchor, views.teacherAnchor, views.teacherQueue, options.temperature),
  collapseValue: (q) => Math.log(q + 1)
})

/** The student anchor against two positives, the teacher's anchor and bag-positive embeddings. */
const infonceMulti = defineLoss({
  name: "infonce-multi",
  description: "multi-positive InfoNCE: student anchor vs teacher anchor and teacher bag positive, teacher queue",
  needs: ["positive", "teacher"],
  ...optionsFromSchema(
    Schema.Struct({
      temperature: positiveNumber(0.2),
      anchorWeight: nonNegativeNumber(0.5),
      positiveWeight: nonNegativeNumber(0.5)
    }).check(
      Schema.makeFilter((o) =>
        o.anchorWeight + o.positiveWeight > 0 ? undefined : { path: ["positiveWeight"], issue: "anchorWeight + positiveWeight must be > 0" }
      )
    )
  ),
  compute: (views, options) =>
    multiPositiveInfoNce(
      views.studentAnchor,
      [views.teacherAnchor, requireView(views, "teacherPositive", "infonce-multi")],
      views.teacherQueue,
      options.temperature,
      [options.anchorWeight, options.positiveWeight]
    )
})

/** Every loss shipped with bingo, in the order `bingo losses` lists them. */
export const builtinLosses: ReadonlyArray<DistillationLoss> = [bingo, moco, seed, compress, disco, infonce, infonceMulti]
