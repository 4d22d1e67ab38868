import * as tf from "@tensorflow/tfjs"

export interface SgdOptions {
  readonly momentum: number
  readonly weightDecay: number
  /** Use Nesterov momentum (off in the BINGO / MoCo reference). */
  readonly nesterov?: boolean
}

/**
 * SGD with momentum and L2 weight decay, with PyTorch's update rule (the one the BINGO and
 * MoCo references use):  g <- g + wd * w;  buf <- momentum * buf + g;  w <- w - lr * buf.
 * (tf.train.momentum has no weight decay and scales differently.) The momentum buffers are
 * owned here, named after their variables, and exported/imported for checkpoints.
 */
export class Sgd {
  private readonly buffers = new Map<string, tf.Variable>()

  constructor(readonly options: SgdOptions) {}

  /** Apply one update with the gradients of `variables` (keys = logical names). */
  step(grads: ReadonlyMap<string, tf.Tensor>, variables: ReadonlyMap<string, tf.Variable>, lr: number): void {
    const { momentum, weightDecay, nesterov = false } = this.options
    tf.tidy(() => {
      for (const [name, g0] of grads) {
        const w = variables.get(name)
        if (w === undefined) throw new Error(`Sgd.step: no variable named '${name}'`)
        const g = weightDecay > 0 ? tf.add(g0, tf.mul(w, weightDecay)) : g0
        let buf = this.buffers.get(name)
        if (buf === undefined) {
          buf = tf.variable(g, false)
          this.buffers.set(name, buf)
        } else {
          buf.assign(tf.add(tf.mul(buf, momentum), g))
        }
        const update = nesterov ? tf.add(g, tf.mul(buf, momentum)) : buf
        w.assign(tf.sub(w, tf.mul(update, lr)))
      }
    })
  }

  /** Momentum buffers, for checkpoints. */
  state(): ReadonlyMap<string, tf.Variable> {
    return this.buffers
  }

  /** Restore momentum buffers saved by `state()`. */
  restore(buffers: ReadonlyMap<string, { readonly shape: ReadonlyArray<number>; readonly data: Float32Array }>): void {
    this.dispose()
    for (const [name, b] of buffers)
      this.buffers.set(
        name,
        tf.tidy(() => tf.variable(tf.tensor(b.data, [...b.shape]), false))
      )
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.dispose()
    this.buffers.clear()
  }
}
