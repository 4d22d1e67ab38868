// The data model: images in memory or read on demand, splits, errors, the DatasetSource service.
export * from "./ImageDataset.ts"
export * from "./ImageStore.ts"
export * from "./DatasetSplits.ts"
export * from "./DatasetError.ts"
export * from "./DatasetSource.ts"
export * from "./datasetRegistry.ts"
// formats/: the loaders, one per file format (and the synthetic shapes).
export * from "./formats/makeShapes.ts"
export * from "./formats/readIdx.ts"
export * from "./formats/loadIdx.ts"
export * from "./formats/loadCifar.ts"
export * from "./formats/loadDigits.ts"
export * from "./formats/decodeImage.ts"
export * from "./formats/listImageFolder.ts"
export * from "./formats/decodeFolder.ts"
export * from "./formats/loadFolder.ts"
// cache/: the decoded-image cache file behind `folder` datasets.
export * from "./cache/imageCache.ts"
export * from "./cache/writeImageCache.ts"
// augment/: the aug+ settings (schema, defaults), aug+ views, CutMix, channel statistics.
export * from "./augment/AugmentConfig.ts"
export * from "./augment/augment.ts"
export * from "./augment/cutMix.ts"
export * from "./augment/channelStats.ts"
// sampling/: epoch batches and bag positives, fetching a step ahead, streaming a folder.
export * from "./sampling/batching.ts"
export * from "./sampling/gatherAhead.ts"
export * from "./sampling/streamBatches.ts"
