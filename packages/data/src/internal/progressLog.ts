import { Effect } from "effect"

/**
 * Progress of a pass over `total` images: `report(done)` logs
 * `<label>: <done>/<total> images (<percent>%, <rate> img/s)` the first time `done` reaches each
 * tenth of `total` (several tenths crossed at once log one line), and nothing otherwise. The
 * rate counts from the call to `progressLog`.
 */
export const progressLog = (label: string, total: number): { readonly report: (done: number) => Effect.Effect<void> } => {
  const started = performance.now()
  let nextMark = 1
  return {
    report: (done) => {
      if (done * 10 < nextMark * total) return Effect.void
      while (done * 10 >= nextMark * total) nextMark++
      const seconds = Math.max((performance.now() - started) / 1000, 1e-3)
      return Effect.logInfo(`${label}: ${done}/${total} images (${Math.floor((100 * done) / total)}%, ${Math.round(done / seconds)} img/s)`)
    }
  }
}
