import * as tf from "@tensorflow/tfjs"
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD, CONV2D, type Kernel, nativeKernelFactories, RELU_GRAD } from "./kernels.ts"
import { chooseThreads, loadNativeAddon } from "./loadAddon.ts"
import { clearOutputPool, outputPoolStats, resetOutputPoolStats } from "./OutputPool.ts"

export interface NativeKernels {
  /** Kernel names now served by the addon on the cpu backend. */
  readonly registered: ReadonlyArray<string>
  readonly threads: number
  /** oneDNN version and how the thread count was chosen, for a log line. */
  readonly description: string
}

/**
 * Marks the kernel functions this package registered (see `nativeKernelsRegistered`). Private to
 * this package: other packages ask `hasNativeKernel` / `nativeKernelsRegistered`. (`Symbol.for`
 * so that two loaded copies of this module still recognise each other's kernels.)
 */
const NATIVE = Symbol.for("@bingo/native-cpu/kernel")

/** The stock kernels replaced by the last registration, to put back. */
let replaced: Map<string, tf.KernelConfig | undefined> | undefined
let current: NativeKernels | undefined

/**
 * Register the native kernels over the cpu backend's stock ones (explicitly: nothing happens
 * at import). Each native kernel hands the cases it does not cover (non-float32 dtypes, NCHW,
 * unusual broadcasts) to the stock kernel it replaced. Also registers `BingoBatchNormTrain`
 * (batch norm with batch statistics as one op) and its gradient.
 *
 * Returns `{ error }` when the addon is not built or cannot load; registers nothing then.
 * Idempotent. `threads` overrides the automatic choice (`BINGO_NATIVE_THREADS`, else free cores).
 */
export const registerNativeKernels = (options: { readonly threads?: number } = {}): NativeKernels | { readonly error: string } => {
  const loaded = loadNativeAddon()
  if ("error" in loaded) return { error: loaded.error }
  const { addon } = loaded
  const choice = options.threads === undefined ? chooseThreads() : { threads: options.threads, why: "requested" }
  const threads = addon.setThreads(choice.threads)
  if (current !== undefined) {
    current = { ...current, threads, description: describe(addon.info().dnnl, threads, choice.why) }
    return current
  }
  replaced = new Map()
  const registered: Array<string> = []
  for (const [name, make] of nativeKernelFactories(addon)) {
    const stock = tf.getKernel(name, "cpu")
    replaced.set(name, stock)
    if (stock !== undefined) tf.unregisterKernel(name, "cpu")
    const kernelFunc = make(stock?.kernelFunc as Kernel | undefined) as tf.KernelFunc
    Object.defineProperty(kernelFunc, NATIVE, { value: true })
    tf.registerKernel({ kernelName: name, backendName: "cpu", kernelFunc })
    registered.push(name)
  }
  if (tf.getGradient(BATCH_NORM_TRAIN) === undefined) tf.registerGradient(batchNormTrainGradient)
  // The ReLU gradient (global in TF.js) uses the fused kernel where it is registered, the stock
  // formula elsewhere; unregisterNativeKernels puts the stock gradient back.
  const reluGradient = tf.getGradient("Relu")
  if (reluGradient !== undefined && stockReluGradient === undefined) {
    stockReluGradient = reluGradient
    tf.registerGradient(fusedReluGradient(reluGradient))
  }
  current = { registered, threads, description: describe(addon.info().dnnl, threads, choice.why) }
  return current
}

/** Threads the registered native kernels run on (oneDNN and the element-wise loops); undefined when not registered. */
export const nativeKernelThreads = (): number | undefined => current?.threads

const describe = (dnnl: string, threads: number, why: string) => `oneDNN ${dnnl}, ${threads} thread${threads === 1 ? "" : "s"} (${why})`

/** Put the stock cpu kernels back (the `cpu` backend choice, and tests). */
export const unregisterNativeKernels = (): void => {
  if (replaced === undefined) return
  for (const [name, stock] of replaced) {
    if (tf.getKernel(name, "cpu") !== undefined) tf.unregisterKernel(name, "cpu")
    if (stock !== undefined) tf.registerKernel(stock)
  }
  replaced = undefined
  current = undefined
  clearOutputPool()
  if (stockReluGradient !== undefined) tf.registerGradient(stockReluGradient)
  stockReluGradient = undefined
}

let stockReluGradient: tf.GradConfig | undefined

/**
 * The ReLU gradient from the op's output y = max(x, 0) rather than its input (the stock gradient
 * saves x): y > 0 exactly where x > 0, and y is NaN exactly where x is, so dy * step(y) is
 * dy * step(x) bit for bit. Saving y lets the tape drop x (a batch-norm output, or a residual sum)
 * as soon as the forward pass has moved on, as PyTorch's in-place ReLU does; y is kept anyway by
 * the layer that reads it next.
 */
const fusedReluGradient = (stock: tf.GradConfig): tf.GradConfig => ({
  kernelName: "Relu",
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [y] = saved as [tf.Tensor]
    const d = dy as tf.Tensor
    if (y.dtype === "float32" && d.dtype === "float32" && tf.getKernel(RELU_GRAD, tf.getBackend()) !== undefined) {
      return { x: () => tf.engine().runKernel(RELU_GRAD, { dy: d, x: y }, {}) as tf.Tensor }
    }
    return stock.gradFunc(dy, saved, attrs)
  }
})

/** Whether the cpu backend's `kernelName` (Conv2D by default) is currently this package's native kernel. */
export const nativeKernelsRegistered = (kernelName: string = CONV2D): boolean =>
  (tf.getKernel(kernelName, "cpu")?.kernelFunc as unknown as Record<symbol, unknown> | undefined)?.[NATIVE] === true

/**
 * Whether `kernelName` (`CONV2D`, `BATCH_NORM_TRAIN`, ...) runs natively on the current backend:
 * the backend is cpu and its kernel of that name is this package's. False where the addon is not
 * built or not registered, and on every other backend. What `@bingo/backbones` asks before
 * choosing a code path.
 */
export const hasNativeKernel = (kernelName: string): boolean => tf.getBackend() === "cpu" && nativeKernelsRegistered(kernelName)

const batchNormTrainGradient: tf.GradConfig = {
  kernelName: BATCH_NORM_TRAIN,
  inputsToSave: ["x", "gamma"],
  outputsToSave: [false, true, false, true],
  gradFunc: (dys, saved) => {
    const [dy] = dys as Array<tf.Tensor>
    const [x, gamma, mean, invStd] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]
    // One kernel gives all three; computed here because each closure runs in its own tidy.
    const [dx, dgamma, dbeta] = tf.engine().runKernel(BATCH_NORM_TRAIN_GRAD, { dy: dy!, x, gamma, mean, invStd }, {}) as Array<tf.Tensor>
    return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! }
  }
}

/**
 * Batch norm over all axes but the last with batch statistics, as one native op with a
 * closed-form gradient (dx, dgamma, dbeta). Returns y and the batch mean and biased variance
 * (for running statistics). Only where `registerNativeKernels()` succeeded.
 */
export const nativeBatchNorm = (
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number
): { readonly y: tf.Tensor; readonly mean: tf.Tensor; readonly variance: tf.Tensor } => {
  const [y, mean, variance] = tf.engine().runKernel(BATCH_NORM_TRAIN, { x, gamma, beta }, { epsilon }) as Array<tf.Tensor>
  return { y: y!, mean: mean!, variance: variance! }
}

/** Output memory of the native kernels since the last {@link resetNativeAllocationStats}. */
export interface NativeAllocationStats {
  /** Bytes of new output buffers: the pool's new ones plus what the addon allocated itself. */
  readonly allocatedBytes: number
  readonly allocations: number
  /** Bytes of outputs served from the pool. */
  readonly reusedBytes: number
  /** Bytes waiting in the pool. */
  readonly freeBytes: number
  /** The most bytes of pooled buffers holding tensor values at once. */
  readonly peakLiveBytes: number
  /** Read-outs of pooled values that were copied (`dataSync()` and the like). */
  readonly copiedReads: number
}

let addonBaseline = { bytes: 0, buffers: 0 }

const addonAllocations = (): { readonly bytes: number; readonly buffers: number } => {
  const loaded = loadNativeAddon()
  return "error" in loaded ? { bytes: 0, buffers: 0 } : loaded.addon.allocStats()
}

/**
 * What the native kernels allocated for their outputs (deterministic, unlike times: a measure of
 * the output pool that a busy machine does not disturb). With the pool on, a training step that
 * repeats its shapes allocates ~0 once warm; with it off, every output is new.
 */
export const nativeAllocationStats = (): NativeAllocationStats => {
  const pool = outputPoolStats()
  const addon = addonAllocations()
  return {
    allocatedBytes: pool.allocatedBytes + addon.bytes - addonBaseline.bytes,
    allocations: pool.allocations + addon.buffers - addonBaseline.buffers,
    reusedBytes: pool.reusedBytes,
    freeBytes: pool.freeBytes,
    peakLiveBytes: pool.peakLiveBytes,
    copiedReads: pool.copiedReads
  }
}

export const resetNativeAllocationStats = (): void => {
  resetOutputPoolStats()
  addonBaseline = addonAllocations()
}
