import * as tf from "@tensorflow/tfjs"
import { BATCH_NORM_TRAIN, CONV2D, hasNativeKernel, nativeBatchNorm } from "@bingo/native-cpu"
import type { ForwardMode } from "./Network.ts"
import type { BatchNormParams } from "./ParamStore.ts"

/** PyTorch's batch-norm defaults. */
export const BN_MOMENTUM = 0.1
export const BN_EPSILON = 1e-5

/**
 * 2-D convolution with PyTorch-style symmetric zero padding, so stride-2 layers match
 * torchvision weights exactly. Kernel layout HWIO.
 *
 * Computed as im2col + one matMul (patches gathered with slices and a concat). On the pure-JS
 * cpu backend this is far faster than the stock Conv2D kernels, whose backward passes are
 * naive loops (see docs/benchmarks.md); on native backends the stock kernel is used.
 */
export const conv2d = (x: tf.Tensor4D, kernel: tf.Tensor4D, stride: number, padding: number): tf.Tensor4D =>
  nativeConv()
    ? tf.conv2d(x, kernel, stride, [
        [0, 0],
        [padding, padding],
        [padding, padding],
        [0, 0]
      ])
    : useIm2col()
      ? conv2dIm2col(x, kernel, stride, padding)
      : conv2dStock(x, kernel, stride, padding)

/** The JS/wasm backends: cpu's stock conv gradients are naive loops, wasm has no Conv2DBackpropFilter. */
const useIm2col = (): boolean => {
  const backend = tf.getBackend()
  return backend === "cpu" || backend === "wasm"
}

/**
 * The cpu backend with @bingo/native-cpu's oneDNN convolutions registered: the stock op with
 * explicit padding then runs natively, forward and backward.
 */
const nativeConv = (): boolean => hasNativeKernel(CONV2D)

/** `x` with `padding` zeros on each side of its height and width (NHWC); `x` itself for 0. */
const padSpatial = (x: tf.Tensor4D, padding: number): tf.Tensor4D =>
  padding > 0
    ? tf.pad(x, [
        [0, 0],
        [padding, padding],
        [padding, padding],
        [0, 0]
      ])
    : x

/** The stock TF.js convolution with explicit symmetric padding. */
export const conv2dStock = (x: tf.Tensor4D, kernel: tf.Tensor4D, stride: number, padding: number): tf.Tensor4D =>
  tf.tidy(() => {
    const padded = padSpatial(x, padding)
    return tf.conv2d(padded, kernel, stride, "valid")
  })

/**
 * Convolution as im2col + matMul. The patch matrix is built, and its gradient scattered back,
 * by plain loops over the cpu backend's Float32Arrays (a custom gradient), so padding, strides
 * and the backward pass cost one pass over memory each; the heavy work is one matMul.
 */
export const conv2dIm2col = (x: tf.Tensor4D, kernel: tf.Tensor4D, stride: number, padding: number): tf.Tensor4D =>
  tf.tidy(() => {
    const [b, h, w, c] = x.shape
    const [kh, kw, , o] = kernel.shape
    const oh = Math.floor((h + 2 * padding - kh) / stride) + 1
    const ow = Math.floor((w + 2 * padding - kw) / stride) + 1
    const cols =
      kh === 1 && kw === 1 && padding === 0 && stride === 1 ? x.reshape([b * h * w, c]) : im2col(x, { kh, kw, stride, padding, oh, ow })
    return tf.matMul(cols as tf.Tensor2D, kernel.reshape([kh * kw * c, o])).reshape([b, oh, ow, o])
  })

interface PatchGeometry {
  readonly kh: number
  readonly kw: number
  readonly stride: number
  readonly padding: number
  readonly oh: number
  readonly ow: number
}

/**
 * For each output pixel and tap (ky, kx), the input pixel it reads (row-major, per image),
 * or -1 in the padding. Cached per geometry.
 */
const tapSourceCache = new Map<string, Int32Array>()
const tapSources = (h: number, w: number, g: PatchGeometry): Int32Array => {
  const key = `${h},${w},${g.kh},${g.kw},${g.stride},${g.padding}`
  const cached = tapSourceCache.get(key)
  if (cached !== undefined) return cached
  const idx = new Int32Array(g.oh * g.ow * g.kh * g.kw)
  let n = 0
  for (let oy = 0; oy < g.oh; oy++) {
    for (let ox = 0; ox < g.ow; ox++) {
      for (let ky = 0; ky < g.kh; ky++) {
        for (let kx = 0; kx < g.kw; kx++) {
          const iy = oy * g.stride - g.padding + ky
          const ix = ox * g.stride - g.padding + kx
          idx[n++] = iy < 0 || ix < 0 || iy >= h || ix >= w ? -1 : iy * w + ix
        }
      }
    }
  }
  tapSourceCache.set(key, idx)
  return idx
}

/** [B, H, W, C] -> [B * oh * ow, kh * kw * C] patch matrix, with a scatter-add gradient. */
const im2col = (x: tf.Tensor4D, g: PatchGeometry): tf.Tensor2D => {
  const [b, h, w, c] = x.shape
  const src = tapSources(h, w, g)
  const taps = src.length
  const f = tf.customGrad(((input: tf.Tensor, save: tf.GradSaveFunc) => {
    save([])
    const xs = input.dataSync() as Float32Array
    const out = new Float32Array(b * taps * c)
    for (let n = 0; n < b; n++) {
      const xBase = n * h * w * c
      const oBase = n * taps * c
      for (let t = 0; t < taps; t++) {
        const s = src[t]!
        if (s < 0) continue
        const from = xBase + s * c
        out.set(xs.subarray(from, from + c), oBase + t * c)
      }
    }
    return {
      value: tf.tensor2d(out, [b * g.oh * g.ow, g.kh * g.kw * c]),
      gradFunc: (dy: tf.Tensor) => {
        const dys = dy.dataSync() as Float32Array
        const dx = new Float32Array(b * h * w * c)
        for (let n = 0; n < b; n++) {
          const xBase = n * h * w * c
          const oBase = n * taps * c
          for (let t = 0; t < taps; t++) {
            const s = src[t]!
            if (s < 0) continue
            const to = xBase + s * c
            const from = oBase + t * c
            for (let k = 0; k < c; k++) dx[to + k]! += dys[from + k]!
          }
        }
        return tf.tensor4d(dx, [b, h, w, c])
      }
    }
  }) as never)
  return f(x) as tf.Tensor2D
}

/**
 * Depthwise convolution (one filter per channel, channel multiplier 1) with explicit
 * symmetric padding. Kernel [kh, kw, C, 1]. On the cpu and wasm backends it runs as plain
 * loops with a custom gradient: wasm has neither DepthwiseConv2dNativeBackpropInput nor
 * ...BackpropFilter, and cpu's are naive; native backends use the stock kernel.
 */
export const depthwiseConv2d = (x: tf.Tensor4D, kernel: tf.Tensor4D, stride: number, padding: number): tf.Tensor4D =>
  useIm2col() ? depthwiseConv2dLoops(x, kernel, stride, padding) : depthwiseConv2dStock(x, kernel, stride, padding)

/** The stock TF.js depthwise convolution with explicit symmetric padding. */
export const depthwiseConv2dStock = (x: tf.Tensor4D, kernel: tf.Tensor4D, stride: number, padding: number): tf.Tensor4D =>
  tf.tidy(() => {
    const padded = padSpatial(x, padding)
    return tf.depthwiseConv2d(padded, kernel, stride, "valid")
  })

/**
 * Depthwise convolution as loops over the taps of each output pixel (the same cached
 * tap -> input-pixel table as im2col), without materialising the patch matrix. Forward,
 * dX and dW are one pass each over B * oh * ow * kh * kw * C products.
 */
export const depthwiseConv2dLoops = (x: tf.Tensor4D, kernel: tf.Tensor4D, stride: number, padding: number): tf.Tensor4D => {
  const [b, h, w, c] = x.shape
  const [kh, kw, kc, multiplier] = kernel.shape
  if (kc !== c || multiplier !== 1) {
    throw new Error(`depthwiseConv2d: kernel [${kernel.shape.join(", ")}] does not fit ${c} input channels with multiplier 1`)
  }
  const oh = Math.floor((h + 2 * padding - kh) / stride) + 1
  const ow = Math.floor((w + 2 * padding - kw) / stride) + 1
  const src = tapSources(h, w, { kh, kw, stride, padding, oh, ow })
  const taps = kh * kw
  const pixels = oh * ow
  const f = tf.customGrad(((input: tf.Tensor, filter: tf.Tensor, save: tf.GradSaveFunc) => {
    save([])
    const xs = input.dataSync() as Float32Array
    const ws = filter.dataSync() as Float32Array
    const out = new Float32Array(b * pixels * c)
    for (let n = 0; n < b; n++) {
      const xBase = n * h * w
      for (let p = 0; p < pixels; p++) {
        const o = (n * pixels + p) * c
        for (let t = 0; t < taps; t++) {
          const s = src[p * taps + t]!
          if (s < 0) continue
          const i = (xBase + s) * c
          const k = t * c
          for (let ch = 0; ch < c; ch++) out[o + ch]! += xs[i + ch]! * ws[k + ch]!
        }
      }
    }
    return {
      value: tf.tensor4d(out, [b, oh, ow, c]),
      gradFunc: (dy: tf.Tensor) => {
        const dys = dy.dataSync() as Float32Array
        const dx = new Float32Array(b * h * w * c)
        const dw = new Float32Array(taps * c)
        for (let n = 0; n < b; n++) {
          const xBase = n * h * w
          for (let p = 0; p < pixels; p++) {
            const o = (n * pixels + p) * c
            for (let t = 0; t < taps; t++) {
              const s = src[p * taps + t]!
              if (s < 0) continue
              const i = (xBase + s) * c
              const k = t * c
              for (let ch = 0; ch < c; ch++) {
                const g = dys[o + ch]!
                dx[i + ch]! += g * ws[k + ch]!
                dw[k + ch]! += g * xs[i + ch]!
              }
            }
          }
        }
        return [tf.tensor4d(dx, [b, h, w, c]), tf.tensor4d(dw, [kh, kw, c, 1])]
      }
    }
  }) as never)
  return f(x, kernel) as tf.Tensor4D
}

/**
 * Batch norm over all axes but the last. In "train" mode the running statistics are updated
 * as PyTorch does (momentum 0.1, unbiased variance for the running estimate).
 */
export const batchNorm = (x: tf.Tensor, p: BatchNormParams, mode: ForwardMode): tf.Tensor => {
  if (mode === "eval") {
    return tf.batchNorm(x, p.mean, p.variance, p.beta, p.gamma, BN_EPSILON)
  }
  const channels = x.shape[x.shape.length - 1]!
  const count = x.size / channels
  const updateRunning = (mean: tf.Tensor, variance: tf.Tensor) => {
    const unbiased = count > 1 ? variance.mul(count / (count - 1)) : variance
    p.mean.assign(p.mean.mul(1 - BN_MOMENTUM).add(mean.mul(BN_MOMENTUM)))
    p.variance.assign(p.variance.mul(1 - BN_MOMENTUM).add(unbiased.mul(BN_MOMENTUM)))
  }
  // @bingo/native-cpu's one-op batch norm (and its gradient) on the cpu backend: statistics,
  // normalisation and the closed-form gradient as one native op each. It takes x in its own shape
  // ([..., C]): a reshape around it would make the tape save the output as the reshape's input.
  if (hasNativeKernel(BATCH_NORM_TRAIN)) {
    const { y, mean, variance } = nativeBatchNorm(x, p.gamma, p.beta, BN_EPSILON)
    if (mode === "train") updateRunning(mean, variance)
    return y
  }
  const rows = x.reshape([-1, channels]) as tf.Tensor2D
  if (mode === "train") {
    const { mean, variance } = tf.moments(rows, 0)
    updateRunning(mean, variance)
  }
  return batchNormTrain(rows, p.gamma, p.beta).reshape(x.shape)
}

/**
 * Batch norm with batch statistics on [N, C] rows, with the closed-form gradient
 *   dx = gamma / sqrt(var + eps) * (dy - mean(dy) - xhat * mean(dy * xhat)),
 *   dgamma = sum(dy * xhat), dbeta = sum(dy)
 * (Ioffe & Szegedy 2015, Sec. 3). TF.js's own batchNorm gradient tiles the statistics back
 * to the input shape, which dominated training steps on the JS/wasm backends.
 */
export const batchNormTrain = (rows: tf.Tensor2D, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor2D => {
  const f = tf.customGrad(((x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, save: tf.GradSaveFunc) => {
    const { mean, variance } = tf.moments(x, 0)
    const invStd = tf.rsqrt(tf.add(variance, BN_EPSILON))
    const xhat = tf.mul(tf.sub(x, mean), invStd)
    save([xhat, invStd, g])
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy: tf.Tensor2D, saved: Array<tf.Tensor>) => {
        const [xh, inv, gs] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D]
        const dyMean = tf.mean(dy, 0)
        const dyXhatMean = tf.mean(tf.mul(dy, xh), 0)
        const dx = tf.mul(tf.mul(gs, inv), tf.sub(tf.sub(dy, dyMean), tf.mul(xh, dyXhatMean)))
        const n = dy.shape[0]
        return [dx, tf.mul(dyXhatMean, n), tf.mul(dyMean, n)]
      }
    }
  }) as never) as (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor2D
  return f(rows, gamma, beta)
}

/**
 * a + b for two tensors of one shape (a residual connection), with a gradient that saves nothing:
 * dy goes to both inputs, as TF.js's own Add gradient computes it (a reshape of dy to each input's
 * shape). The stock Add gradient saves both inputs only to read their shapes, which keeps a block's
 * last batch-norm output alive until the backward pass (PyTorch's add saves nothing). Other shapes
 * (broadcasts) take `tf.add`.
 */
export const residualAdd = (a: tf.Tensor, b: tf.Tensor): tf.Tensor => {
  if (!tf.util.arraysEqual(a.shape, b.shape) || a.dtype !== "float32" || b.dtype !== "float32") return tf.add(a, b)
  const f = tf.customGrad(((x: tf.Tensor, y: tf.Tensor, save: tf.GradSaveFunc) => {
    save([])
    return {
      value: tf.add(x, y),
      gradFunc: (dy: tf.Tensor) => [tf.reshape(dy, x.shape), tf.reshape(dy, y.shape)]
    }
  }) as never) as (x: tf.Tensor, y: tf.Tensor) => tf.Tensor
  return f(a, b)
}

/** x W + b for a 2-D input. */
export const dense = (x: tf.Tensor2D, p: { readonly weight: tf.Variable; readonly bias: tf.Variable }): tf.Tensor2D =>
  tf.add(tf.matMul(x, p.weight as tf.Tensor2D), p.bias) as tf.Tensor2D

/** Global average pooling NHWC -> NC. */
export const globalAvgPool = (x: tf.Tensor4D): tf.Tensor2D => tf.mean(x, [1, 2]) as tf.Tensor2D

/** Row-wise L2 normalisation with an epsilon (as torch.nn.functional.normalize). */
export const l2Normalize = (x: tf.Tensor2D, eps = 1e-12): tf.Tensor2D =>
  tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, "euclidean", 1, true), eps)) as tf.Tensor2D)
