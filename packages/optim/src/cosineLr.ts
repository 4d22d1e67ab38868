/**
 * Learning rate at `epoch` (may be fractional) under per-epoch cosine decay, as the BINGO
 * reference: lr = base * 0.5 * (1 + cos(pi * epoch / epochs)), after an optional linear
 * warm-up over `warmupEpochs`.
 */
export const cosineLr = (base: number, epoch: number, epochs: number, warmupEpochs = 0): number => {
  if (warmupEpochs > 0 && epoch < warmupEpochs) return (base * (epoch + 1)) / (warmupEpochs + 1)
  return base * 0.5 * (1 + Math.cos((Math.PI * epoch) / epochs))
}

/** The reference's linear scaling rule: lr 0.03 at batch 256 -> 0.03 * batch / 256. */
export const scaledLr = (lrAt256: number, batchSize: number): number => (lrAt256 * batchSize) / 256
