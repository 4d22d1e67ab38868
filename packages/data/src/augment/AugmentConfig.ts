import { formatKeyPath } from "@bingo/runtime"
import { Effect, Result, Schema, SchemaIssue } from "effect"
import { InvalidAugmentConfig } from "../DatasetError.ts"

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const NonNegativeFinite = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))
const Probability = Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 }))

/** A [lo, hi] range with 0 < lo <= hi and hi finite, or also hi <= 1 (`atMostOne`). */
const Range = (atMostOne: boolean) =>
  Schema.Tuple([Schema.Number, Schema.Number]).check(
    Schema.makeFilter(([lo, hi]) =>
      lo > 0 && lo <= hi && (atMostOne ? hi <= 1 : Number.isFinite(hi))
        ? undefined
        : `need 0 < lo <= hi${atMostOne ? " <= 1" : ""}, got [${lo}, ${hi}]`
    )
  )

/**
 * The MoCo-v2 "aug+" settings as a user writes them (the `augment` section of a pipeline
 * config): every field optional, each absent one taking the reference value (`augmentDefaults`).
 * Every constraint the augmentations rely on is a check here, reported at the field's key path
 * (`cropScale: need 0 < lo <= hi <= 1, got [1, 0.2]`). `outputSize` is the view side in pixels;
 * a pipeline fills it from the dataset's image height when absent.
 */
export const AugmentConfigSchema = Schema.Struct({
  /** S: views are S x S. */
  outputSize: Schema.optionalKey(PositiveInt),
  /** RandomResizedCrop area fraction range. */
  cropScale: Schema.optionalKey(Range(true)),
  /** RandomResizedCrop aspect-ratio (w/h) range, sampled log-uniformly. */
  cropRatio: Schema.optionalKey(Range(false)),
  flipProb: Schema.optionalKey(Probability),
  /** Probability of applying ColorJitter. */
  jitterProb: Schema.optionalKey(Probability),
  /** ColorJitter strengths: factors drawn from [max(0, 1-x), 1+x]; hue shift from [-hue, hue]. */
  brightness: Schema.optionalKey(NonNegativeFinite),
  contrast: Schema.optionalKey(NonNegativeFinite),
  saturation: Schema.optionalKey(NonNegativeFinite),
  hue: Schema.optionalKey(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 0.5 }))),
  grayscaleProb: Schema.optionalKey(Probability),
  blurProb: Schema.optionalKey(Probability),
  blurSigma: Schema.optionalKey(Range(false)),
  /** Odd kernel side; default `defaultBlurKernelSize(outputSize)`. */
  blurKernelSize: Schema.optionalKey(
    Schema.Number.check(
      Schema.makeFilter((k) => (Number.isInteger(k) && k >= 1 && k % 2 === 1 ? undefined : `must be a positive odd integer, got ${k}`))
    )
  ),
  /** Per-channel normalisation (length 1 = every channel, or one per channel). */
  mean: Schema.optionalKey(Schema.Array(Schema.Finite).check(Schema.isMinLength(1))),
  std: Schema.optionalKey(Schema.Array(Schema.Finite.check(Schema.isGreaterThan(0))).check(Schema.isMinLength(1))),
  /**
   * `centerView` only: fraction of the shorter side kept by the center crop (torchvision's
   * Resize(S / f) + CenterCrop(S)); 1 (default) keeps the whole image, 0.875 is the ImageNet habit.
   */
  centerCropFraction: Schema.optionalKey(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1, exclusiveMinimum: true })))
})

/** What the augmentations (`augment.ts`) take: `AugmentConfigSchema`'s fields with the view size given. */
export interface AugmentConfig extends Omit<typeof AugmentConfigSchema.Type, "outputSize"> {
  /** S: views are S x S. */
  readonly outputSize: number
}

export type ResolvedAugmentConfig = { readonly [K in keyof AugmentConfig]-?: NonNullable<AugmentConfig[K]> }

/** The reference values of every optional field. */
export const augmentDefaults = {
  cropScale: [0.2, 1],
  cropRatio: [3 / 4, 4 / 3],
  flipProb: 0.5,
  jitterProb: 0.8,
  brightness: 0.4,
  contrast: 0.4,
  saturation: 0.4,
  hue: 0.1,
  grayscaleProb: 0.2,
  blurProb: 0.5,
  blurSigma: [0.1, 2],
  mean: [0.5],
  std: [0.5],
  centerCropFraction: 1
} as const satisfies Omit<ResolvedAugmentConfig, "outputSize" | "blurKernelSize">

/** About 10% of the side, odd, at least 3. */
export const defaultBlurKernelSize = (side: number): number => {
  const k = Math.max(3, Math.round(0.1 * side))
  return k % 2 === 1 ? k : k + 1
}

/** The view size is required here (the schema leaves it to the pipeline). */
const ViewConfigSchema = Schema.Struct({ ...AugmentConfigSchema.fields, outputSize: PositiveInt })

const decodeView = Schema.decodeUnknownResult(ViewConfigSchema)
const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()

/** The config's first problem by `AugmentConfigSchema` (field = its key path), or undefined. */
const firstProblem = (given: Partial<AugmentConfig>): { field: string; reason: string } | undefined => {
  const decoded = decodeView(given, { errors: "first", reportInput: true })
  if (Result.isSuccess(decoded)) return undefined
  const [problem] = formatIssue(decoded.failure.issue).issues
  const path = (problem?.path ?? []).map((p) => (typeof p === "object" && p !== null && "key" in p ? p.key : p) as PropertyKey)
  return { field: formatKeyPath(path), reason: problem?.message ?? "invalid" }
}

/** Check `config` against the schema and fill in the defaults. */
const resolve = (config: AugmentConfig): { resolved: ResolvedAugmentConfig } | { problem: { field: string; reason: string } } => {
  const given = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) as Partial<AugmentConfig>
  const problem = firstProblem(given)
  if (problem !== undefined) return { problem }
  return {
    resolved: {
      ...augmentDefaults,
      blurKernelSize: defaultBlurKernelSize(config.outputSize),
      ...given,
      outputSize: config.outputSize
    }
  }
}

/** Fill in the defaults and check every field; an invalid config is a programmer error here. */
export const resolveAugmentConfig = (config: AugmentConfig): ResolvedAugmentConfig => {
  const r = resolve(config)
  if ("problem" in r) throw new RangeError(new InvalidAugmentConfig(r.problem).message)
  return r.resolved
}

/** The same check as a typed failure, for configs that come from a user. */
export const validateAugmentConfig = Effect.fn("validateAugmentConfig")(function* (config: AugmentConfig) {
  const r = resolve(config)
  if ("problem" in r) return yield* new InvalidAugmentConfig(r.problem)
  return r.resolved
})
