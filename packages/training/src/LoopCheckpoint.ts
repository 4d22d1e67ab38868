import { Effect } from "effect"
import { existsSync } from "node:fs"
import { readFile } from "node:fs/promises"
import type * as tf from "@tensorflow/tfjs"
import { atomicWrite } from "@bingo/runtime"
import { assignParams, decodeSafetensors, encodeSafetensors, type NamedTensor, snapshotParams } from "@bingo/backbones"
import type { EmbeddingQueue, Sgd } from "@bingo/optim"
import type { EpochSummary, LoopProgress } from "./LoopProgress.ts"
import { CheckpointError } from "./TrainingError.ts"

/**
 * What a checkpoint holds: every network the objective names (weights and batch-norm statistics,
 * trainable or not, under "<prefix>."), the SGD momentum buffers ("sgd."), the queues
 * ("queue.<name>") and the loop's progress (epoch, step, RNG states, epoch summaries and the
 * running sums of the epoch in progress) as JSON metadata. One .safetensors file, written
 * atomically, so a run killed at any point resumes from the last complete one.
 */
export interface LoopState {
  readonly networks: ReadonlyMap<string, ReadonlyMap<string, tf.Variable>>
  readonly sgd: Sgd
  readonly queues: ReadonlyMap<string, EmbeddingQueue>
}

interface StateMetadata {
  readonly version: 2
  readonly progress: LoopProgress
  readonly queuePointers: Readonly<Record<string, number>>
  readonly fingerprint: string
}

export const checkpointExists = (path: string): boolean => existsSync(path)

/** Write `state` and `progress` to `path` (atomically). */
export const saveCheckpoint = (path: string, state: LoopState, progress: LoopProgress, fingerprint: string) =>
  Effect.tryPromise({
    try: async () => {
      const tensors: Array<NamedTensor> = []
      for (const [prefix, params] of state.networks) tensors.push(...(await snapshotParams(params, `${prefix}.`)))
      tensors.push(...(await snapshotParams(state.sgd.state(), "sgd.")))
      const queuePointers: Record<string, number> = {}
      for (const [name, q] of state.queues) {
        tensors.push({ name: `queue.${name}`, shape: [q.size, q.dim], data: await q.values() })
        queuePointers[name] = q.pointer
      }
      const untimed = { ...progress, epochs: progress.epochs.map((e) => ({ ...e, imagesPerSecond: null, seconds: null })) }
      const meta: StateMetadata = { version: 2, progress: untimed, queuePointers, fingerprint }
      atomicWrite(path, encodeSafetensors(tensors, { "bingo-state": JSON.stringify(meta) }))
    },
    catch: (e) => new CheckpointError({ path, reason: `cannot write: ${String(e)}` })
  })

/**
 * Restore a checkpoint into `state` (whose networks, SGD and queues have the run's shapes) and
 * return its progress. Fails with CheckpointError when the file is unreadable, not a
 * checkpoint, or written by a run with another fingerprint (another config, data, bags or teacher).
 */
export const loadCheckpoint = (path: string, state: LoopState, fingerprint: string) =>
  Effect.gen(function* () {
    const bytes = yield* Effect.tryPromise({
      try: () => readFile(path),
      catch: (e) => new CheckpointError({ path, reason: `cannot read: ${String(e)}` })
    })
    const decoded = yield* Effect.try({
      try: () => decodeSafetensors(bytes),
      catch: (e) => new CheckpointError({ path, reason: `not a checkpoint: ${(e as Error).message}` })
    })
    const rawMeta = decoded.metadata["bingo-state"]
    if (rawMeta === undefined) return yield* new CheckpointError({ path, reason: "no bingo-state metadata" })
    const meta = JSON.parse(rawMeta) as StateMetadata
    if (meta.version !== 2 || meta.fingerprint !== fingerprint) {
      return yield* new CheckpointError({
        path,
        reason: "written by a run with a different config (delete it or change outDir to start afresh)"
      })
    }
    const wrap = (e: { readonly message: string }) => new CheckpointError({ path, reason: e.message })
    for (const [prefix, params] of state.networks) {
      yield* assignParams(params, decoded.tensors, path, `${prefix}.`).pipe(Effect.mapError(wrap))
    }
    const sgdBuffers = new Map<string, { shape: ReadonlyArray<number>; data: Float32Array }>()
    for (const [name, t] of decoded.tensors) if (name.startsWith("sgd.")) sgdBuffers.set(name.slice(4), t)
    state.sgd.restore(sgdBuffers)
    for (const [name, q] of state.queues) {
      const t = decoded.tensors.get(`queue.${name}`)
      if (t === undefined || t.shape[0] !== q.size || t.shape[1] !== q.dim) {
        return yield* new CheckpointError({ path, reason: `queue '${name}' missing or of another shape` })
      }
      q.restore(t.data, meta.queuePointers[name] ?? 0)
    }
    return meta.progress
  })

export type { EpochSummary }
