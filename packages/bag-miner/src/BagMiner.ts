import { Runtime } from "@bingo/runtime"
import * as tf from "@tensorflow/tfjs"
import { Context, Effect, Layer } from "effect"
import { bagPurity } from "./bagPurity.ts"
import { type Bags, makeBags } from "./Bags.ts"
import {
  type BagFileError,
  BagShapeMismatch,
  type BagValidationError,
  type HnswFailed,
  InvalidMinerInput,
  InvalidMinerOptions,
  type NeighboursMissing,
  type NpyReadError,
  type UsearchUnavailable
} from "./BagMinerError.ts"
import { driveSteps } from "./driveSteps.ts"
import { hnswBagsSteps } from "./hnswBags.ts"
import { loadUsearch } from "./HnswIndex.ts"
import { kmeansBagsSteps } from "./kmeansBags.ts"
import {
  defaultKnnSearchOptions,
  type HnswOptions,
  hnswOptionsProblem,
  type KnnSearchMode,
  resolveKnnSearch,
  resolveThreads
} from "./KnnSearch.ts"
import { knnBagsSteps } from "./knnBags.ts"
import { labelBags } from "./labelBags.ts"
import { measureRecallSteps } from "./measureRecall.ts"
import { randomBags } from "./randomBags.ts"
import { readBagsNpy, writeBagsNpy } from "./npy.ts"
import { sampleRows } from "./recallAtK.ts"

/** How bags are formed: the paper's three kinds (kNN is BINGO's default), and random bags, the control. */
export type BagMethod = "knn" | "kmeans" | "labels" | "random"

export interface BagMinerOptions {
  readonly method: BagMethod
  /** Neighbours per anchor (reference K = 5). */
  readonly k: number
  /** Number of k-means clusters (required for "kmeans"). */
  readonly clusters?: number
  /** Lloyd iterations for "kmeans" (default 20). */
  readonly iterations?: number
  /** Seed of k-means and of the label/cluster/random draws (default: the Runtime's seed). */
  readonly seed?: number
  /** Query rows per kNN similarity block (default 1024). */
  readonly chunkSize?: number
  /** kNN search: "auto" (default: exact up to `exactUpTo` rows, HNSW above), "exact" or "hnsw" (KnnSearch.ts). */
  readonly search?: KnnSearchMode
  /** Largest N searched exactly under "auto" (default 100,000: see KnnSearch.ts). */
  readonly exactUpTo?: number
  /** HNSW settings (defaults: `defaultHnswOptions`). */
  readonly hnsw?: Partial<HnswOptions>
  /** Anchors whose HNSW bags are checked against exact search, for the logged recall@K (default 1,000). */
  readonly recallSample?: number
}

/** What `mine` can fail with: bad input, or (HNSW search) usearch missing or failing. */
export type MineError = InvalidMinerInput | UsearchUnavailable | HnswFailed | NeighboursMissing

export interface MineInput {
  /** Teacher embeddings, N x dim row-major (normalised inside; scale does not matter).
   * Label and random bags ignore their values and, given labels, accept an empty array. */
  readonly features: Float32Array
  readonly dim: number
  /** Ground-truth labels (N): required by "labels"; otherwise used to log bag purity. */
  readonly labels?: Int32Array
}

/**
 * Stage 1 of BINGO as a service: mine the bag of every training sample once, save it as an
 * N x K int64 .npy file (the reference format), load it back for distillation.
 *
 * `layer(options)` is the real miner; it needs the `Runtime` (the TF.js backend it computes
 * on). `layerTest` is a deterministic fake for other packages' tests (see there).
 */
export class BagMiner extends Context.Service<
  BagMiner,
  {
    mine(input: MineInput): Effect.Effect<Bags, MineError>
    /** Read an N x K bag file and check it fits a dataset of `n` samples. */
    load(path: string, n: number): Effect.Effect<Bags, NpyReadError | BagValidationError>
    /** Write bags as an int64 .npy file, atomically. */
    save(path: string, bags: Bags): Effect.Effect<void, BagFileError>
  }
>()("@bingo/bag-miner/BagMiner") {
  static readonly layer = (options: BagMinerOptions): Layer.Layer<BagMiner, InvalidMinerOptions, Runtime> =>
    Layer.effect(
      BagMiner,
      Effect.gen(function* () {
        const runtime = yield* Runtime
        const problem = optionsProblem(options)
        if (problem !== undefined) return yield* new InvalidMinerOptions({ method: options.method, reason: problem })
        const seed = options.seed ?? runtime.seed

        const mine = Effect.fn("BagMiner.mine")(function* (input: MineInput) {
          const n = yield* checkInput(options, input)
          const started = performance.now()
          yield* Effect.logInfo(`mining ${options.method} bags: N=${n}, D=${input.dim}, K=${options.k} on the ${tf.getBackend()} backend`)
          if (
            options.method === "knn" &&
            resolveKnnSearch(options.search ?? "auto", n, options.exactUpTo ?? defaultKnnSearchOptions.exactUpTo) === "exact" &&
            tf.getBackend() === "cpu" &&
            n * n * input.dim > 1e12
          ) {
            yield* Effect.logInfo(
              "the TF.js cpu backend is slow for exact kNN (60k x 512: ~95 min on 2 vCPUs, wasm: 2.7 min); consider Runtime backend 'wasm'"
            )
          }
          const bags =
            options.method === "labels"
              ? labelBags(input.labels!, { k: options.k, seed })
              : options.method === "random"
                ? randomBags(n, { k: options.k, seed })
                : options.method === "knn"
                  ? yield* mineKnn(options, input, n, seed)
                  : (yield* driveSteps(() =>
                      kmeansBagsSteps(input.features, input.dim, {
                        k: options.k,
                        clusters: options.clusters!,
                        seed,
                        ...(options.iterations === undefined ? {} : { iterations: options.iterations })
                      })
                    )).bags
          const seconds = ((performance.now() - started) / 1000).toFixed(1)
          const purity = input.labels === undefined ? "" : `, purity ${(100 * bagPurity(bags, input.labels).overall).toFixed(2)}%`
          yield* Effect.logInfo(`mined ${options.method} bags: ${bags.n} x ${bags.k} in ${seconds} s${purity}`)
          return bags
        })

        const load = Effect.fn("BagMiner.load")(function* (path: string, n: number) {
          const bags = yield* readBagsNpy(path, { n })
          yield* Effect.logInfo(`loaded bags ${path}: ${bags.n} x ${bags.k}`)
          return bags
        })

        const save = Effect.fn("BagMiner.save")(function* (path: string, bags: Bags) {
          yield* writeBagsNpy(path, bags, "int64")
          yield* Effect.logInfo(`saved bags ${path}: ${bags.n} x ${bags.k} int64`)
        })

        return BagMiner.of({ mine, load, save })
      })
    )

  /**
   * A deterministic fake, K = 5, no TF.js. `mine` returns label bags (seed 0) when labels
   * are given, otherwise "ring" bags (anchor i -> i+1, ..., i+K mod N); it fails like the
   * real miner on inconsistent input. `save` keeps bags in memory (no file is written);
   * `load` returns what was saved under that path, or reads the file from disk.
   */
  static readonly layerTest: Layer.Layer<BagMiner> = Layer.sync(BagMiner, () => {
    const k = 5
    const saved = new Map<string, Bags>()
    const options: BagMinerOptions = { method: "labels", k }
    return BagMiner.of({
      mine: Effect.fn("BagMiner.mine")(function* (input: MineInput) {
        const n = yield* checkInput({ ...options, method: input.labels === undefined ? "knn" : "labels" }, input)
        if (input.labels !== undefined) return labelBags(input.labels, { k, seed: 0 })
        const neighbours = new Int32Array(n * k)
        for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) neighbours[i * k + j] = (i + j + 1) % n
        return makeBags(n, k, neighbours)
      }),
      load: Effect.fn("BagMiner.load")(function* (path: string, n: number) {
        const bags = saved.get(path)
        if (bags === undefined) return yield* readBagsNpy(path, { n })
        if (bags.n !== n) return yield* new BagShapeMismatch({ path, expectedN: n, actualN: bags.n })
        return bags
      }),
      save: (path: string, bags: Bags) =>
        Effect.sync(() => {
          saved.set(path, { n: bags.n, k: bags.k, neighbours: bags.neighbours.slice() })
        }).pipe(Effect.withSpan("BagMiner.save"))
    })
  })
}

/**
 * kNN bags by the configured search: exact (`knnBags`, matMul + top-k) up to `exactUpTo` rows
 * under "auto", HNSW (`hnswBagsSteps`) above, its recall@K measured against exact search on
 * `recallSample` anchors drawn with the seed and logged.
 */
const mineKnn = (options: BagMinerOptions, input: MineInput, n: number, seed: number) =>
  Effect.gen(function* () {
    const exactUpTo = options.exactUpTo ?? defaultKnnSearchOptions.exactUpTo
    const search = resolveKnnSearch(options.search ?? "auto", n, exactUpTo)
    const why =
      options.search === "exact" || options.search === "hnsw"
        ? "bags.search"
        : `N ${n <= exactUpTo ? "<=" : ">"} bags.exactUpTo ${exactUpTo}`
    if (search === "exact") {
      yield* Effect.logInfo(`knn search: exact (${why})`)
      return yield* driveSteps(() =>
        knnBagsSteps(input.features, input.dim, {
          k: options.k,
          ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize })
        })
      )
    }
    const hnsw = { ...defaultKnnSearchOptions.hnsw, ...options.hnsw }
    yield* Effect.logInfo(
      `knn search: HNSW (${why}): connectivity ${hnsw.connectivity}, expansion add ${hnsw.expansionAdd} / search ${hnsw.expansionSearch}, ${hnsw.quantization}, ${resolveThreads(hnsw.threads)} thread(s)`
    )
    const usearch = yield* loadUsearch
    const bags = yield* driveSteps(() => hnswBagsSteps(usearch, input.features, input.dim, { k: options.k, hnsw }))
    const sample = sampleRows(n, options.recallSample ?? defaultKnnSearchOptions.recallSample, seed)
    const recall = yield* driveSteps(() => measureRecallSteps(input.features, input.dim, bags, sample))
    yield* Effect.logInfo(
      `knn search: HNSW recall@${options.k} ${(100 * recall).toFixed(2)}% against exact search on ${sample.length} sampled anchors`
    )
    return bags
  })

const isPositiveInt = (x: number | undefined): boolean => x !== undefined && Number.isInteger(x) && x >= 1

const optionsProblem = (options: BagMinerOptions): string | undefined => {
  if (!["knn", "kmeans", "labels", "random"].includes(options.method))
    return `unknown method '${options.method}' (knn, kmeans, labels, random)`
  if (!isPositiveInt(options.k)) return `k must be a positive integer, got ${options.k}`
  if (options.method === "kmeans" && !isPositiveInt(options.clusters)) {
    return `kmeans bags need clusters, a positive integer, got ${options.clusters}`
  }
  if (options.iterations !== undefined && !isPositiveInt(options.iterations))
    return `iterations must be a positive integer, got ${options.iterations}`
  if (options.chunkSize !== undefined && !isPositiveInt(options.chunkSize))
    return `chunkSize must be a positive integer, got ${options.chunkSize}`
  if (options.search !== undefined && !["auto", "exact", "hnsw"].includes(options.search))
    return `unknown search '${options.search}' (auto, exact, hnsw)`
  if (options.exactUpTo !== undefined && !(Number.isInteger(options.exactUpTo) && options.exactUpTo >= 0))
    return `exactUpTo must be a non-negative integer, got ${options.exactUpTo}`
  if (options.recallSample !== undefined && !(Number.isInteger(options.recallSample) && options.recallSample >= 0))
    return `recallSample must be a non-negative integer, got ${options.recallSample}`
  if (options.hnsw !== undefined) return hnswOptionsProblem({ ...defaultKnnSearchOptions.hnsw, ...options.hnsw })
  return undefined
}

/** N, or the reason the input cannot be mined with these options. */
const checkInput = (options: BagMinerOptions, input: MineInput): Effect.Effect<number, InvalidMinerInput> => {
  const fail = (reason: string) => Effect.fail(new InvalidMinerInput({ method: options.method, reason }))
  const { features, dim, labels } = input
  // Label and random bags need no features: an empty features array stands for "N = labels.length".
  const featureFree = options.method === "labels" || options.method === "random"
  if (featureFree && labels !== undefined && features.length === 0) return Effect.succeed(labels.length)
  if (!isPositiveInt(dim)) return fail(`dim must be a positive integer, got ${dim}`)
  if (features.length % dim !== 0) return fail(`${features.length} feature values are not a whole number of ${dim}-wide rows`)
  const n = features.length / dim
  if (labels !== undefined && labels.length !== n) return fail(`${labels.length} labels for ${n} feature rows`)
  if (options.method === "labels") {
    if (labels === undefined) return fail("label bags need labels")
  } else if (options.method !== "random") {
    for (let i = 0; i < features.length; i++) {
      if (!Number.isFinite(features[i]!)) return fail(`feature row ${Math.floor(i / dim)} holds a non-finite value (${features[i]})`)
    }
  }
  if (options.method === "knn" && options.k >= n) return fail(`kNN bags need K < N, got K=${options.k}, N=${n}`)
  if (options.method === "random" && options.k >= n) return fail(`random bags need K < N, got K=${options.k}, N=${n}`)
  if (options.method === "kmeans" && options.clusters! > n) return fail(`${options.clusters} clusters for ${n} samples`)
  return Effect.succeed(n)
}
