import * as tf from "@tensorflow/tfjs"
import type { Rng } from "@bingo/runtime"

/**
 * A FIFO of L2-normalised embeddings [size, dim]: MoCo's queue of negatives and BINGO's queue of
 * teacher anchor keys. Initialised with random unit vectors; `enqueue` overwrites the oldest
 * rows (ring buffer, like the reference's `queue[:, ptr:ptr + B] = keys`). It is training
 * state: the trainer owns it and checkpoints `values()` and `pointer`.
 */
export class EmbeddingQueue {
  private queue: tf.Variable
  private ptr = 0

  private constructor(queue: tf.Variable) {
    this.queue = queue
  }

  static random(size: number, dim: number, rng: Rng): EmbeddingQueue {
    const v = new Float32Array(size * dim)
    for (let i = 0; i < size; i++) {
      let norm = 0
      for (let j = 0; j < dim; j++) {
        const x = rng.normal()
        v[i * dim + j] = x
        norm += x * x
      }
      norm = Math.sqrt(norm)
      for (let j = 0; j < dim; j++) v[i * dim + j]! /= norm
    }
    return new EmbeddingQueue(tf.tidy(() => tf.variable(tf.tensor2d(v, [size, dim]), false)))
  }

  static fromValues(values: Float32Array, size: number, dim: number, pointer: number): EmbeddingQueue {
    const q = new EmbeddingQueue(tf.tidy(() => tf.variable(tf.tensor2d(values, [size, dim]), false)))
    q.ptr = pointer
    return q
  }

  get size(): number {
    return this.queue.shape[0]!
  }

  get dim(): number {
    return this.queue.shape[1]!
  }

  get pointer(): number {
    return this.ptr
  }

  /** The current queue [size, dim]; a variable owned by the queue, do not dispose. */
  get tensor(): tf.Tensor2D {
    return this.queue as unknown as tf.Tensor2D
  }

  /** Overwrite the oldest rows with `keys` [B, dim] (wrapping around the end). */
  enqueue(keys: tf.Tensor2D): void {
    const b = keys.shape[0]
    if (keys.shape[1] !== this.dim) throw new RangeError(`EmbeddingQueue.enqueue: keys have dim ${keys.shape[1]}, queue has ${this.dim}`)
    if (b > this.size) throw new RangeError(`EmbeddingQueue.enqueue: batch ${b} larger than queue ${this.size}`)
    tf.tidy(() => {
      const src = new Int32Array(this.size)
      // row i takes keys[j] if it is overwritten by j, else stays
      const take = new Float32Array(this.size)
      for (let j = 0; j < b; j++) {
        const r = (this.ptr + j) % this.size
        src[r] = j
        take[r] = 1
      }
      const mask = tf.tensor2d(take, [this.size, 1])
      const incoming = tf.gather(keys, tf.tensor1d(src, "int32"))
      this.queue.assign(tf.add(tf.mul(this.queue, tf.sub(1, mask)), tf.mul(incoming, mask)))
    })
    this.ptr = (this.ptr + b) % this.size
  }

  /** Overwrite the queue's rows and pointer in place with values saved by `values()` (a checkpoint). */
  restore(values: Float32Array, pointer: number): void {
    if (values.length !== this.size * this.dim) {
      throw new RangeError(`EmbeddingQueue.restore: ${values.length} values for a ${this.size} x ${this.dim} queue`)
    }
    tf.tidy(() => this.queue.assign(tf.tensor2d(values, [this.size, this.dim])))
    this.ptr = pointer
  }

  async values(): Promise<Float32Array> {
    return (await this.queue.data()) as Float32Array
  }

  dispose(): void {
    this.queue.dispose()
  }
}
