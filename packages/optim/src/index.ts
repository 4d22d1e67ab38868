export * from "./cosineLr.ts"
export * from "./EmbeddingQueue.ts"
export * from "./Sgd.ts"
export * from "./OptimisationOptions.ts"
