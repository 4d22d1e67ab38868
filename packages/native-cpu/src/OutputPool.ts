/**
 * Reused output memory for the native kernels.
 *
 * Each native kernel takes its outputs from this pool (`takeOutput`) instead of letting the
 * addon allocate a fresh V8 ArrayBuffer: a ResNet-18 step made 1-2 GB of those, and V8 ran a
 * major GC for each ~64 MB of new external memory. A buffer goes back to the pool when TF.js
 * deletes the last backend record that refers to it (the cpu backend's `disposeData` path), so
 * a training step that repeats the same shapes allocates nothing once warm.
 *
 * How it stays safe with TF.js's cpu backend, which the pool cannot change:
 * - Records are counted per ArrayBuffer, not per tensor: every `backend.data.set` whose values
 *   view a pooled buffer counts, every `backend.data.delete` uncounts. A subarray view that the
 *   stock Slice kernel (or any other kernel) stores as its output's values keeps the whole buffer
 *   out of the pool until that tensor is disposed too; reshapes and clones share a record
 *   (TF.js's refCount) and are covered by it.
 * - Read-out copies: `readSync` / `read` (what `dataSync()`, `data()`, `array()` and moving a
 *   tensor to another backend use) return a copy when the values live in a pooled buffer, so a
 *   caller can hold a `dataSync()` result across later steps (as on the wasm and webgl
 *   backends, where it is a copy too). `backend.bufferSync`, which only stock kernels call,
 *   still reads in place: what they store as tensor values is counted like any other record.
 * - Every native kernel writes each element of its outputs (a pooled buffer holds old values).
 *
 * `BINGO_NATIVE_POOL=0` turns the pool off (the addon then allocates each output, as before),
 * for debugging; `BINGO_NATIVE_POOL_MB` bounds the bytes kept free (default: an eighth of the
 * machine's memory, between 256 MiB and 4 GiB): beyond it the least recently used size classes
 * are dropped to V8's GC.
 */
import { totalmem } from "node:os"

/** The parts of tfjs-backend-cpu's MathBackendCPU the pool hooks into. */
export interface PooledBackend {
  readonly data: {
    get: (id: object) => { values?: unknown }
    has: (id: object) => boolean
    set: (id: object, value: { values?: unknown }) => void
    delete: (id: object) => boolean
  }
  readSync: (id: object) => unknown
  bufferSync: (t: unknown) => unknown
}

/** Bytes and buffers handed out by the pool since the last `resetOutputPoolStats`. */
export interface OutputPoolStats {
  /** New ArrayBuffers the pool had to allocate (nothing free of that size). */
  readonly allocatedBytes: number
  readonly allocations: number
  /** Outputs served from a freed buffer. */
  readonly reusedBytes: number
  readonly reuses: number
  /** Bytes now waiting in the pool for reuse. */
  readonly freeBytes: number
  /** Bytes of pooled buffers now holding tensor values, and the most at once since the last reset. */
  readonly liveBytes: number
  readonly peakLiveBytes: number
  /** Read-outs (`dataSync()` and the like) of pooled values that were copied. */
  readonly copiedReads: number
}

interface SizeClass {
  readonly free: Array<ArrayBuffer>
  lastUse: number
}

/** How many backend records view a pool-made buffer, and whether it waits in the pool. */
interface Refs {
  n: number
  free: boolean
}

const envEnabled = (): boolean => process.env.BINGO_NATIVE_POOL !== "0"
const envCapBytes = (): number => {
  const mb = Number(process.env.BINGO_NATIVE_POOL_MB)
  if (Number.isFinite(mb) && mb >= 0 && process.env.BINGO_NATIVE_POOL_MB !== "") return mb * 2 ** 20
  return Math.min(4 * 2 ** 30, Math.max(256 * 2 ** 20, totalmem() / 8))
}

let enabled = envEnabled()
let capBytes = envCapBytes()
/** Free buffers by byte length. */
const classes = new Map<number, SizeClass>()
/** Every buffer the pool made (weak: a buffer dropped to the GC, or left behind by a removed backend, goes). */
const refs = new WeakMap<ArrayBuffer, Refs>()
const hooked = new WeakSet<object>()
let freeBytes = 0
let liveBytes = 0
let peakLiveBytes = 0
let clock = 0
let stats = { allocatedBytes: 0, allocations: 0, reusedBytes: 0, reuses: 0, copiedReads: 0 }

/** The pool-made buffer `values` views, if any. */
const pooledBuffer = (values: unknown): ArrayBuffer | undefined => {
  if (!ArrayBuffer.isView(values)) return undefined
  const buffer = values.buffer as ArrayBuffer
  return refs.has(buffer) ? buffer : undefined
}

const acquire = (values: unknown): void => {
  const buffer = pooledBuffer(values)
  if (buffer === undefined) return
  const r = refs.get(buffer)!
  // Only reachable if someone kept a pooled array past its tensors (not TF.js): take it back out.
  if (r.free) unfree(buffer)
  if (r.n === 0) {
    liveBytes += buffer.byteLength
    if (liveBytes > peakLiveBytes) peakLiveBytes = liveBytes
  }
  r.n++
}

const release = (values: unknown): void => {
  const buffer = pooledBuffer(values)
  if (buffer === undefined) return
  const r = refs.get(buffer)!
  r.n--
  if (r.n === 0) {
    liveBytes -= buffer.byteLength
    putBack(buffer, r)
  }
}

const unfree = (buffer: ArrayBuffer): void => {
  const c = classes.get(buffer.byteLength)
  const i = c?.free.indexOf(buffer) ?? -1
  if (i >= 0) {
    c!.free.splice(i, 1)
    freeBytes -= buffer.byteLength
  }
  refs.get(buffer)!.free = false
}

const putBack = (buffer: ArrayBuffer, r: Refs): void => {
  const bytes = buffer.byteLength
  if (!enabled || bytes > capBytes) return
  while (freeBytes + bytes > capBytes) evictLeastRecent(bytes)
  let c = classes.get(bytes)
  if (c === undefined) {
    c = { free: [], lastUse: 0 }
    classes.set(bytes, c)
  }
  c.free.push(buffer)
  c.lastUse = ++clock
  r.free = true
  freeBytes += bytes
}

/** Drop the free buffers of the least recently used size class other than `keep`'s (to V8's GC). */
const evictLeastRecent = (keep: number): void => {
  let victim: number | undefined
  for (const [bytes, c] of classes) {
    if (bytes === keep && classes.size > 1) continue
    if (victim === undefined || c.lastUse < classes.get(victim)!.lastUse) victim = bytes
  }
  const c = classes.get(victim!)!
  for (const b of c.free) refs.delete(b)
  freeBytes -= c.free.length * victim!
  classes.delete(victim!)
}

/**
 * Count the records of `backend` that view pooled buffers and copy pooled values on read-out
 * (once per backend instance; a new cpu backend after `tf.removeBackend` is hooked on first use).
 */
const install = (backend: PooledBackend): void => {
  hooked.add(backend)
  const storage = backend.data
  const set = storage.set.bind(storage)
  const del = storage.delete.bind(storage)
  storage.set = (id, value) => {
    const old = storage.has(id) ? storage.get(id).values : undefined
    set(id, value)
    acquire(value.values)
    release(old)
  }
  storage.delete = (id) => {
    const old = storage.has(id) ? storage.get(id).values : undefined
    const deleted = del(id)
    release(old)
    return deleted
  }
  const readSync = backend.readSync.bind(backend)
  const bufferSync = backend.bufferSync.bind(backend)
  let inKernel = 0
  backend.readSync = (id) => {
    const values = readSync(id)
    if (inKernel > 0 || pooledBuffer(values) === undefined) return values
    stats.copiedReads++
    return (values as Float32Array).slice()
  }
  backend.bufferSync = (t) => {
    inKernel++
    try {
      return bufferSync(t)
    } finally {
      inKernel--
    }
  }
}

/**
 * A Float32Array (or Int32Array) of `length` elements for a native kernel's output on `backend`,
 * from the pool when one of that size is free, or `undefined` when the pool is off (the addon
 * then allocates). Its old contents are arbitrary: the kernel must write every element.
 */
export function takeOutput(backend: PooledBackend, length: number): Float32Array | undefined
export function takeOutput(backend: PooledBackend, length: number, kind: Int32ArrayConstructor): Int32Array | undefined
export function takeOutput(
  backend: PooledBackend,
  length: number,
  kind: Float32ArrayConstructor | Int32ArrayConstructor = Float32Array
): Float32Array | Int32Array | undefined {
  if (!enabled || length === 0) return undefined
  if (!hooked.has(backend)) install(backend)
  const bytes = length * 4
  const c = classes.get(bytes)
  const reused = c?.free.pop()
  let buffer: ArrayBuffer
  if (reused !== undefined) {
    c!.lastUse = ++clock
    freeBytes -= bytes
    refs.get(reused)!.free = false
    stats.reuses++
    stats.reusedBytes += bytes
    buffer = reused
  } else {
    buffer = new ArrayBuffer(bytes)
    refs.set(buffer, { n: 0, free: false })
    stats.allocations++
    stats.allocatedBytes += bytes
  }
  return new kind(buffer)
}

export const outputPoolStats = (): OutputPoolStats => ({ ...stats, freeBytes, liveBytes, peakLiveBytes })

export const resetOutputPoolStats = (): void => {
  stats = { allocatedBytes: 0, allocations: 0, reusedBytes: 0, reuses: 0, copiedReads: 0 }
  peakLiveBytes = liveBytes
}

/** Drop every free buffer (to V8's GC). Buffers in use return to the pool as usual. */
export const clearOutputPool = (): void => {
  for (const c of classes.values()) for (const b of c.free) refs.delete(b)
  classes.clear()
  freeBytes = 0
}

/**
 * Turn the pool on or off (tests, debugging; the default is `BINGO_NATIVE_POOL`), and optionally
 * set the free-bytes bound. Off: kernels get `undefined` from `takeOutput` and freed buffers are
 * dropped; buffers handed out before stay counted until their tensors go.
 */
export const configureOutputPool = (options: { readonly enabled?: boolean; readonly capMiB?: number }): void => {
  if (options.enabled !== undefined) enabled = options.enabled
  if (options.capMiB !== undefined) capBytes = options.capMiB * 2 ** 20
  if (!enabled) clearOutputPool()
}

export const outputPoolEnabled = (): boolean => enabled
