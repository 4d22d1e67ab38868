/** One progress report of a long mining computation: `done` of `total` units of `stage`. */
export interface MiningProgress {
  readonly stage: string
  readonly done: number
  readonly total: number
}

/**
 * A long computation written as a generator: it yields a progress report after each unit of
 * work (a chunk of kNN query rows, a Lloyd iteration) and returns its result. The caller
 * decides what happens between units: `runSteps` runs it to the end with a callback, while
 * BagMiner logs and yields to the Effect scheduler, so a long mining run can be interrupted.
 * Returning early (`steps.return()`) runs the generator's `finally`, which frees its tensors.
 */
export type MiningSteps<A> = Generator<MiningProgress, A, void>

/** Run `steps` to completion, reporting each unit of work to `onProgress`. */
export const runSteps = <A>(steps: MiningSteps<A>, onProgress?: (progress: MiningProgress) => void): A => {
  for (;;) {
    const r = steps.next()
    if (r.done === true) return r.value
    onProgress?.(r.value)
  }
}
