import { Effect } from "effect"
import { builtinLosses } from "./builtinLosses.ts"
import {
  asLossValue,
  type DistillationLoss,
  type DistillationViews,
  isOptionsError,
  type LossValue,
  type LossView,
  neededViews
} from "./DistillationLoss.ts"
import { DuplicateLoss, InvalidLossOptions, UnknownLoss } from "./LossError.ts"

export type { DistillationLoss, DistillationViews, LossView } from "./DistillationLoss.ts"
export { defineLoss } from "./DistillationLoss.ts"
export { builtinLosses } from "./builtinLosses.ts"

/** A loss picked by name with its options decoded: what the trainer calls every step. */
// biome-ignore lint/suspicious/noExplicitAny: the trainer handles resolved losses of every options type alike
export interface ResolvedLoss<Options = any> {
  readonly loss: DistillationLoss<Options>
  readonly options: Options
  /** The optional views the trainer computes for it, with these options (`neededViews`). */
  readonly needs: ReadonlyArray<LossView>
  /** `loss.compute(views, options)`, as a total with any named terms. */
  readonly compute: (views: DistillationViews) => LossValue
  /** `loss.collapseValue(queueSize, options)`, or undefined when the loss does not say. */
  readonly collapseValue: (queueSize: number) => number | undefined
}

/**
 * The losses a run can pick by name: the builtins plus any plugin losses. Immutable; `register`
 * returns a new registry. Lookups and option decoding fail with typed errors
 * ({@link UnknownLoss}, {@link InvalidLossOptions}) that name what to fix.
 */
export class LossRegistry {
  private constructor(private readonly byName: ReadonlyMap<string, DistillationLoss>) {}

  /** The builtins plus `extra`; throws {@link DuplicateLoss} if two share a name (see {@link build}). */
  static make(extra: ReadonlyArray<DistillationLoss> = []): LossRegistry {
    const byName = new Map<string, DistillationLoss>()
    for (const loss of [...builtinLosses, ...extra]) {
      if (byName.has(loss.name)) throw new DuplicateLoss({ name: loss.name })
      byName.set(loss.name, loss)
    }
    return new LossRegistry(byName)
  }

  /** {@link make} with a name clash as a typed failure: for plugin lists read from a config. */
  static build(extra: ReadonlyArray<DistillationLoss> = []): Effect.Effect<LossRegistry, DuplicateLoss> {
    return Effect.try({
      try: () => LossRegistry.make(extra),
      catch: (error) => error as DuplicateLoss
    })
  }

  /** A registry with `losses` added; fails with {@link DuplicateLoss} on a name already taken. */
  register(...losses: ReadonlyArray<DistillationLoss>): Effect.Effect<LossRegistry, DuplicateLoss> {
    const byName = new Map(this.byName)
    for (const loss of losses) {
      if (byName.has(loss.name)) return Effect.fail(new DuplicateLoss({ name: loss.name }))
      byName.set(loss.name, loss)
    }
    return Effect.succeed(new LossRegistry(byName))
  }

  get(name: string): DistillationLoss | undefined {
    return this.byName.get(name)
  }

  has(name: string): boolean {
    return this.byName.has(name)
  }

  /** Registered names, builtins first, in registration order. */
  names(): Array<string> {
    return [...this.byName.keys()]
  }

  /** Registered losses, in the order of {@link names}. */
  list(): Array<DistillationLoss> {
    return [...this.byName.values()]
  }

  /** The loss called `name`, or {@link UnknownLoss} listing the available names. */
  lookup(name: string): Effect.Effect<DistillationLoss, UnknownLoss> {
    const loss = this.byName.get(name)
    return loss === undefined ? Effect.fail(new UnknownLoss({ name, available: this.names() })) : Effect.succeed(loss)
  }

  /** Decode raw options for `loss` (a throwing plugin decoder also becomes {@link InvalidLossOptions}). */
  decodeOptions<O>(loss: DistillationLoss<O>, raw: unknown): Effect.Effect<O, InvalidLossOptions> {
    return Effect.suspend(() => {
      let decoded: O | { readonly error: string }
      try {
        decoded = loss.decodeOptions(raw)
      } catch (error) {
        decoded = { error: `decodeOptions threw: ${error instanceof Error ? error.message : String(error)}` }
      }
      return isOptionsError(decoded)
        ? Effect.fail(new InvalidLossOptions({ loss: loss.name, message: `invalid options for loss '${loss.name}': ${decoded.error}` }))
        : Effect.succeed(decoded)
    })
  }

  /** Pick a loss by name and decode its options: what the CLI does with `loss: { name, options }`. */
  resolve(name: string, rawOptions?: unknown): Effect.Effect<ResolvedLoss, UnknownLoss | InvalidLossOptions> {
    return this.lookup(name).pipe(
      Effect.flatMap((loss) =>
        this.decodeOptions(loss, rawOptions).pipe(
          Effect.flatMap((options) =>
            Effect.try({
              try: (): ResolvedLoss => ({
                loss,
                options,
                needs: neededViews(loss, options),
                compute: (views) => asLossValue(loss.compute(views, options)),
                collapseValue: (queueSize) => loss.collapseValue?.(queueSize, options)
              }),
              catch: (e) => new InvalidLossOptions({ loss: loss.name, message: (e as Error).message })
            })
          )
        )
      ),
      Effect.withSpan("LossRegistry.resolve", { attributes: { loss: name } })
    )
  }
}
