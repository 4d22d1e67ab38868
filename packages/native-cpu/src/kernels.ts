import * as tf from "@tensorflow/tfjs"
import type { NativeAddon } from "./loadAddon.ts"
import { type PooledBackend, takeOutput } from "./OutputPool.ts"

/** What a cpu-backend kernel receives (tfjs-core's KernelFunc parameters). */
interface KernelArgs {
  readonly inputs: Record<string, tf.TensorInfo>
  readonly backend: CpuBackend
  readonly attrs?: Record<string, unknown>
}
type Kernel = (args: KernelArgs) => tf.TensorInfo | Array<tf.TensorInfo>

/** The parts of tfjs-backend-cpu's MathBackendCPU the kernels use. */
interface CpuBackend extends PooledBackend {
  makeTensorInfo: (shape: ReadonlyArray<number>, dtype: tf.DataType, values?: Float32Array | Int32Array) => tf.TensorInfo
}

/** The float32 values of a tensor on the cpu backend (no copy), or undefined if not float32. */
const f32 = (backend: CpuBackend, t: tf.TensorInfo | undefined): Float32Array | undefined => {
  if (t === undefined || t.dtype !== "float32") return undefined
  const v = backend.data.get(t.dataId).values
  return v instanceof Float32Array ? v : undefined
}

const size = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1)

/** A kernel's output of `length` float32 elements, from the pool (src/OutputPool.ts) or, with the pool off, undefined (the addon allocates). */
const out = (backend: CpuBackend, length: number): Float32Array | undefined => takeOutput(backend, length)

/**
 * A native kernel: `run` returns undefined for the cases it does not cover (other dtypes,
 * layouts, ranks), which then go to the stock kernel `fallback`.
 */
const withFallback =
  (run: (args: KernelArgs) => tf.TensorInfo | Array<tf.TensorInfo> | undefined, fallback: Kernel | undefined): Kernel =>
  (args) => {
    const out = run(args)
    if (out !== undefined) return out
    if (fallback === undefined) throw new Error("native-cpu: no stock kernel to fall back to")
    return fallback(args)
  }

/** TF.js kernel name -> op code of the addon's binary(). */
export const binaryOps = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, SquaredDifference: 4, Maximum: 5, Minimum: 6 } as const
/** TF.js kernel name -> op code of the addon's unary(). */
export const unaryOps = { Relu: 0, Step: 1, Square: 2, Neg: 3, Sqrt: 4, Rsqrt: 5, Exp: 6, Log: 7, Abs: 8, Relu6: 9 } as const
/** TF.js kernel name -> op code of the addon's reduce(). */
export const reduceOps = { Sum: 0, Mean: 1, Max: 2, Min: 3 } as const

const binary =
  (addon: NativeAddon, op: number) =>
  ({ inputs, backend }: KernelArgs): tf.TensorInfo | undefined => {
    const { a, b } = inputs
    const av = f32(backend, a),
      bv = f32(backend, b)
    if (av === undefined || bv === undefined) return undefined
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a!.shape, b!.shape)
    const pad = (s: ReadonlyArray<number>) => [...new Array<number>(outShape.length - s.length).fill(1), ...s]
    const y = addon.binary(op, av, pad(a!.shape), bv, pad(b!.shape), outShape, out(backend, size(outShape)))
    return backend.makeTensorInfo(outShape, "float32", y)
  }

const unary =
  (addon: NativeAddon, op: number) =>
  ({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo | undefined => {
    const x = inputs.x
    const xv = f32(backend, x)
    if (xv === undefined) return undefined
    const alpha = typeof attrs?.alpha === "number" ? attrs.alpha : 0
    return backend.makeTensorInfo(x!.shape, "float32", addon.unary(op, xv, alpha, out(backend, xv.length)))
  }

/** Sum/Mean/Max/Min over one contiguous run of axes, viewed as [outer, size, inner]. */
const reduce =
  (addon: NativeAddon, op: number) =>
  ({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo | undefined => {
    const x = inputs.x
    const xv = f32(backend, x)
    if (xv === undefined || x!.shape.length === 0) return undefined
    const shape = x!.shape
    // Sum/Mean/Min name the attribute axis, Max reductionIndices.
    const axis = attrs?.axis !== undefined ? attrs.axis : attrs?.reductionIndices
    const axes = [...tf.util.parseAxisParam((axis ?? null) as number | Array<number>, shape)].sort((p, q) => p - q)
    if (axes.length === 0) return undefined
    for (let i = 1; i < axes.length; i++) if (axes[i] !== axes[i - 1]! + 1) return undefined
    const first = axes[0]!,
      last = axes[axes.length - 1]!
    const outer = size(shape.slice(0, first)),
      reduced = size(shape.slice(first, last + 1)),
      inner = size(shape.slice(last + 1))
    if (reduced === 0) return undefined
    const keepDims = attrs?.keepDims === true
    const outShape = keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i))
    return backend.makeTensorInfo(outShape, "float32", addon.reduce(op, xv, outer, reduced, inner, out(backend, outer * inner)))
  }

const tile =
  (addon: NativeAddon) =>
  ({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo | undefined => {
    const x = inputs.x
    const xv = f32(backend, x)
    const reps = attrs?.reps as ReadonlyArray<number> | undefined
    if (xv === undefined || reps === undefined || reps.length !== x!.shape.length) return undefined
    const outShape = x!.shape.map((d, i) => d * reps[i]!)
    return backend.makeTensorInfo(outShape, "float32", addon.tile(xv, x!.shape, reps, out(backend, size(outShape))))
  }

const matMul =
  (addon: NativeAddon) =>
  ({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo | undefined => {
    const { a, b } = inputs
    const av = f32(backend, a),
      bv = f32(backend, b)
    if (av === undefined || bv === undefined || a!.shape.length < 2 || b!.shape.length < 2) return undefined
    const ta = attrs?.transposeA === true,
      tb = attrs?.transposeB === true
    const ar = a!.shape.length,
      br = b!.shape.length
    const m = ta ? a!.shape[ar - 1]! : a!.shape[ar - 2]!
    const k = ta ? a!.shape[ar - 2]! : a!.shape[ar - 1]!
    const n = tb ? b!.shape[br - 2]! : b!.shape[br - 1]!
    const kb = tb ? b!.shape[br - 1]! : b!.shape[br - 2]!
    if (k !== kb) return undefined // the stock kernel throws the proper error
    const batchShapeA = a!.shape.slice(0, -2),
      batchShapeB = b!.shape.slice(0, -2)
    const batchA = size(batchShapeA),
      batchB = size(batchShapeB)
    if (batchA !== batchB && batchA !== 1 && batchB !== 1) return undefined
    if (batchA === batchB && batchA !== 1 && batchShapeA.join() !== batchShapeB.join()) return undefined
    const batchShape = tf.backend_util.assertAndGetBroadcastShape(batchShapeA, batchShapeB)
    const outShape = [...batchShape, m, n]
    const y = addon.matmul(av, bv, batchA, batchB, m, k, n, ta, tb, out(backend, size(outShape)))
    return backend.makeTensorInfo(outShape, "float32", y)
  }

interface ConvInfoLike {
  readonly batchSize: number
  readonly inHeight: number
  readonly inWidth: number
  readonly inChannels: number
  readonly outHeight: number
  readonly outWidth: number
  readonly outChannels: number
  readonly filterHeight: number
  readonly filterWidth: number
  readonly strideHeight: number
  readonly strideWidth: number
  readonly dilationHeight: number
  readonly dilationWidth: number
  readonly padInfo: { readonly top: number; readonly left: number; readonly bottom: number; readonly right: number }
}

/** The addon's 17-number convolution geometry (padRight/padBottom may exceed what is read). */
export const convGeometry = (c: ConvInfoLike): Array<number> => [
  c.batchSize,
  c.inHeight,
  c.inWidth,
  c.inChannels,
  c.filterHeight,
  c.filterWidth,
  c.outChannels,
  c.outHeight,
  c.outWidth,
  c.strideHeight,
  c.strideWidth,
  c.dilationHeight,
  c.dilationWidth,
  c.padInfo.top,
  c.padInfo.left,
  // oneDNN wants the right/bottom padding the output actually reads.
  Math.max(0, (c.outHeight - 1) * c.strideHeight + (c.filterHeight - 1) * c.dilationHeight + 1 - c.inHeight - c.padInfo.top),
  Math.max(0, (c.outWidth - 1) * c.strideWidth + (c.filterWidth - 1) * c.dilationWidth + 1 - c.inWidth - c.padInfo.left)
]

const isNhwc = (attrs: Record<string, unknown> | undefined) =>
  attrs?.dataFormat === undefined || attrs.dataFormat === "NHWC" || attrs.dataFormat === "channelsLast"

const computeConvInfo = (
  xShape: ReadonlyArray<number>,
  filterShape: ReadonlyArray<number>,
  attrs: Record<string, unknown>,
  dilations: unknown
): ConvInfoLike =>
  tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number],
    dilations as [number, number],
    attrs.pad as "same",
    attrs.dimRoundingMode as "floor",
    false,
    "channelsLast"
  ) as unknown as ConvInfoLike

const conv2d =
  (addon: NativeAddon) =>
  ({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo | undefined => {
    const { x, filter } = inputs
    const xv = f32(backend, x),
      wv = f32(backend, filter)
    if (xv === undefined || wv === undefined || !isNhwc(attrs) || x!.shape.length !== 4) return undefined
    const info = computeConvInfo(x!.shape, filter!.shape, attrs!, attrs!.dilations ?? 1)
    const outShape = [info.batchSize, info.outHeight, info.outWidth, info.outChannels]
    const y = addon.conv(0, xv, wv, convGeometry(info), out(backend, size(outShape)))
    return backend.makeTensorInfo(outShape, "float32", y)
  }

const conv2dBackpropInput =
  (addon: NativeAddon) =>
  ({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo | undefined => {
    const { dy, filter } = inputs
    const dyv = f32(backend, dy),
      wv = f32(backend, filter)
    const inputShape = attrs?.inputShape as ReadonlyArray<number> | undefined
    if (dyv === undefined || wv === undefined || !isNhwc(attrs) || inputShape?.length !== 4) return undefined
    const info = computeConvInfo(inputShape, filter!.shape, attrs!, 1)
    const dx = addon.conv(1, dyv, wv, convGeometry(info), out(backend, size(inputShape)))
    return backend.makeTensorInfo(inputShape, "float32", dx)
  }

const conv2dBackpropFilter =
  (addon: NativeAddon) =>
  ({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo | undefined => {
    const { x, dy } = inputs
    const xv = f32(backend, x),
      dyv = f32(backend, dy)
    const filterShape = attrs?.filterShape as ReadonlyArray<number> | undefined
    if (xv === undefined || dyv === undefined || !isNhwc(attrs) || filterShape?.length !== 4) return undefined
    const info = computeConvInfo(x!.shape, filterShape, attrs!, 1)
    const dw = addon.conv(2, xv, dyv, convGeometry(info), out(backend, size(filterShape)))
    return backend.makeTensorInfo(filterShape, "float32", dw)
  }

/** Channel count of a batch-norm parameter that is a per-channel vector (or a scalar), else undefined. */
const perChannel = (t: tf.TensorInfo | undefined, channels: number): boolean =>
  t === undefined || size(t.shape) === 1 || (size(t.shape) === channels && t.shape[t.shape.length - 1] === channels)

/** TF.js FusedBatchNorm (tf.batchNorm) with per-channel statistics. */
const fusedBatchNorm =
  (addon: NativeAddon) =>
  ({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo | undefined => {
    const { x, mean, variance, offset, scale } = inputs
    const xv = f32(backend, x),
      mv = f32(backend, mean),
      vv = f32(backend, variance)
    if (xv === undefined || mv === undefined || vv === undefined || x!.shape.length === 0) return undefined
    const channels = x!.shape[x!.shape.length - 1]!
    if (![mean, variance, offset, scale].every((t) => perChannel(t, channels))) return undefined
    const ov = offset === undefined ? null : (f32(backend, offset) ?? undefined)
    const sv = scale === undefined ? null : (f32(backend, scale) ?? undefined)
    if (ov === undefined || sv === undefined) return undefined
    const eps = typeof attrs?.varianceEpsilon === "number" ? attrs.varianceEpsilon : 0.001
    const y = addon.batchNormInfer(xv, mv, vv, ov, sv, size(x!.shape) / channels, channels, eps, out(backend, xv.length))
    return backend.makeTensorInfo(x!.shape, "float32", y)
  }

/**
 * TF.js's convolution kernel, which `registerNativeKernels` replaces on the cpu backend with
 * oneDNN's (with its two gradients): `hasNativeKernel(CONV2D)` says the stock op runs natively.
 */
export const CONV2D = "Conv2D"

/** Name of the training-mode batch-norm kernel (batch statistics), see `nativeBatchNorm`. */
export const BATCH_NORM_TRAIN = "BingoBatchNormTrain"
/** Its gradient kernel. */
export const BATCH_NORM_TRAIN_GRAD = "BingoBatchNormTrainGrad"

/** x [..., C], gamma [C], beta [C] -> [y, mean, variance (biased), 1/sqrt(variance + eps)]. */
const batchNormTrain =
  (addon: NativeAddon) =>
  ({ inputs, backend, attrs }: KernelArgs): Array<tf.TensorInfo> | undefined => {
    const { x, gamma, beta } = inputs
    const xv = f32(backend, x),
      gv = f32(backend, gamma),
      bv = f32(backend, beta)
    if (xv === undefined || gv === undefined || bv === undefined) return undefined
    const channels = x!.shape[x!.shape.length - 1]!
    const eps = attrs?.epsilon as number
    const outs = [out(backend, xv.length), out(backend, channels), out(backend, channels), out(backend, channels)]
    const [y, mean, variance, invStd] = addon.batchNormTrain(xv, gv, bv, size(x!.shape) / channels, channels, eps, outs)
    return [
      backend.makeTensorInfo(x!.shape, "float32", y),
      backend.makeTensorInfo([channels], "float32", mean),
      backend.makeTensorInfo([channels], "float32", variance),
      backend.makeTensorInfo([channels], "float32", invStd)
    ]
  }

/** dy, x, gamma, mean, invStd -> [dx, dgamma, dbeta]. */
const batchNormTrainGrad =
  (addon: NativeAddon) =>
  ({ inputs, backend }: KernelArgs): Array<tf.TensorInfo> | undefined => {
    const { dy, x, gamma, mean, invStd } = inputs
    const vals = [dy, x, gamma, mean, invStd].map((t) => f32(backend, t))
    if (vals.some((v) => v === undefined)) return undefined
    const channels = x!.shape[x!.shape.length - 1]!
    const outs = [out(backend, vals[1]!.length), out(backend, channels), out(backend, channels)]
    const [dx, dg, db] = addon.batchNormGrad(vals[0]!, vals[1]!, vals[2]!, vals[3]!, vals[4]!, size(x!.shape) / channels, channels, outs)
    return [
      backend.makeTensorInfo(x!.shape, "float32", dx),
      backend.makeTensorInfo(gamma!.shape, "float32", dg),
      backend.makeTensorInfo(gamma!.shape, "float32", db)
    ]
  }

/** TopK over the last axis for small k (kNN bag mining); a tensor containing NaN goes to the stock kernel. */
const topK =
  (addon: NativeAddon) =>
  ({ inputs, backend, attrs }: KernelArgs): Array<tf.TensorInfo> | undefined => {
    const x = inputs.x
    const xv = f32(backend, x)
    const k = attrs?.k as number
    if (xv === undefined || x!.shape.length === 0 || attrs?.sorted === false || !(k >= 1 && k <= 64)) return undefined
    const cols = x!.shape[x!.shape.length - 1]!
    if (k > cols) return undefined
    const rows = xv.length / cols
    const outs = [out(backend, rows * k), takeOutput(backend, rows * k, Int32Array)] as const
    // the addon notes NaN in the same pass; x with NaN goes to the stock kernel (its order for NaN)
    const [values, indices, hasNaN] = addon.topk(xv, rows, cols, k, outs)
    if (hasNaN) return undefined
    const shape = [...x!.shape.slice(0, -1), k]
    return [backend.makeTensorInfo(shape, "float32", values), backend.makeTensorInfo(shape, "int32", indices)]
  }

/** Name of the fused ReLU gradient kernel (dy where x > 0): one pass instead of Step + Multiply. */
export const RELU_GRAD = "BingoReluGrad"

const reluGrad =
  (addon: NativeAddon) =>
  ({ inputs, backend }: KernelArgs): tf.TensorInfo | undefined => {
    const { dy, x } = inputs
    const dyv = f32(backend, dy),
      xv = f32(backend, x)
    if (dyv === undefined || xv === undefined || dyv.length !== xv.length) return undefined
    return backend.makeTensorInfo(x!.shape, "float32", addon.reluGrad(dyv, xv, out(backend, xv.length)))
  }

/** Every native kernel: name -> factory (given the addon and the stock kernel it replaces). */
export const nativeKernelFactories = (addon: NativeAddon): ReadonlyArray<readonly [string, (fallback: Kernel | undefined) => Kernel]> => [
  ["BatchMatMul", (fb) => withFallback(matMul(addon), fb)],
  [CONV2D, (fb) => withFallback(conv2d(addon), fb)],
  ["Conv2DBackpropInput", (fb) => withFallback(conv2dBackpropInput(addon), fb)],
  ["Conv2DBackpropFilter", (fb) => withFallback(conv2dBackpropFilter(addon), fb)],
  ["FusedBatchNorm", (fb) => withFallback(fusedBatchNorm(addon), fb)],
  ["Tile", (fb) => withFallback(tile(addon), fb)],
  ["TopK", (fb) => withFallback(topK(addon), fb)],
  ...Object.entries(binaryOps).map(([name, op]) => [name, (fb: Kernel | undefined) => withFallback(binary(addon, op), fb)] as const),
  ...Object.entries(unaryOps).map(([name, op]) => [name, (fb: Kernel | undefined) => withFallback(unary(addon, op), fb)] as const),
  ...Object.entries(reduceOps).map(([name, op]) => [name, (fb: Kernel | undefined) => withFallback(reduce(addon, op), fb)] as const),
  [RELU_GRAD, (fb) => withFallback(reluGrad(addon), fb)],
  [BATCH_NORM_TRAIN, (fb) => withFallback(batchNormTrain(addon), fb)],
  [BATCH_NORM_TRAIN_GRAD, (fb) => withFallback(batchNormTrainGrad(addon), fb)]
]

export type { Kernel }
