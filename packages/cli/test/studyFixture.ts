/**
 * A tiny base config (shapes 8x8, tiny CNNs, 3 teacher epochs, 1 distillation epoch): a cell
 * takes well under a second on wasm. Chosen to stay well clear of the trainer's collapse check
 * (embedding spread 0.4-0.8 for every seed; tinier MLP students sit near 0.05 and fail it).
 */
export const tinyStudyBase = [
  "name: tiny",
  "seed: 3",
  "backend: wasm",
  "outDir: unused",
  "dataset: { name: shapes, options: { trainSize: 256, testSize: 128, size: 8, seed: 0 } }",
  "augment: { outputSize: 8 }",
  "teacher: { backbone: convnet-small, widthMultiplier: 0.25, headHidden: 64, embeddingDim: 32, pretrain: { epochs: 3, batchSize: 32, lr: 0.02, queueSize: 128 } }",
  "bags: { method: knn, k: 4 }",
  "student: { backbone: convnet-small, widthMultiplier: 0.25, headHidden: 64, embeddingDim: 32 }",
  "distill: { epochs: 1, batchSize: 64, lr: 0.01, queueSize: 128 }",
  "eval: { knn: { k: 10 }, linear: { epochs: 2 }, semiSupervised: [0.1] }"
]
