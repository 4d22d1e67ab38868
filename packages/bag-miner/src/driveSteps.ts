import { Effect } from "effect"
import { HnswFailed, NeighboursMissing } from "./BagMinerError.ts"
import type { MiningSteps } from "./runSteps.ts"

/**
 * Run mining steps inside Effect: log progress at every 10% of each stage, yield to the
 * scheduler between units of work (so the run can be interrupted), and free the steps'
 * tensors if it is. An HnswFailed (usearch refused a call) or NeighboursMissing thrown by a
 * step fails the effect with it; anything else a step throws is a defect.
 */
export const driveSteps = <A>(make: () => MiningSteps<A>): Effect.Effect<A, HnswFailed | NeighboursMissing> =>
  Effect.acquireUseRelease(
    Effect.sync(make),
    (steps) =>
      Effect.gen(function* () {
        const started = performance.now()
        const lastTenth = new Map<string, number>()
        for (;;) {
          const r = yield* Effect.try({
            try: () => steps.next(),
            catch: (e) => {
              if (e instanceof HnswFailed || e instanceof NeighboursMissing) return e
              throw e
            }
          })
          if (r.done === true) return r.value
          const { stage, done, total } = r.value
          const tenth = Math.floor((10 * done) / total)
          if (tenth !== lastTenth.get(stage)) {
            lastTenth.set(stage, tenth)
            const elapsed = (performance.now() - started) / 1000
            yield* Effect.logInfo(`${stage}: ${done}/${total} (${Math.round((100 * done) / total)}%), ${elapsed.toFixed(1)} s elapsed`)
          }
          yield* Effect.yieldNow
        }
      }),
    (steps) => Effect.sync(() => void steps.return(undefined as never))
  )
