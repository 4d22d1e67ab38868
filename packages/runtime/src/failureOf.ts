import { Cause, Exit } from "effect"

/**
 * The typed error an exit failed with (its first `Fail` reason), or `undefined` for a success
 * or an exit that only died or was interrupted. Tests assert on it by tag and fields,
 * `expect(failureOf(exit)).toMatchObject({ _tag: "WeightShapeMismatch", tensor: "..." })`,
 * rather than on the text of the whole exit.
 */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isFailReason)?.error : undefined
