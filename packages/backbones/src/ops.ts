import * as tf from "@tensorflow/tfjs"
import type { ForwardMode } from "./Network.ts"
import type { BatchNormParams } from "./ParamStore.ts"

/** PyTorch's batch-norm defaults. */
export const BN_MOMENTUM = 0.1
export const BN_EPSILON = 1e-5

/**
 * 2-D convolution with PyTorch-style symmetric zero padding (explicit pad + 'valid'), so
 * stride-2 layers match torchvision weights exactly. Kernel layout HWIO.
 */
export const conv2d = (x: tf.Tensor4D, kernel: tf.Tensor4D, stride: number, padding: number): tf.Tensor4D => {
  const padded = padding > 0 ? tf.pad(x, [[0, 0], [padding, padding], [padding, padding], [0, 0]]) : x
  return tf.conv2d(padded, kernel, stride, "valid")
}

/** Depthwise convolution with explicit symmetric padding. Kernel [kh, kw, in, 1]. */
export const depthwiseConv2d = (x: tf.Tensor4D, kernel: tf.Tensor4D, stride: number, padding: number): tf.Tensor4D => {
  const padded = padding > 0 ? tf.pad(x, [[0, 0], [padding, padding], [padding, padding], [0, 0]]) : x
  return tf.depthwiseConv2d(padded, kernel, stride, "valid")
}

/**
 * Batch norm over all axes but the last. In "train" mode the running statistics are updated
 * as PyTorch does (momentum 0.1, unbiased variance for the running estimate).
 */
export const batchNorm = (x: tf.Tensor, p: BatchNormParams, mode: ForwardMode): tf.Tensor => {
  if (mode === "eval") {
    return tf.batchNorm(x, p.mean, p.variance, p.beta, p.gamma, BN_EPSILON)
  }
  const axes = x.shape.slice(0, -1).map((_, i) => i)
  const { mean, variance } = tf.moments(x, axes)
  if (mode === "train") {
    const count = x.size / x.shape[x.shape.length - 1]!
    const unbiased = count > 1 ? variance.mul(count / (count - 1)) : variance
    p.mean.assign(p.mean.mul(1 - BN_MOMENTUM).add(mean.mul(BN_MOMENTUM)))
    p.variance.assign(p.variance.mul(1 - BN_MOMENTUM).add(unbiased.mul(BN_MOMENTUM)))
  }
  return tf.batchNorm(x, mean, variance, p.beta, p.gamma, BN_EPSILON)
}

/** x W + b for a 2-D input. */
export const dense = (x: tf.Tensor2D, p: { readonly weight: tf.Variable; readonly bias: tf.Variable }): tf.Tensor2D =>
  tf.add(tf.matMul(x, p.weight as tf.Tensor2D), p.bias) as tf.Tensor2D

/** Global average pooling NHWC -> NC. */
export const globalAvgPool = (x: tf.Tensor4D): tf.Tensor2D => tf.mean(x, [1, 2]) as tf.Tensor2D

/** Row-wise L2 normalisation with an epsilon (as torch.nn.functional.normalize). */
export const l2Normalize = (x: tf.Tensor2D, eps = 1e-12): tf.Tensor2D =>
  tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, "euclidean", 1, true), eps)) as tf.Tensor2D)
