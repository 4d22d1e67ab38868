import * as tf from "@tensorflow/tfjs"
import type { Rng } from "@bingo/runtime"

let instance = 0

/**
 * Creates a network's variables with seeded initialisation and records them under logical
 * names. TF.js variable names are global, so each store prefixes its own instance id.
 */
export class ParamStore {
  readonly params = new Map<string, tf.Variable>()
  private readonly prefix: string

  constructor(
    readonly rng: Rng,
    label: string
  ) {
    this.prefix = `${label}#${++instance}`
  }

  private add(name: string, shape: Array<number>, values: Float32Array, trainable: boolean): tf.Variable {
    if (this.params.has(name)) throw new Error(`ParamStore: duplicate parameter '${name}'`)
    const v = tf.tidy(() => tf.variable(tf.tensor(values, shape, "float32"), trainable, `${this.prefix}/${name}`))
    this.params.set(name, v)
    return v
  }

  /** Conv kernel [kh, kw, in, out], Kaiming-normal (fan_out, ReLU) as torchvision ResNets. */
  conv(name: string, kh: number, kw: number, cin: number, cout: number): tf.Variable {
    const std = Math.sqrt(2 / (kh * kw * cout))
    const n = kh * kw * cin * cout
    const values = new Float32Array(n)
    for (let i = 0; i < n; i++) values[i] = this.rng.normal() * std
    return this.add(name, [kh, kw, cin, cout], values, true)
  }

  /** Depthwise kernel [kh, kw, in, 1]. */
  depthwise(name: string, kh: number, kw: number, cin: number): tf.Variable {
    const std = Math.sqrt(2 / (kh * kw))
    const values = new Float32Array(kh * kw * cin)
    for (let i = 0; i < values.length; i++) values[i] = this.rng.normal() * std
    return this.add(name, [kh, kw, cin, 1], values, true)
  }

  /** Dense weight [in, out] and bias [out], PyTorch's default uniform(+-1/sqrt(in)). */
  dense(name: string, din: number, dout: number): { readonly weight: tf.Variable; readonly bias: tf.Variable } {
    const bound = 1 / Math.sqrt(din)
    const w = new Float32Array(din * dout)
    for (let i = 0; i < w.length; i++) w[i] = this.rng.uniform(-bound, bound)
    const b = new Float32Array(dout)
    for (let i = 0; i < b.length; i++) b[i] = this.rng.uniform(-bound, bound)
    return { weight: this.add(`${name}.weight`, [din, dout], w, true), bias: this.add(`${name}.bias`, [dout], b, true) }
  }

  /** Batch norm: gamma=1, beta=0 (trainable), running mean=0, var=1 (state). */
  batchNorm(name: string, c: number): BatchNormParams {
    return {
      gamma: this.add(`${name}.weight`, [c], new Float32Array(c).fill(1), true),
      beta: this.add(`${name}.bias`, [c], new Float32Array(c), true),
      mean: this.add(`${name}.running_mean`, [c], new Float32Array(c), false),
      variance: this.add(`${name}.running_var`, [c], new Float32Array(c).fill(1), false)
    }
  }
}

export interface BatchNormParams {
  readonly gamma: tf.Variable
  readonly beta: tf.Variable
  readonly mean: tf.Variable
  readonly variance: tf.Variable
}
