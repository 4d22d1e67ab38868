import { formatSchemaProblems, userInputParseOptions } from "@bingo/runtime"
import { Effect, Schema } from "effect"
import { InvalidDatasetConfig, UnknownDataset, type DatasetError } from "./DatasetError.ts"
import type { DatasetSplits } from "./DatasetSplits.ts"
import type { ImageDataset } from "./ImageDataset.ts"
import { defaultIdxDir, loadIdx } from "./formats/loadIdx.ts"
import { loadCifar } from "./formats/loadCifar.ts"
import { defaultDigitsFile, loadDigits } from "./formats/loadDigits.ts"
import { loadFolder } from "./formats/loadFolder.ts"
import { makeShapes } from "./formats/makeShapes.ts"

/** What a config names: a registry entry and its options (checked by the entry's schema). */
export interface DatasetConfig {
  readonly name: string
  readonly options?: Readonly<Record<string, unknown>>
}

/** The service a dataset source provides: the splits, loaded once on first use. */
export interface DatasetSourceService {
  readonly load: Effect.Effect<DatasetSplits, DatasetError>
}

export interface DatasetEntry {
  readonly name: string
  readonly description: string
  /** Check a config's options; on success, the (not yet run) load of the splits. */
  readonly prepare: (options: unknown) => Effect.Effect<Effect.Effect<DatasetSplits, DatasetError>, InvalidDatasetConfig>
}

/** A registry entry: the options schema (excess keys rejected) and the loader. */
export const defineDataset = <A>(
  name: string,
  description: string,
  options: Schema.Decoder<A>,
  load: (options: A) => Effect.Effect<DatasetSplits, DatasetError>
): DatasetEntry => {
  const decode = Schema.decodeUnknownEffect(options, userInputParseOptions)
  return {
    name,
    description,
    prepare: (input) =>
      decode(input ?? {}).pipe(
        Effect.mapError((e) => new InvalidDatasetConfig({ dataset: name, reason: formatSchemaProblems(e.issue) })),
        Effect.map(load)
      )
  }
}

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))

const ShapesOptionsSchema = Schema.Struct({
  trainSize: Schema.optionalKey(Count),
  testSize: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  size: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(4))),
  seed: Schema.optionalKey(Schema.Int),
  channels: Schema.optionalKey(Schema.Literals([1, 3]))
})

const IdxOptionsSchema = Schema.Struct({
  dir: Schema.optionalKey(Schema.String),
  limitTrain: Schema.optionalKey(Count),
  limitTest: Schema.optionalKey(Count),
  name: Schema.optionalKey(Schema.String)
})

const CifarOptionsSchema = Schema.Struct({
  dir: Schema.optionalKey(Schema.String),
  variant: Schema.optionalKey(Schema.Literals(["cifar10", "cifar100"])),
  limitTrain: Schema.optionalKey(Count),
  limitTest: Schema.optionalKey(Count),
  name: Schema.optionalKey(Schema.String)
})

const DigitsOptionsSchema = Schema.Struct({
  file: Schema.optionalKey(Schema.String),
  size: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(8))),
  testFraction: Schema.optionalKey(Schema.Number.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThan(1))),
  seed: Schema.optionalKey(Schema.Int),
  name: Schema.optionalKey(Schema.String)
})

const FolderOptionsSchema = Schema.Struct({
  dir: Schema.String,
  testDir: Schema.optionalKey(Schema.String),
  size: Count,
  channels: Schema.optionalKey(Schema.Literals([1, 3])),
  fit: Schema.optionalKey(Schema.Literals(["cover", "fill"])),
  onCorrupt: Schema.optionalKey(Schema.Literals(["skip", "fail"])),
  limit: Schema.optionalKey(Count),
  limitTest: Schema.optionalKey(Count),
  concurrency: Schema.optionalKey(Count),
  name: Schema.optionalKey(Schema.String),
  cache: Schema.optionalKey(Schema.String),
  inMemory: Schema.optionalKey(Schema.Boolean),
  labels: Schema.optionalKey(Schema.Literals(["folders", "none"]))
})

/** Defaults of the synthetic dataset in the registry (the quickstart's data). */
export const shapesDefaults = { trainSize: 5000, testSize: 1000, size: 16, seed: 0, channels: 1 } as const

/** The test split's seed, derived from the train seed so the two never share images. */
export const shapesTestSeed = (seed: number): number => (seed ^ 0x5bd1e995) >>> 0

export const loadShapes = (options: typeof ShapesOptionsSchema.Type = {}): Effect.Effect<DatasetSplits<ImageDataset>> =>
  Effect.sync(() => {
    const o = { ...shapesDefaults, ...options }
    const train = makeShapes({ n: o.trainSize, size: o.size, channels: o.channels, seed: o.seed, name: "shapes" })
    if (o.testSize === 0) return { train }
    const test = makeShapes({
      n: o.testSize,
      size: o.size,
      channels: o.channels,
      seed: shapesTestSeed(o.seed),
      name: "shapes/test"
    })
    return { train, test }
  }).pipe(Effect.withSpan("loadShapes"))

/** Every dataset a config can name. */
export const datasetRegistry: ReadonlyArray<DatasetEntry> = [
  defineDataset(
    "shapes",
    "synthetic: 10 classes of shapes on noisy backgrounds, generated from a seed (default 5000/1000, 16x16x1)",
    ShapesOptionsSchema,
    loadShapes
  ),
  defineDataset(
    "idx",
    `MNIST-format IDX files (MNIST, Fashion-MNIST), raw or .gz; default dir ${defaultIdxDir}`,
    IdxOptionsSchema,
    loadIdx
  ),
  defineDataset("cifar", "CIFAR-10 / CIFAR-100 binary archives (variant: cifar10 | cifar100)", CifarOptionsSchema, loadCifar),
  defineDataset(
    "digits",
    `scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), default file ${defaultDigitsFile} ` +
      "(apt-get install python3-sklearn); size: side >= 8, upsampled bilinearly; testFraction (default 0.2) " +
      "of each class held out, seeded by seed",
    DigitsOptionsSchema,
    loadDigits
  ),
  defineDataset(
    "folder",
    "image folder, torchvision layout dir/<class>/*.{jpg,jpeg,png,webp}, decoded with sharp and resized to size x size " +
      "(channels 1 | 3, default 3; onCorrupt skip | fail, default skip; cache: a directory to decode into once; " +
      "inMemory: false streams batches from that cache; labels: none for unlabelled images at any depth)",
    FolderOptionsSchema,
    loadFolder
  )
]

/** The names of every registered dataset. */
export const listDatasets = (): ReadonlyArray<string> => datasetRegistry.map((e) => e.name)

/**
 * Build a dataset source from a config: the entry is looked up and its options checked now;
 * the data are read on the first `load` and shared by later ones.
 */
export const createDatasetSource = Effect.fn("createDatasetSource")(function* (config: DatasetConfig) {
  const entry = datasetRegistry.find((e) => e.name === config.name)
  if (entry === undefined) return yield* new UnknownDataset({ dataset: config.name, available: [...listDatasets()] })
  const load = yield* entry.prepare(config.options)
  const cached = yield* Effect.cached(
    load.pipe(
      Effect.tap((s) =>
        Effect.logDebug(
          `dataset ${config.name}: ${s.train.size} train${s.test === undefined ? "" : ` / ${s.test.size} test`}, ` +
            `${s.train.height}x${s.train.width}x${s.train.channels}`
        )
      ),
      Effect.withSpan("DatasetSource.load")
    )
  )
  const service: DatasetSourceService = { load: cached }
  return service
})
