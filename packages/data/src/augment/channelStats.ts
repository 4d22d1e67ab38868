import type { ImageDataset } from "../ImageDataset.ts"

/** Per-channel mean and standard deviation of a dataset's pixels, for `AugmentConfig.mean/std`. */
export const channelStats = (ds: ImageDataset): { mean: Array<number>; std: Array<number> } => {
  const C = ds.channels
  const sum = new Float64Array(C)
  const sumSq = new Float64Array(C)
  for (let i = 0; i < ds.images.length; i++) {
    const v = ds.images[i]!
    sum[i % C]! += v
    sumSq[i % C]! += v * v
  }
  const count = ds.images.length / C
  const mean = Array.from(sum, (s) => s / count)
  const std = Array.from(sumSq, (s, c) => Math.sqrt(Math.max(0, s / count - mean[c]! ** 2)))
  return { mean, std }
}
