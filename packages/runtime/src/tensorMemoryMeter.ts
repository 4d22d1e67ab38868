import * as tf from "@tensorflow/tfjs"

/** Bytes of tensor data the current backend holds now, and the most since the last `resetPeak`. */
export interface TensorMemoryMeter {
  readonly liveBytes: () => number
  readonly peakBytes: () => number
  /** Start a new peak from what is live now. */
  readonly resetPeak: () => void
}

/**
 * A deterministic measure of a workload's tensor memory on the cpu backend (cpu and cpu-native):
 * the bytes of distinct ArrayBuffers that the backend's records hold, counted as records are set
 * and deleted, and its peak. Unlike `tf.memory().numBytes`, which counts each tensor's size, views
 * of one buffer (reshapes, clones, the tape's saved copies, Slice's subarrays) count once; free
 * buffers in @bingo/native-cpu's output pool do not count. Only tensors made after the call are
 * seen (install it before building the networks). One meter per backend instance; other backends
 * (wasm, tfjs-node) are not measured (`undefined`). For benchmarks and tests, not for runs.
 */
export const installTensorMemoryMeter = (): TensorMemoryMeter | undefined => {
  const backend = tf.backend() as unknown as { data?: Partial<Storage> }
  const storage = backend.data
  if (tf.getBackend() !== "cpu" || storage?.set === undefined || storage.delete === undefined || storage.has === undefined) return undefined
  const existing = meters.get(storage as Storage)
  if (existing !== undefined) return existing
  const s = storage as Storage
  const counts = new WeakMap<ArrayBufferLike, number>()
  let live = 0
  let peak = 0
  const bufferOf = (values: unknown) => (ArrayBuffer.isView(values) ? values.buffer : undefined)
  const acquire = (values: unknown) => {
    const b = bufferOf(values)
    if (b === undefined) return
    const n = counts.get(b) ?? 0
    if (n === 0) {
      live += b.byteLength
      if (live > peak) peak = live
    }
    counts.set(b, n + 1)
  }
  const release = (values: unknown) => {
    const b = bufferOf(values)
    const n = b === undefined ? undefined : counts.get(b)
    if (b === undefined || n === undefined) return
    if (n === 1) {
      live -= b.byteLength
      counts.delete(b)
    } else counts.set(b, n - 1)
  }
  const set = s.set.bind(s)
  const del = s.delete.bind(s)
  s.set = (id, value) => {
    const old = s.has(id) ? s.get(id)?.values : undefined
    set(id, value)
    acquire(value.values)
    release(old)
  }
  s.delete = (id) => {
    const old = s.has(id) ? s.get(id)?.values : undefined
    const deleted = del(id)
    release(old)
    return deleted
  }
  const meter: TensorMemoryMeter = {
    liveBytes: () => live,
    peakBytes: () => peak,
    resetPeak: () => {
      peak = live
    }
  }
  meters.set(s, meter)
  return meter
}

/** The cpu backend's DataStorage (tfjs-core `DataStorage<{ values }>`), as far as it is used here. */
interface Storage {
  get: (id: object) => { values?: unknown } | undefined
  has: (id: object) => boolean
  set: (id: object, value: { values?: unknown }) => void
  delete: (id: object) => boolean
}

const meters = new WeakMap<Storage, TensorMemoryMeter>()
