import * as tf from "@tensorflow/tfjs"

/**
 * `tf.variableGrads(f, varList)` with the same values bit for bit, holding less memory in the
 * backward pass: each tape node's saved tensors and the gradients of its outputs are disposed as
 * soon as the node has passed its gradients on, as PyTorch's autograd frees them. TF.js keeps both
 * until the whole backward pass ends, so its peak is every saved activation plus the gradient of
 * every intermediate (a ResNet-18 step at batch 32: ~290 MiB more than the forward pass left).
 *
 * How: while `f` records, each tape node's gradient function is wrapped so that, after the engine
 * has called the last of its per-input closures, it disposes the node's saved tensors (the tape's
 * own clones) and the gradients it received, except one it handed back unchanged as an input's
 * gradient. TF.js's backprop reads each output gradient only for the node that produced it, in
 * reverse order, so nothing reads them later; what the engine disposes at the end is then already
 * gone (disposing twice is a no-op). The arithmetic is TF.js's own, in its own order.
 *
 * This reaches into the engine's tape (`addTapeNode`, `state.activeTape`): private API of
 * tfjs-core 4.22, pinned by the workspace. Nested inside another gradient (a gradient of a
 * gradient) it falls back to `tf.variableGrads`.
 */
export const variableGrads = (
  f: () => tf.Scalar,
  varList?: Array<tf.Variable>
): { readonly value: tf.Scalar; readonly grads: tf.NamedTensorMap } => {
  const engine = tf.engine() as unknown as TapeEngine
  if (engine.state.gradientDepth > 0 || typeof engine.addTapeNode !== "function") return tf.variableGrads(f, varList)
  const addTapeNode = engine.addTapeNode
  engine.addTapeNode = function (this: TapeEngine, ...args: Array<unknown>) {
    addTapeNode.apply(this, args)
    const tape = this.state.activeTape
    const node = tape?.[tape.length - 1]
    if (node !== undefined) freeAfterUse(node)
  }
  try {
    return tf.variableGrads(f, varList)
  } finally {
    engine.addTapeNode = addTapeNode
  }
}

/** The parts of tfjs-core's Engine and TapeNode used here. */
interface TapeEngine {
  readonly state: { readonly gradientDepth: number; readonly activeTape: Array<TapeNode> | null }
  addTapeNode: (...args: Array<unknown>) => void
}

interface TapeNode {
  readonly inputs: Record<string, tf.Tensor>
  readonly saved?: Array<tf.Tensor>
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>
}

const freeAfterUse = (node: TapeNode): void => {
  const gradient = node.gradient
  if (gradient === undefined) return
  node.gradient = (dys) => {
    const closures = gradient(dys)
    const names = Object.keys(node.inputs)
    const results: Array<tf.Tensor> = []
    let left = names.length
    const done = () => {
      for (const t of node.saved ?? []) t.dispose()
      for (const dy of dys) if (dy !== null && !results.includes(dy)) dy.dispose()
    }
    const wrapped: Record<string, () => tf.Tensor> = { ...closures }
    for (const name of names) {
      const closure = closures[name]
      if (closure === undefined) continue // the engine reports the missing gradient
      wrapped[name] = () => {
        const dx = closure()
        results.push(dx)
        if (--left === 0) done()
        return dx
      }
    }
    return wrapped
  }
}
