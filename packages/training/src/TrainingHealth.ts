import * as tf from "@tensorflow/tfjs"

/**
 * Health statistics of a batch of L2-normalised embeddings z [B, D], computed on the backend in
 * one small tensor so a step reads them back with its loss (one sync, not one per number):
 *
 *   std_d   = the standard deviation of column d across the batch
 *   spread  = sqrt(sum_d std_d^2) = sqrt(1 - ||mean_b z_b||^2)   in [0, 1]
 *   embeddingStd = mean_d std_d                                  (~ 1/sqrt(D) when healthy)
 *   dead    = fraction of columns with std_d * sqrt(D) < 0.01     (units that no longer vary)
 *
 * `spread` is the dimension-free form of "the std of the normalised embeddings": 1 when the
 * embeddings are spread with zero mean, 0 when every image maps to the same point (collapse).
 * Shapes: z [B, D] -> [3] = [spread, embeddingStd, dead].
 */
export const embeddingHealth = (z: tf.Tensor2D): tf.Tensor1D =>
  tf.tidy(() => {
    const d = z.shape[1]
    const { variance } = tf.moments(z, 0)
    const std = tf.sqrt(tf.relu(variance))
    const spread = tf.sqrt(tf.sum(variance))
    const dead = tf.mean(tf.cast(tf.less(tf.mul(std, Math.sqrt(d)), deadUnitThreshold), "float32"))
    return tf.stack([spread, tf.mean(std), dead]) as tf.Tensor1D
  })

/** A column whose std across the batch, times sqrt(D), is below this is counted as dead. */
export const deadUnitThreshold = 0.01

/** The global L2 norm of a set of gradients, sqrt(sum of every squared entry); a scalar. */
export const gradientNorm = (grads: ReadonlyArray<tf.Tensor>): tf.Scalar =>
  tf.tidy(() => (grads.length === 0 ? tf.scalar(0) : tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g)))))) as tf.Scalar)

/**
 * The value a contrastive cross-entropy with one positive and Q queue negatives takes when every
 * logit is equal (a collapsed student, or a collapsed teacher whose keys are all the same):
 * -log(e^c / ((Q + 1) e^c)) = ln(Q + 1).
 */
export const contrastiveCollapseValue = (queueSize: number): number => Math.log(queueSize + 1)

/** When a run counts as collapsed, or as drifting towards it. Tested both ways in TrainingHealth.test.ts. */
export interface HealthThresholds {
  /**
   * Collapsed: the epoch's mean spread below this and no higher than the epoch before (a random
   * network can start low and spread out as it trains; the first epoch counts as collapsed only
   * below a tenth of this). Healthy runs here stay above 0.3 after their first epoch.
   */
  readonly collapseSpread: number
  /** Collapsed mid-epoch: this many consecutive steps with spread below `collapseSpread`, ending no higher than they began. */
  readonly collapseSteps: number
  /**
   * Collapsed: the epoch's mean loss within this relative distance of the collapse value while
   * the loss is not moving (|epoch mean - previous| below the same fraction of it).
   */
  readonly collapseLossTolerance: number
  /** Warn: the epoch's mean spread below this. */
  readonly warnSpread: number
  /** Warn: more than this fraction of dead embedding units. */
  readonly warnDead: number
  /** Warn: the epoch's mean loss rose two epochs running and is above this fraction of the collapse value. */
  readonly warnLossFraction: number
}

export const healthDefaults: HealthThresholds = {
  collapseSpread: 0.05,
  collapseSteps: 50,
  collapseLossTolerance: 0.002,
  warnSpread: 0.2,
  warnDead: 0.5,
  warnLossFraction: 0.9
}

/**
 * Thresholds that never trigger: for tests of a loop's mechanics (checkpoints, resume, leaks) on
 * tiny random networks, which sit near collapse by construction. Never a run's default.
 */
export const healthChecksOff: HealthThresholds = {
  collapseSpread: 0,
  collapseSteps: Number.POSITIVE_INFINITY,
  collapseLossTolerance: -1,
  warnSpread: 0,
  warnDead: 1,
  warnLossFraction: Number.POSITIVE_INFINITY
}

/** One monitored embedding's epoch means. */
export interface EmbeddingHealthSummary {
  readonly spread: number
  readonly embeddingStd: number
  readonly dead: number
}

/** What the loop knows about an epoch when it judges it. */
export interface EpochHealthInput {
  readonly loss: number
  /** The mean losses of the finished epochs before this one, oldest first. */
  readonly previousLosses: ReadonlyArray<number>
  readonly collapseValue: number | undefined
  /** By network name, the trained network first. */
  readonly embeddings: ReadonlyArray<readonly [string, EmbeddingHealthSummary]>
  /** The same networks' mean spreads in the epoch before, when there was one. */
  readonly previousSpreads?: Readonly<Record<string, number>>
}

export type HealthVerdict =
  | { readonly _tag: "Healthy" }
  | { readonly _tag: "Drifting"; readonly warnings: ReadonlyArray<string> }
  | { readonly _tag: "Collapsed"; readonly network: string; readonly evidence: string }

const pct = (x: number) => `${(100 * x).toFixed(0)}%`

/**
 * Judge one finished epoch. Collapsed when a monitored embedding's mean spread is below
 * `collapseSpread`, or when the loss sits at its collapse value without moving (every logit
 * equal: the trained network, or the frozen teacher it is compared with, outputs a constant).
 */
export const judgeEpoch = (input: EpochHealthInput, t: HealthThresholds = healthDefaults): HealthVerdict => {
  for (const [network, h] of input.embeddings) {
    const before = input.previousSpreads?.[network]
    const collapsed = before === undefined ? h.spread < t.collapseSpread / 10 : h.spread < t.collapseSpread && h.spread <= before
    if (collapsed) {
      return {
        _tag: "Collapsed",
        network,
        evidence:
          `have a spread of ${h.spread.toFixed(4)} across the batch` +
          `${before === undefined ? "" : `, not rising (${before.toFixed(4)} the epoch before)`} (1 = spread out, 0 = one point; collapse below ${t.collapseSpread}), ` +
          `${pct(h.dead)} of their ${"units"} dead${lossText(input)}`
      }
    }
  }
  const c = input.collapseValue
  const previous = input.previousLosses.at(-1)
  if (c !== undefined && Number.isFinite(input.loss)) {
    const atCollapse = Math.abs(input.loss - c) <= t.collapseLossTolerance * c
    const still = previous !== undefined && Math.abs(input.loss - previous) <= t.collapseLossTolerance * c
    if (atCollapse && still) {
      return {
        _tag: "Collapsed",
        network: input.embeddings[0]?.[0] ?? "trained",
        evidence:
          `give a loss of ${input.loss.toFixed(4)}, the value ln(Q + 1) = ${c.toFixed(4)} it takes when every logit is equal, ` +
          `for a second epoch running (previous ${previous!.toFixed(4)}); spreads: ` +
          input.embeddings.map(([n, h]) => `${n} ${h.spread.toFixed(3)}`).join(", ")
      }
    }
  }
  const warnings: Array<string> = []
  for (const [network, h] of input.embeddings) {
    if (h.spread < t.warnSpread)
      warnings.push(`${network} embedding spread ${h.spread.toFixed(3)} is low (collapse below ${t.collapseSpread})`)
    if (h.dead > t.warnDead) warnings.push(`${pct(h.dead)} of the ${network} embedding units are dead`)
  }
  const [before, last] = input.previousLosses.slice(-2)
  if (
    c !== undefined &&
    before !== undefined &&
    last !== undefined &&
    before < last &&
    last < input.loss &&
    input.loss > t.warnLossFraction * c
  ) {
    warnings.push(
      `loss rose two epochs running (${before.toFixed(4)}, ${last.toFixed(4)}, ${input.loss.toFixed(4)}), towards its collapse value ${c.toFixed(4)}`
    )
  }
  return warnings.length === 0 ? { _tag: "Healthy" } : { _tag: "Drifting", warnings }
}

const lossText = (input: EpochHealthInput) =>
  input.collapseValue === undefined ? "" : `; loss ${input.loss.toFixed(4)} (collapse value ${input.collapseValue.toFixed(4)})`
