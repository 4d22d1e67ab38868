import * as tf from "@tensorflow/tfjs"

/** How a teacher model file (ONNX, TF.js) takes its images; every key optional but the layout. */
export interface TeacherInputOptions {
  /** Axis order of the model's image input: NCHW (PyTorch, ONNX exports) or NHWC (TF.js, Keras). */
  readonly layout: "NCHW" | "NHWC"
  /** Per-channel mean the model expects subtracted from pixels in [0, 1] (one value or one per channel); default: the run's `augment.mean`. */
  readonly mean?: ReadonlyArray<number> | undefined
  /** Per-channel std the model expects pixels divided by; default: the run's `augment.std`. */
  readonly std?: ReadonlyArray<number> | undefined
  /** Side of the square images the model takes (views are resized bilinearly); default: the model's fixed size, else the view size. */
  readonly size?: number | undefined
  /** The model's image input, for graphs with several inputs; default: the only one. */
  readonly name?: string | undefined
}

/** A per-channel normalisation of pixels in [0, 1]: (pixel - mean) / std. */
export interface Normalisation {
  readonly mean: ReadonlyArray<number>
  readonly std: ReadonlyArray<number>
}

/** What the model is fed, resolved against the run's views. */
export interface ModelInput extends Normalisation {
  readonly layout: "NCHW" | "NHWC"
  readonly size: number
  readonly channels: number
}

const perChannel = (values: ReadonlyArray<number>, channels: number): tf.Tensor1D =>
  tf.tensor1d(values.length === 1 ? Array.from({ length: channels }, () => values[0]!) : [...values])

const sameValues = (a: ReadonlyArray<number>, b: ReadonlyArray<number>, channels: number): boolean =>
  Array.from({ length: channels }, (_, c) => (a.length === 1 ? a[0] : a[c]) === (b.length === 1 ? b[0] : b[c])).every(Boolean)

/**
 * The run's views [B, S, S, C] (NHWC, normalised with `views`' mean and std) as the model takes
 * them: back to pixels, one channel repeated to three when the model takes RGB and the data are
 * grey, resized to the model's side (bilinear, half-pixel centres like PyTorch's
 * `interpolate(align_corners=False)`), normalised with the model's mean and std, and transposed
 * to NCHW when the model wants it. Runs in a tidy; the caller disposes the result.
 */
export const adaptViews = (x: tf.Tensor4D, views: Normalisation, model: ModelInput): tf.Tensor4D =>
  tf.tidy(() => {
    const [, height, , channels] = x.shape
    const repeat = channels === 1 && model.channels === 3
    const resize = height !== model.size
    let y: tf.Tensor4D = x
    if (repeat || resize || !sameValues(views.mean, model.mean, channels) || !sameValues(views.std, model.std, channels)) {
      let pixels: tf.Tensor4D = tf.add(tf.mul(x, perChannel(views.std, channels)), perChannel(views.mean, channels))
      if (repeat) pixels = tf.tile(pixels, [1, 1, 1, 3])
      if (resize) pixels = tf.image.resizeBilinear(pixels, [model.size, model.size], false, true)
      y = tf.div(tf.sub(pixels, perChannel(model.mean, model.channels)), perChannel(model.std, model.channels))
    }
    return model.layout === "NCHW" ? tf.transpose(y, [0, 3, 1, 2]) : y === x ? tf.clone(x) : y
  })
