import type * as tf from "@tensorflow/tfjs"

/**
 * The embeddings of one training step, as the trainer hands them to a loss. Every embedding is
 * [B, D] and L2-normalised; queues are [Q, D]. A loss reads only the views it lists in
 * {@link DistillationLoss.needs}; the trainer computes the optional ones only when asked.
 */
export interface DistillationViews {
  /** s_a: student embedding of q = aug(anchor) [B, D]. */
  readonly studentAnchor: tf.Tensor2D
  /** s_p: student embedding of pq = aug(bag positive) [B, D]. */
  readonly studentPositive?: tf.Tensor2D
  /** s_m: student embedding of CutMix(q, pq) [B, D]. */
  readonly studentMix?: tf.Tensor2D
  /** t_a: teacher embedding of k = aug(anchor) [B, D]. */
  readonly teacherAnchor: tf.Tensor2D
  /** t_p: teacher embedding of pk = aug(bag positive) [B, D]. */
  readonly teacherPositive?: tf.Tensor2D
  /** Momentum-student embedding of the key view k [B, D]. */
  readonly studentKey?: tf.Tensor2D
  /** FIFO of past teacher anchor embeddings t_a [Q, D]. */
  readonly teacherQueue: tf.Tensor2D
  /** FIFO of past momentum-student keys [Q, D]. */
  readonly studentKeyQueue?: tf.Tensor2D
  /** λ: fraction of the mixed image that comes from q. */
  readonly mixLambda?: number
  /** 0-based epoch. */
  readonly epoch: number
}

/**
 * What a distillation step makes for a loss that needs `needs` (on top of the student's anchor
 * view q and the teacher's key view k, always made): the one place that turns a loss's `needs`
 * into images to augment and embeddings to compute.
 *
 * - `positive`: the bag positive's student view pq (for "positive", "studentPositive" and "mix";
 *   the CutMix is made of q and pq). Its student embedding s_p is then always computed.
 * - `teacherPositive`: the teacher's view pk of the positive and t_p ("positive" only).
 * - `mix`: CutMix(q, pq) and its student embedding s_m.
 * - `studentKey`: a momentum student embedding k, with its own queue.
 */
export interface ViewPlan {
  readonly positive: boolean
  readonly teacherPositive: boolean
  readonly mix: boolean
  readonly studentKey: boolean
}

export const planViews = (needs: ReadonlyArray<LossView>): ViewPlan => {
  const has = (v: LossView) => needs.includes(v)
  return {
    positive: has("positive") || has("studentPositive") || has("mix"),
    teacherPositive: has("positive"),
    mix: has("mix"),
    studentKey: has("studentKey")
  }
}

/** A group of optional views a loss can ask the trainer for (see {@link viewFields}). */
export type LossView = "positive" | "studentPositive" | "mix" | "studentKey" | "teacher"

/** The fields of {@link DistillationViews} each {@link LossView} stands for. */
export const viewFields: { readonly [V in LossView]: ReadonlyArray<keyof DistillationViews> } = {
  positive: ["studentPositive", "teacherPositive"],
  studentPositive: ["studentPositive"],
  mix: ["studentMix", "mixLambda"],
  studentKey: ["studentKey", "studentKeyQueue"],
  teacher: ["teacherAnchor", "teacherQueue"]
}

/** The views every trainer provides whatever the loss needs. */
export const alwaysProvided: ReadonlyArray<keyof DistillationViews> = ["studentAnchor", "teacherAnchor", "teacherQueue", "epoch"]

/**
 * A distillation objective the trainer can pick by name. Builtins and user plugins alike are
 * values of this type; a plugin file default-exports one built with {@link defineLoss}.
 */
// biome-ignore lint/suspicious/noExplicitAny: a registry holds losses of every options type; each loss's own code is typed by defineLoss
export interface DistillationLoss<Options = any> {
  /** The name a config selects it by (`loss.name`). */
  readonly name: string
  /** One line for `bingo losses` listings. */
  readonly description: string
  /**
   * Which optional views the trainer must compute for it: a list, or a function of the decoded
   * options when they change what the loss reads (BINGO's paper form reads no CutMix view).
   */
  readonly needs: ReadonlyArray<LossView> | ((options: Options) => ReadonlyArray<LossView>)
  /** The options used when the config gives none. */
  readonly defaults: Options
  /**
   * Decode user options (from YAML) merged over the defaults; return `{ error }` naming the key
   * on an unknown key, a wrong type or a bad value. `undefined` means "no options".
   */
  readonly decodeOptions: (raw: unknown) => Options | { readonly error: string }
  /**
   * The loss of one step, computed purely from the views (no hidden state): a scalar, or the total
   * with its named terms (recorded per epoch in the log and results.json).
   */
  readonly compute: (views: DistillationViews, options: Options) => tf.Scalar | LossValue
  /**
   * The loss when every logit is equal (a constant student, or a teacher whose keys are all the
   * same) with a queue of `queueSize` negatives: ln(Q + 1) for one contrastive cross-entropy.
   * The trainer reports the loss against it and stops a run sitting at it. Omit when unknown.
   */
  readonly collapseValue?: (queueSize: number, options: Options) => number
}

/** A loss's total with named terms (each unweighted) and named numbers of the step (weights, λ). */
export interface LossValue {
  readonly total: tf.Scalar
  readonly terms?: Readonly<Record<string, tf.Scalar>>
  readonly scalars?: Readonly<Record<string, number>>
}

/** A `compute` result as a {@link LossValue}. */
export const asLossValue = (value: tf.Scalar | LossValue): LossValue => ("total" in value ? value : { total: value })

/** Identity with type inference for the options: how builtins and plugins declare a loss. */
export const defineLoss = <O>(def: DistillationLoss<O>): DistillationLoss<O> => def

/** True for a `decodeOptions` result that is a failure, `{ error: string }`. */
export const isOptionsError = (decoded: unknown): decoded is { readonly error: string } =>
  typeof decoded === "object" &&
  decoded !== null &&
  Object.keys(decoded).length === 1 &&
  typeof (decoded as { readonly error?: unknown }).error === "string"

const lossViews: ReadonlyArray<string> = Object.keys(viewFields)

const isViewList = (u: unknown): u is ReadonlyArray<LossView> => Array.isArray(u) && u.every((v) => lossViews.includes(v))

/**
 * The views `loss` needs with these options (its `needs` list, or its `needs` function applied);
 * a function returning anything but a list of views throws, naming the loss.
 */
export const neededViews = <O>(loss: DistillationLoss<O>, options: O): ReadonlyArray<LossView> => {
  const needs = typeof loss.needs === "function" ? loss.needs(options) : loss.needs
  if (!isViewList(needs)) {
    throw new TypeError(`loss '${loss.name}': needs(options) must return an array of ${lossViews.map((v) => `"${v}"`).join(" | ")}`)
  }
  return needs
}

/** A structural check for values loaded from plugin files. Returns what is wrong, or undefined. */
export const checkDistillationLoss = (u: unknown): string | undefined => {
  if (typeof u !== "object" || u === null) return "expected an object built with defineLoss({...})"
  const d = u as Record<string, unknown>
  if (typeof d.name !== "string" || d.name.length === 0) return "'name' must be a non-empty string"
  if (typeof d.description !== "string") return `loss '${d.name}': 'description' must be a string`
  if (typeof d.needs !== "function" && !isViewList(d.needs)) {
    return `loss '${d.name}': 'needs' must be an array of ${lossViews.map((v) => `"${v}"`).join(" | ")}, or a function of the options returning one`
  }
  if (!("defaults" in d)) return `loss '${d.name}': 'defaults' is missing`
  if (typeof d.decodeOptions !== "function") return `loss '${d.name}': 'decodeOptions' must be a function`
  if (typeof d.compute !== "function") return `loss '${d.name}': 'compute' must be a function`
  return undefined
}

/** Type guard form of {@link checkDistillationLoss}. */
export const isDistillationLoss = (u: unknown): u is DistillationLoss => checkDistillationLoss(u) === undefined

/**
 * An optional view, or a thrown error saying which `needs` entry is missing: a loss asking for a
 * view it did not declare is a programmer error in the loss (or the trainer).
 */
export const requireView = <K extends keyof DistillationViews>(
  views: DistillationViews,
  key: K,
  loss: string
): NonNullable<DistillationViews[K]> => {
  const value = views[key]
  if (value === undefined || value === null) {
    const group = (Object.keys(viewFields) as Array<LossView>).find((v) => viewFields[v].includes(key))
    throw new RangeError(`loss '${loss}' needs the view '${String(key)}'${group ? ` (declare "${group}" in needs)` : ""}`)
  }
  return value as NonNullable<DistillationViews[K]>
}
