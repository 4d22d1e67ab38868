import type { Rng } from "@bingo/runtime"

export interface BatchDims {
  readonly batch: number
  readonly height: number
  readonly width: number
  readonly channels: number
}

/** Rows [y0, y1) and columns [x0, x1) of the pasted region. */
export interface CutMixBox {
  readonly y0: number
  readonly x0: number
  readonly y1: number
  readonly x1: number
}

export interface CutMixOptions {
  /** The box's area ratio is drawn from Beta(alpha, alpha); BINGO uses 2. */
  readonly alpha?: number
  /**
   * false (default, the CutMix paper's `rand_bbox`): the centre is uniform over the image and the
   * box is clipped to it, so the pasted area is on average below the drawn ratio (mean lambda
   * about 0.67 for Beta(2, 2)). true: the centre is drawn so that the whole box fits (mean
   * lambda about 0.5).
   */
  readonly keepInside?: boolean
}

export interface CutMixResult {
  /** q with the box replaced by pq's pixels, B*H*W*C. */
  readonly mixed: Float32Array
  /** Fraction of each image's pixels still from q: 1 - box area / (H * W). */
  readonly lambda: number
  readonly box: CutMixBox
}

/**
 * CutMix (Yun et al., ICCV 2019) as BINGO applies it to a batch of anchor views q and positive
 * views pq (both B*H*W*C, NHWC): one box for the whole batch, area ratio r ~ Beta(2, 2), sides
 * floor(sqrt(r) * H) x floor(sqrt(r) * W), centre uniform, clipped to the image (the paper's
 * `rand_bbox`). The student's mixed embedding is then matched to the teacher's anchor with
 * weight lambda and to the positive with 1 - lambda, lambda the exact fraction left from q.
 */
export const cutMix = (q: Float32Array, pq: Float32Array, dims: BatchDims, rng: Rng, options: CutMixOptions = {}): CutMixResult => {
  const { batch, height: H, width: W, channels: C } = dims
  const n = batch * H * W * C
  if (q.length !== n || pq.length !== n) {
    throw new RangeError(`cutMix: expected ${batch}x${H}x${W}x${C} = ${n} values, got q ${q.length}, pq ${pq.length}`)
  }
  const alpha = options.alpha ?? 2
  const ratio = rng.beta(alpha, alpha)
  const cutH = Math.floor(H * Math.sqrt(ratio))
  const cutW = Math.floor(W * Math.sqrt(ratio))
  let y0: number, y1: number, x0: number, x1: number
  if (options.keepInside === true) {
    y0 = rng.int(H - cutH + 1)
    x0 = rng.int(W - cutW + 1)
    y1 = y0 + cutH
    x1 = x0 + cutW
  } else {
    const cy = rng.int(H)
    const cx = rng.int(W)
    const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi)
    y0 = clip(cy - (cutH >> 1), H)
    y1 = clip(cy + (cutH >> 1), H)
    x0 = clip(cx - (cutW >> 1), W)
    x1 = clip(cx + (cutW >> 1), W)
  }
  const mixed = Float32Array.from(q)
  const rowLen = (x1 - x0) * C
  if (rowLen > 0) {
    for (let b = 0; b < batch; b++) {
      for (let y = y0; y < y1; y++) {
        const start = ((b * H + y) * W + x0) * C
        mixed.set(pq.subarray(start, start + rowLen), start)
      }
    }
  }
  const lambda = 1 - ((y1 - y0) * (x1 - x0)) / (H * W)
  return { mixed, lambda, box: { y0, x0, y1, x1 } }
}
