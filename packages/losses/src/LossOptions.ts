import { Effect, Result, Schema } from "effect"
import { formatSchemaProblems, userInputParseOptions } from "@bingo/runtime"

/**
 * Building blocks for a loss's options: Effect Schema fields with a default, and
 * {@link optionsFromSchema} which turns a struct of them into the `defaults` and `decodeOptions`
 * of a {@link DistillationLoss}. Decoding rejects unknown keys and reports every problem with its
 * key path, e.g. `Expected number\n  at ["temperature"]`.
 */

/** A finite number > 0 (a temperature), `value` when the key is absent. */
export const positiveNumber = (value: number) =>
  Schema.Finite.check(Schema.isGreaterThan(0)).pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

/** A finite number ≥ 0 (a weight), `value` when the key is absent. */
export const nonNegativeNumber = (value: number) =>
  Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)).pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

/** An integer ≥ 0 (an epoch count), `value` when the key is absent. */
export const nonNegativeInt = (value: number) =>
  Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)).pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

/** One of `values`, `value` when the key is absent. */
export const oneOf = <const L extends ReadonlyArray<string>>(values: L, value: L[number]) =>
  Schema.withDecodingDefaultKey<Schema.Literals<L>>(Effect.succeed(value))(Schema.Literals(values))

/**
 * `defaults` (the schema decoded from `{}`) and `decodeOptions` for a loss whose options are the
 * schema's type. `undefined` and `null` decode as `{}`; an unknown key, a wrong type or a value
 * failing a check gives `{ error }` with every issue and its key path.
 */
export const optionsFromSchema = <S extends Schema.ConstraintDecoder<unknown>>(
  schema: S
): {
  readonly defaults: S["Type"]
  readonly decodeOptions: (raw: unknown) => S["Type"] | { readonly error: string }
} => {
  const decode = Schema.decodeUnknownResult(schema)
  const decodeOptions = (raw: unknown): S["Type"] | { readonly error: string } => {
    const result = decode(raw ?? {}, userInputParseOptions)
    return Result.isSuccess(result) ? result.success : { error: formatSchemaProblems(result.failure.issue) }
  }
  const defaults = decode({}, { errors: "all" })
  if (Result.isFailure(defaults)) throw new TypeError(`options schema has no valid defaults: ${defaults.failure.message}`)
  return { defaults: defaults.success, decodeOptions }
}
