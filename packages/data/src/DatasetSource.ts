import { Context, Effect, Layer } from "effect"
import { createDatasetSource, type DatasetConfig, type DatasetSourceService, loadShapes } from "./datasetRegistry.ts"

/**
 * The training (and optional test) images of a run, chosen by config from `datasetRegistry`.
 * `load` reads or generates the data once and then returns the same splits.
 */
export class DatasetSource extends Context.Service<DatasetSource, DatasetSourceService>()("@bingo/data/DatasetSource") {
  /** The dataset the config names; fails at build time on an unknown name or bad options. */
  static readonly layer = (config: DatasetConfig) => Layer.effect(DatasetSource, createDatasetSource(config))

  /** Tiny deterministic synthetic splits (shapes: 64 train / 32 test, 16x16x1, seed 0) for tests. */
  static readonly layerTest = Layer.effect(
    DatasetSource,
    Effect.map(Effect.cached(loadShapes({ trainSize: 64, testSize: 32, size: 16, seed: 0, channels: 1 })), (load) =>
      DatasetSource.of({ load })
    )
  )
}
