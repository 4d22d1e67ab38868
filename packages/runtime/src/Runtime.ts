import * as tf from "@tensorflow/tfjs"
import { Context, Effect, Layer } from "effect"
import { BackendUnavailable } from "./RuntimeError.ts"
import { type BackendChoice, type BackendName, selectBackend } from "./selectBackend.ts"

export interface RuntimeOptions {
  readonly backend?: BackendChoice
  readonly seed?: number
}

/**
 * The TF.js runtime every other stage runs on: the active backend and the run's seed.
 * Building the layer activates the backend (and logs which one and why); releasing it
 * disposes every tf.Variable still registered.
 */
export class Runtime extends Context.Service<
  Runtime,
  {
    readonly backend: BackendName
    readonly seed: number
  }
>()("@bingo/runtime/Runtime") {
  static readonly layer = (options: RuntimeOptions = {}) =>
    Layer.effect(
      Runtime,
      Effect.acquireRelease(
        Effect.gen(function* () {
          const choice = options.backend ?? "auto"
          const selected = yield* Effect.promise(() => selectBackend(choice))
          if ("error" in selected) {
            return yield* new BackendUnavailable({ backend: choice, reason: selected.error })
          }
          yield* Effect.logInfo(selected.reason)
          return Runtime.of({ backend: selected.backend, seed: options.seed ?? 0 })
        }),
        () => Effect.sync(() => tf.disposeVariables())
      )
    )

  /** The cpu backend, seed 0: for tests. */
  static readonly layerTest = Runtime.layer({ backend: "cpu", seed: 0 })
}
