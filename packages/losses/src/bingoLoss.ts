import * as tf from "@tensorflow/tfjs"
import { bingoPairWeights } from "./bingoPairWeights.ts"
import { contrastiveCrossEntropy } from "./contrastiveCrossEntropy.ts"
import { expectNonNegative, expectPositive, expectQueue, expectSameShape } from "./internal/validate.ts"

/** "code": the six-term objective of the reference implementation; "paper": L_intra + L_inter. */
export type BingoForm = "code" | "paper"

export interface BingoOptions {
  readonly form: BingoForm
  /** Softmax temperature T (0.2 in the paper; 0.12 for EfficientNet students). */
  readonly temperature: number
  /** Epochs (0-based count) during which w_s = 1, w_c = 0 ("code" form only). */
  readonly warmupEpochs: number
  /** w_s after the warm-up ("code" form only). */
  readonly selfWeight: number
  /** w_c after the warm-up ("code" form only). */
  readonly crossWeight: number
}

export const bingoDefaults: BingoOptions = {
  form: "code",
  temperature: 0.2,
  warmupEpochs: 11,
  selfWeight: 0.5,
  crossWeight: 0.5
}

/** The embeddings BINGO reads; every one [B, D] except the queue [Q, D]. */
export interface BingoViews {
  /** s_a: student embedding of q = aug(anchor). */
  readonly studentAnchor: tf.Tensor2D
  /** s_p: student embedding of pq = aug(positive from the anchor's bag). */
  readonly studentPositive?: tf.Tensor2D | undefined
  /** s_m: student embedding of CutMix(q, pq) ("code" form only). */
  readonly studentMix?: tf.Tensor2D | undefined
  /** t_a: teacher embedding of k = aug(anchor). */
  readonly teacherAnchor: tf.Tensor2D
  /** t_p: teacher embedding of pk = aug(positive) ("code" form only). */
  readonly teacherPositive?: tf.Tensor2D | undefined
  /** FIFO of past teacher anchor embeddings, the negatives. */
  readonly teacherQueue: tf.Tensor2D
  /** λ: fraction of the mixed image that comes from q ("code" form only). */
  readonly mixLambda?: number | undefined
  /** 0-based epoch, for the warm-up ("code" form only). */
  readonly epoch: number
}

/**
 * The BINGO distillation loss (Xu, Fang et al., "Bag of Instances Aggregation Boosts
 * Self-supervised Distillation", ICLR 2022, arXiv:2107.01691), with CE(s, t) the contrastive
 * cross-entropy of {@link contrastiveCrossEntropy} against the teacher queue, averaged over the
 * batch.
 *
 * form "paper" (the paper's objective): L = L_intra + L_inter = CE(s_a, t_a) + CE(s_p, t_a), one positive p
 * drawn from the anchor's bag per row.
 *
 * form "code" (the default; what haohang96/bingo `main_moco.py` optimises):
 *
 *   L = 1/3 [ w_s CE(s_a, t_a) + w_c CE(s_a, t_p) + w_s CE(s_p, t_p) + w_c CE(s_p, t_a)
 *           + λ CE(s_m, t_a) + (1 − λ) CE(s_m, t_p) ]
 *
 * with (w_s, w_c) from {@link bingoPairWeights}: (1, 0) while epoch < warmupEpochs, then
 * (0.5, 0.5). Terms of weight 0 are not computed.
 *
 * Shapes: every embedding [B, D], teacherQueue [Q, D] → scalar.
 */
export const bingoLoss = (views: BingoViews, options: Partial<BingoOptions> = {}): tf.Scalar => {
  const { total, terms } = bingoLossTerms(views, options)
  tf.dispose(Object.values(terms))
  return total
}

/** The terms of {@link bingoLoss} by name, with the pair weights and λ of the step. */
export interface BingoLossTerms {
  readonly total: tf.Scalar
  /**
   * Every cross-entropy unweighted, named student view + teacher view: "paper": intra = CE(s_a, t_a),
   * inter = CE(s_p, t_a); "code": aa, ap, pp, pa, ma, mp (a = anchor, p = positive, m = mix).
   */
  readonly terms: Readonly<Record<string, tf.Scalar>>
  /** "code": lambda, wSelf, wCross; "paper": none. */
  readonly scalars: Readonly<Record<string, number>>
}

/**
 * {@link bingoLoss} with its terms: the total is computed exactly as bingoLoss computes it (terms
 * of weight 0 do not enter it); every term is also returned on its own, computed even when its
 * weight is 0 (during the warm-up), so a run's log shows all six. The caller owns every tensor.
 */
export const bingoLossTerms = (views: BingoViews, options: Partial<BingoOptions> = {}): BingoLossTerms => {
  const o: BingoOptions = { ...bingoDefaults, ...options }
  const name = `bingoLoss(${o.form})`
  expectPositive(name, "temperature", o.temperature)
  const { studentAnchor: sA, studentPositive: sP, teacherAnchor: tA, teacherQueue: queue } = views
  if (sP === undefined) throw new RangeError(`${name}: needs studentPositive`)
  const ce = (s: tf.Tensor2D, t: tf.Tensor2D): tf.Scalar =>
    tf.tidy(() => tf.mean(contrastiveCrossEntropy(s, t, queue, o.temperature)) as tf.Scalar)

  if (o.form === "paper") {
    const [, dim] = expectSameShape(name, { studentAnchor: sA, studentPositive: sP, teacherAnchor: tA })
    expectQueue(name, "teacherQueue", queue, dim)
    const intra = ce(sA, tA)
    const inter = ce(sP, tA)
    return { total: tf.add(intra, inter) as tf.Scalar, terms: { intra, inter }, scalars: {} }
  }

  const { studentMix: sM, teacherPositive: tP, mixLambda: lambda } = views
  if (sM === undefined || tP === undefined || lambda === undefined) {
    throw new RangeError(`${name}: needs studentMix, teacherPositive and mixLambda`)
  }
  if (!(lambda >= 0 && lambda <= 1)) throw new RangeError(`${name}: mixLambda must be in [0, 1], got ${lambda}`)
  expectNonNegative(name, "selfWeight", o.selfWeight)
  expectNonNegative(name, "crossWeight", o.crossWeight)
  const [, dim] = expectSameShape(name, {
    studentAnchor: sA,
    studentPositive: sP,
    studentMix: sM,
    teacherAnchor: tA,
    teacherPositive: tP
  })
  expectQueue(name, "teacherQueue", queue, dim)
  const w = bingoPairWeights(views.epoch, o)
  const terms: ReadonlyArray<readonly [string, number, tf.Tensor2D, tf.Tensor2D]> = [
    ["aa", w.self, sA, tA],
    ["ap", w.cross, sA, tP],
    ["pp", w.self, sP, tP],
    ["pa", w.cross, sP, tA],
    ["ma", lambda, sM, tA],
    ["mp", 1 - lambda, sM, tP]
  ]
  const values = terms.map(([, , s, t]) => ce(s, t))
  const total = tf.tidy(() => {
    const weighted = terms.flatMap(([, weight], i) => (weight === 0 ? [] : [tf.mul(values[i]!, weight)]))
    return tf.div(tf.addN(weighted), 3) as tf.Scalar
  })
  return {
    total,
    terms: Object.fromEntries(terms.map(([n], i) => [n, values[i]!])),
    scalars: { lambda, wSelf: w.self, wCross: w.cross }
  }
}
