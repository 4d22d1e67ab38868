import * as tf from "@tensorflow/tfjs"
import type { ForwardMode, LayerOp, Network } from "./Network.ts"
import type { BatchNormParams } from "./ParamStore.ts"
import { batchNorm, conv2d, dense, depthwiseConv2d, globalAvgPool, residualAdd } from "./ops.ts"

type Step = (x: tf.Tensor, mode: ForwardMode) => tf.Tensor

/**
 * Turn a network graph into its forward function. Every parameter name is looked up once,
 * here, so a graph that names a missing parameter fails when the network is built.
 * The returned function does not `tidy`; callers (the networks' `apply`) do.
 *
 * Each layer runs in its own `tidy`, and a layer's input is disposed as soon as the next layer
 * has consumed it (never the pass's own input), as PyTorch frees an activation once no one needs
 * it: a forward pass then holds a few activations at a time, not all of them until the caller's
 * `tidy` ends (2 GB for a ResNet-18 at batch 256). This is safe under a gradient tape too: what a
 * gradient needs, the tape keeps as its own clones (TF.js's saved tensors), and a disposed
 * tensor's id and shape, all the tape reads of the rest, stay. Values are the same bit for bit;
 * only when memory is given back changes.
 */
export const compileGraph = (
  graph: ReadonlyArray<LayerOp>,
  params: ReadonlyMap<string, tf.Variable>
): ((x: tf.Tensor, mode: ForwardMode) => tf.Tensor) => {
  const get = (name: string): tf.Variable => {
    const v = params.get(name)
    if (v === undefined) throw new Error(`compileGraph: graph names parameter '${name}', which the network does not have`)
    return v
  }
  const compile = (ops: ReadonlyArray<LayerOp>): Step => {
    const steps = ops.map((op): Step => {
      switch (op.op) {
        case "conv2d": {
          const k = get(op.weight) as tf.Tensor4D
          return (x) => conv2d(x as tf.Tensor4D, k, op.stride, op.padding)
        }
        case "depthwiseConv2d": {
          const k = get(op.weight) as tf.Tensor4D
          return (x) => depthwiseConv2d(x as tf.Tensor4D, k, op.stride, op.padding)
        }
        case "batchNorm": {
          const p: BatchNormParams = {
            gamma: get(`${op.name}.weight`),
            beta: get(`${op.name}.bias`),
            mean: get(`${op.name}.running_mean`),
            variance: get(`${op.name}.running_var`)
          }
          return (x, mode) => batchNorm(x, p, mode)
        }
        case "relu":
          return (x) => tf.relu(x)
        case "relu6":
          return (x) => tf.relu6(x)
        case "maxPool": {
          const pad = op.padding
          return (x) =>
            tf.maxPool(
              (pad > 0
                ? tf.pad(
                    x,
                    [
                      [0, 0],
                      [pad, pad],
                      [pad, pad],
                      [0, 0]
                    ],
                    -Infinity
                  )
                : x) as tf.Tensor4D,
              op.size,
              op.stride,
              "valid"
            )
        }
        case "residual": {
          const body = compile(op.body)
          const shortcut = op.shortcut.length === 0 ? undefined : compile(op.shortcut)
          return (x, mode) => residualAdd(body(x, mode), shortcut === undefined ? x : shortcut(x, mode))
        }
        case "globalAvgPool":
          return (x) => globalAvgPool(x as tf.Tensor4D)
        case "flatten":
          return (x) => (x.rank === 2 ? x : x.reshape([x.shape[0]!, -1]))
        case "dense": {
          const p = { weight: get(`${op.name}.weight`), bias: get(`${op.name}.bias`) }
          return (x) => dense(x as tf.Tensor2D, p)
        }
      }
    })
    return (x, mode) => {
      let h = x
      for (const step of steps) {
        const next = tf.tidy(() => step(h, mode))
        if (h !== x && next !== h) h.dispose()
        h = next
      }
      return h
    }
  }
  return compile(graph)
}

/**
 * A network whose forward pass is its graph: `compileGraph` once, `apply` runs it in a `tidy`.
 * How every built-in backbone and head is assembled.
 */
export const graphNetwork = (
  name: string,
  outputDim: number,
  params: ReadonlyMap<string, tf.Variable>,
  graph: ReadonlyArray<LayerOp>
): Network => {
  const forward = compileGraph(graph, params)
  return { name, outputDim, params, graph, apply: (x, mode) => tf.tidy(() => forward(x, mode) as tf.Tensor2D) }
}
