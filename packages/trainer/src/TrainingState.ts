import { Effect } from "effect"
import { existsSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { atomicWrite, Rng } from "@bingo/runtime"
import { assignParams, decodeSafetensors, encodeSafetensors, type Encoder, type NamedTensor, snapshotParams } from "@bingo/backbones"
import { EmbeddingQueue, Sgd } from "@bingo/optim"
import { CheckpointError } from "./TrainerError.ts"

/**
 * Everything a distillation run needs to continue exactly where it stopped: the student (and
 * momentum-student) weights with batch-norm statistics, SGD momentum buffers, the queues,
 * the position in the schedule and the RNG states. Owned by the trainer; the loss holds none.
 */
export interface TrainingState {
  readonly student: Encoder
  readonly studentKey: Encoder | undefined
  readonly sgd: Sgd
  teacherQueue: EmbeddingQueue
  studentKeyQueue: EmbeddingQueue | undefined
  /** Epoch in progress (0-based) and the number of its steps already done. */
  epoch: number
  stepInEpoch: number
  globalStep: number
  /** Order RNG as it was at the start of `epoch` (regenerates that epoch's batches). */
  orderRngAtEpochStart: Array<number>
  augRng: Rng
  /** Mean loss of each finished epoch. */
  epochLosses: Array<number>
  /** Sum and count of the losses of the epoch in progress (so its mean survives a resume). */
  partialLossSum: number
  partialLossCount: number
}

interface StateMetadata {
  readonly version: 1
  readonly epoch: number
  readonly stepInEpoch: number
  readonly globalStep: number
  readonly orderRngAtEpochStart: Array<number>
  readonly augRng: Array<number>
  readonly teacherQueuePointer: number
  readonly studentKeyQueuePointer: number | null
  readonly epochLosses: Array<number>
  readonly partialLossSum: number
  readonly partialLossCount: number
  readonly fingerprint: string
}

const queueTensor = async (name: string, q: EmbeddingQueue): Promise<NamedTensor> => ({
  name,
  shape: [q.size, q.dim],
  data: await q.values()
})

/** Write the state as one .safetensors file (tensors + JSON metadata), atomically. */
export const saveTrainingState = (path: string, state: TrainingState, fingerprint: string) =>
  Effect.tryPromise({
    try: async () => {
      const tensors: Array<NamedTensor> = [
        ...(await snapshotParams(state.student.params, "student.")),
        ...(state.studentKey === undefined ? [] : await snapshotParams(state.studentKey.params, "studentKey.")),
        ...(await snapshotParams(state.sgd.state(), "sgd.")),
        await queueTensor("queue.teacher", state.teacherQueue),
        ...(state.studentKeyQueue === undefined ? [] : [await queueTensor("queue.studentKey", state.studentKeyQueue)])
      ]
      const meta: StateMetadata = {
        version: 1,
        epoch: state.epoch,
        stepInEpoch: state.stepInEpoch,
        globalStep: state.globalStep,
        orderRngAtEpochStart: state.orderRngAtEpochStart,
        augRng: state.augRng.state(),
        teacherQueuePointer: state.teacherQueue.pointer,
        studentKeyQueuePointer: state.studentKeyQueue?.pointer ?? null,
        epochLosses: state.epochLosses,
        partialLossSum: state.partialLossSum,
        partialLossCount: state.partialLossCount,
        fingerprint
      }
      atomicWrite(path, encodeSafetensors(tensors, { "bingo-state": JSON.stringify(meta) }))
    },
    catch: (e) => new CheckpointError({ path, reason: `cannot write: ${String(e)}` })
  })

/**
 * Restore a state saved by `saveTrainingState` into `state` (whose networks, SGD and queues
 * have the run's shapes). Fails with CheckpointError when the file belongs to another config.
 */
export const loadTrainingState = (path: string, state: TrainingState, fingerprint: string) =>
  Effect.gen(function*() {
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
    if (meta.fingerprint !== fingerprint) {
      return yield* new CheckpointError({ path, reason: "written by a run with a different config (delete it or change outDir to start afresh)" })
    }
    const wrap = (e: { readonly message: string }) => new CheckpointError({ path, reason: e.message })
    yield* assignParams(state.student.params, decoded.tensors, path, "student.").pipe(Effect.mapError(wrap))
    if (state.studentKey !== undefined) {
      yield* assignParams(state.studentKey.params, decoded.tensors, path, "studentKey.").pipe(Effect.mapError(wrap))
    }
    const sgdBuffers = new Map<string, { shape: ReadonlyArray<number>; data: Float32Array }>()
    for (const [name, t] of decoded.tensors) if (name.startsWith("sgd.")) sgdBuffers.set(name.slice(4), t)
    state.sgd.restore(sgdBuffers)
    const restoreQueue = (name: string, q: EmbeddingQueue, ptr: number) => {
      const t = decoded.tensors.get(name)
      if (t === undefined || t.shape[0] !== q.size || t.shape[1] !== q.dim) throw new Error(`queue '${name}' missing or of another shape`)
      q.dispose()
      return EmbeddingQueue.fromValues(t.data, q.size, q.dim, ptr)
    }
    yield* Effect.try({
      try: () => {
        state.teacherQueue = restoreQueue("queue.teacher", state.teacherQueue, meta.teacherQueuePointer)
        if (state.studentKeyQueue !== undefined) {
          state.studentKeyQueue = restoreQueue("queue.studentKey", state.studentKeyQueue, meta.studentKeyQueuePointer ?? 0)
        }
      },
      catch: (e) => new CheckpointError({ path, reason: (e as Error).message })
    })
    state.epoch = meta.epoch
    state.stepInEpoch = meta.stepInEpoch
    state.globalStep = meta.globalStep
    state.orderRngAtEpochStart = meta.orderRngAtEpochStart
    state.augRng = Rng.fromState(meta.augRng)
    state.epochLosses = [...meta.epochLosses]
    state.partialLossSum = meta.partialLossSum
    state.partialLossCount = meta.partialLossCount
  })

export const checkpointExists = (path: string): boolean => existsSync(path)

