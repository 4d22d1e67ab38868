import { nativeKernelsRegistered, nativeKernelThreads, registerNativeKernels } from "@bingo/native-cpu"

/**
 * Threads the native cpu kernels compute with (the cpu-native backend); undefined on other
 * backends. A run's float results depend on this count (oneDNN splits its work by it), and the
 * automatic count depends on how busy the machine is when the process starts
 * (`chooseThreads`), so a run records it and a resumed run keeps it (`keepComputeThreads`).
 */
export const computeThreads = (): number | undefined => (nativeKernelsRegistered() ? nativeKernelThreads() : undefined)

/** `{ computeThreads }` to spread into a record, or `{}` where there is no count (other backends). */
export const computeThreadsField = (): { computeThreads?: number } => {
  const n = computeThreads()
  return n === undefined ? {} : { computeThreads: n }
}

/**
 * A run resumed from a checkpoint written with `started` threads: use that count again, so the
 * rest of the run is bit-identical to an uninterrupted one, unless `BINGO_NATIVE_THREADS` asks
 * for another. Returns the line to log when the count differs from the one chosen for this
 * process, undefined when nothing changed (same count, another backend, or no count recorded).
 */
export const keepComputeThreads = (started: number | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined => {
  const now = computeThreads()
  if (started === undefined || now === undefined || started === now) return undefined
  const forced = env.BINGO_NATIVE_THREADS
  if (forced !== undefined && forced !== "" && forced !== "auto") {
    return `the run started with ${started} native threads and goes on with ${now} (BINGO_NATIVE_THREADS=${forced}): its results will not be bit-identical to an uninterrupted run's`
  }
  registerNativeKernels({ threads: started })
  return `native threads: ${started}, as the run started with (this process had chosen ${now}), so that it stays bit-identical to an uninterrupted run`
}
