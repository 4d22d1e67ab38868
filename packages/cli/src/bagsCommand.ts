/**
 * `bingo embed` and `bingo bags [index | search | merge]`: teacher embedding and kNN bag mining
 * in shards, each invocation one task of an array job (Slurm, a Kubernetes Indexed Job), all
 * reading and writing `<outDir>/embeddings/` (docs/scaling.md has the task model and the files).
 *
 *   bingo embed <config.yaml> [--shard i/n]        features of rows [floor(iN/n), floor((i+1)N/n))
 *   bingo bags index <config.yaml> [--shard s/n]   HNSW index of embedding shard s (exact: nothing to do)
 *   bingo bags search <config.yaml> [--shard t/T]  T = n*n: query shard floor(t/n) against index shard t mod n
 *   bingo bags merge <config.yaml>                 the bags (<outDir>/bags.npy) and embeddings/bags.json
 *   bingo bags <config.yaml>                       all of it in this process
 *
 * The task comes from `resolveArrayTask` (--shard, else the scheduler's variables, else 0 of 1);
 * every step is a no-op for outputs already there, so a failed array can simply be resubmitted.
 */
import { Effect, Layer } from "effect"
import { existsSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { Runtime } from "@bingo/runtime"
import { asImageStore, DatasetSource, type ImageSource, type ImageStore } from "@bingo/data"
import {
  defaultKnnSearchOptions,
  EmbeddingShardsMismatch,
  embeddingShardDone,
  findBagsError,
  indexShard,
  mergeShards,
  readShardSet,
  resolveKnnSearch,
  scanShards,
  searchShardPair,
  type ShardSet,
  shardFiles,
  shardRange,
  TaskCountMismatch,
  writeBagsNpy,
  writeEmbeddingShard
} from "@bingo/bag-miner"
import { atomicWrite } from "@bingo/runtime"
import { Teacher } from "@bingo/teacher"
import { type ArrayTask, resolveArrayTask } from "./arrayTask.ts"
import { ConfigError, TeacherNotPretrained } from "./ConfigError.ts"
import { loadConfig } from "./loadConfig.ts"
import type { PipelineConfig } from "./PipelineConfig.ts"
import { augmentOf, knnSearchOptions, resolveDatasetPaths, withQueueSizes } from "./runPipeline.ts"
import { teacherLayer } from "./teacherLayer.ts"

export const bagsUsage = `  bingo embed <config.yaml> [--shard i/n] [--set ...]    teacher features of embedding shard i of n (rows
                                                       [iN/n, (i+1)N/n)) into <outDir>/embeddings/
  bingo bags index <config.yaml> [--shard s/n] [--set ...]
                                                       HNSW index of embedding shard s (exact search: nothing to do)
  bingo bags search <config.yaml> [--shard t/T] [--set ...]
                                                       T = n*n: neighbours of query shard t/n in index shard t mod n
  bingo bags merge <config.yaml> [--set ...]           merge the searches into <outDir>/bags.npy (+ embeddings/bags.json)
  bingo bags <config.yaml> [--set ...]                 embed (missing shards; pre-trains the teacher if needed), index,
                                                       search, merge in this process
                                                       (the task: --shard, else Slurm / Kubernetes array variables)
`

export interface BagsArgs {
  readonly file: string
  readonly overrides: ReadonlyArray<string>
  readonly shard?: string
}

/** `<config.yaml> [--shard i/n] [--set k=v ...]`, or what is wrong with the arguments. */
export const parseBagsArgs = (args: ReadonlyArray<string>, shardAllowed: boolean): BagsArgs | { readonly bad: string } => {
  const overrides: Array<string> = []
  let file: string | undefined
  let shard: string | undefined
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === "--set" || a === "--shard") {
      const v = args[++i]
      if (v === undefined) return { bad: `${a} needs a value` }
      if (a === "--set") overrides.push(v)
      else if (!shardAllowed) return { bad: "this command runs as one task: no --shard" }
      else shard = v
    } else if (a.startsWith("--set=")) overrides.push(a.slice(6))
    else if (a.startsWith("--shard=") && shardAllowed) shard = a.slice(8)
    else if (a.startsWith("-")) return { bad: `unknown option '${a}'` }
    else if (file === undefined) file = a
    else return { bad: `unexpected argument '${a}'` }
  }
  if (file === undefined) return { bad: "missing <config.yaml>" }
  return { file, overrides, ...(shard === undefined ? {} : { shard }) }
}

/** The config, its folder and `<outDir>/embeddings`. */
const load = (args: BagsArgs) =>
  Effect.gen(function* () {
    const path = resolve(args.file)
    const config = yield* loadConfig(path, args.overrides)
    const configDir = dirname(path)
    const outDir = resolve(configDir, config.outDir)
    return { config, configDir, outDir, dir: join(outDir, "embeddings") }
  })

const logTask = (step: string, task: ArrayTask, what: string) =>
  Effect.logInfo(
    `${step}: task ${task.index} of ${task.count} (${task.source === "single" ? "no --shard and no array variables: the only task" : `from ${task.source}`}): ${what}`
  )

/** Rows [start, end) of a source as a store of their own (row 0 = global row start). */
export const rowRange = (source: ImageSource, start: number, end: number): ImageStore => {
  const store = asImageStore(source)
  return {
    ...store,
    size: end - start,
    ...(store.labels === undefined ? {} : { labels: store.labels.subarray(start, end) }),
    gather: (indices) =>
      store.gather(
        Int32Array.from(indices, (i) => {
          if (!Number.isInteger(i) || i < 0 || i >= end - start) throw new RangeError(`row ${i} outside [0, ${end - start})`)
          return start + i
        })
      )
  }
}

/**
 * Embed shards `shards` of `n` with the config's teacher (the pipeline's: `teacherLayer`,
 * `embedDataset` on the center views), one teacher for all of them; shards already finished are
 * skipped (logged). A bingo teacher that would need pre-training is refused (TeacherNotPretrained)
 * unless `pretrain` (the single-process `bingo bags`, which pre-trains it as `bingo run` does, into
 * <outDir>/teacher.safetensors; an array of embed tasks must not each train their own).
 */
const embedShards = (
  config: PipelineConfig,
  configDir: string,
  outDir: string,
  dir: string,
  shards: ReadonlyArray<number>,
  n: number,
  pretrain = false
) =>
  Effect.gen(function* () {
    const todo = shards.filter((i) => {
      const done = embeddingShardDone(dir, i, n)
      return !done
    })
    for (const i of shards)
      if (!todo.includes(i))
        yield* Effect.logInfo(`embed: ${join(dir, shardFiles.rows(i, n))} exists: shard ${i} of ${n} is done; nothing to do`)
    if (todo.length === 0) return
    const teacherWeights = join(outDir, "teacher.safetensors")
    if (config.teacher.weightsFormat === "bingo" && config.teacher.weights === undefined && !existsSync(teacherWeights)) {
      if (!pretrain) return yield* new TeacherNotPretrained({ path: teacherWeights })
      yield* Effect.logInfo(
        `embed: no teacher weights yet: pre-training the teacher (MoCo-v2) into ${teacherWeights} first, as bingo run does`
      )
    }
    const runtime = Runtime.layer({ backend: config.backend, seed: config.seed })
    const dataset = DatasetSource.layer({ name: config.dataset.name, options: resolveDatasetPaths(config.dataset.options, configDir) })
    const teacher = Layer.unwrap(
      Effect.gen(function* () {
        const { train } = yield* (yield* DatasetSource).load
        const sized = yield* withQueueSizes(config, train.size)
        return teacherLayer(sized, {
          configDir,
          outDir,
          augment: augmentOf(sized, train),
          channels: train.channels,
          seed: config.seed,
          metrics: { path: join(outDir, "metrics.jsonl"), every: config.metricsEvery }
        })
      })
    )
    yield* Effect.scoped(
      Effect.gen(function* () {
        const { train } = yield* (yield* DatasetSource).load
        const model = yield* Teacher
        const augment = augmentOf(config, train)
        for (const i of todo) {
          const started = performance.now()
          const [start, end] = shardRange(i, n, train.size)
          yield* Effect.logInfo(
            `embed: shard ${i} of ${n}: rows [${start}, ${end}) of ${train.size} (${train.name}), teacher ${model.architecture}`
          )
          const features = yield* model.embedDataset(rowRange(train, start, end), augment)
          const seconds = (performance.now() - started) / 1000
          yield* writeEmbeddingShard(dir, i, n, {
            start,
            features: features.values,
            dim: features.dim,
            labels: train.labels?.slice(start, end),
            info: { seconds, teacher: model.format, dataset: train.name }
          })
          yield* Effect.logInfo(
            `embed: wrote ${join(dir, shardFiles.features(i, n))} (${end - start} x ${features.dim}) in ${seconds.toFixed(1)} s`
          )
        }
      })
    ).pipe(Effect.provide(teacher.pipe(Layer.provideMerge(dataset), Layer.provideMerge(runtime))))
  })

/** Shards of another count than `n` already in `dir`: they would make the set ambiguous. */
const checkShardCount = (dir: string, n: number) => {
  const scan = scanShards(dir)
  const others = [...scan.counts.keys()].filter((c) => c !== n)
  return others.length === 0
    ? Effect.void
    : Effect.fail(
        new EmbeddingShardsMismatch({
          dir,
          files: scan.names.filter((name) => !name.endsWith(`-of-${n}.npy`)),
          reason: `embedding as ${n} shards, but files of ${others.join(", ")} shards are there; remove them or embed with their count`
        })
      )
}

/** `bingo embed`: one embedding shard, the task's. */
export const embedCommand = (args: BagsArgs) =>
  Effect.gen(function* () {
    const { config, configDir, outDir, dir } = yield* load(args)
    const task = yield* resolveArrayTask(args.shard)
    yield* logTask("embed", task, `embedding shard ${task.index} of ${task.count} into ${dir}`)
    yield* checkShardCount(dir, task.count)
    yield* embedShards(config, configDir, outDir, dir, [task.index], task.count)
    return 0
  })

/** The search a shard set gets under this config (auto: by N), and its settings. */
const searchSettings = (config: PipelineConfig, set: ShardSet) => {
  const o = knnSearchOptions(config.bags)
  const search = resolveKnnSearch(o.search ?? "auto", set.total, o.exactUpTo ?? defaultKnnSearchOptions.exactUpTo)
  return { k: config.bags.k, search, hnsw: { ...defaultKnnSearchOptions.hnsw, ...o.hnsw } }
}

const requireKnn = (config: PipelineConfig) =>
  config.bags.method === "knn"
    ? Effect.void
    : Effect.fail(new ConfigError({ path: "bags.method", reason: `sharded mining (bingo bags) makes knn bags, not ${config.bags.method}` }))

const indexStep = (config: PipelineConfig, set: ShardSet, shards: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    const settings = searchSettings(config, set)
    if (settings.search === "exact") {
      yield* Effect.logInfo(
        `bags index: exact search (N=${set.total}, bags.search ${config.bags.search ?? "auto"}): there is no index to build`
      )
      return
    }
    for (const s of shards) yield* indexShard(set, s, settings.hnsw)
  })

const searchStep = (config: PipelineConfig, set: ShardSet, tasks: ReadonlyArray<number>) =>
  Effect.forEach(tasks, (t) => searchShardPair(set, Math.floor(t / set.n), t % set.n, searchSettings(config, set)), { discard: true })

const mergeStep = (config: PipelineConfig, outDir: string, set: ShardSet) =>
  Effect.gen(function* () {
    const started = performance.now()
    const { bags, report } = yield* mergeShards(set, {
      k: config.bags.k,
      recallSample: config.bags.recallSample ?? defaultKnnSearchOptions.recallSample,
      seed: config.seed
    })
    const problem = findBagsError(bags, set.total)
    if (problem !== undefined) return yield* Effect.die(problem) // mergeTopK's output is valid by construction
    const bagPath = join(outDir, "bags.npy")
    yield* writeBagsNpy(bagPath, bags)
    const reportPath = join(set.dir, shardFiles.report)
    const seconds = { ...report.seconds, merge: (performance.now() - started) / 1000 - (report.seconds.recall ?? 0) }
    yield* Effect.sync(() => atomicWrite(reportPath, `${JSON.stringify({ ...report, seconds, bags: bagPath }, null, 2)}\n`))
    yield* Effect.logInfo(
      `bags merge: ${bags.n} x ${bags.k} bags from ${set.n} x ${set.n} ${report.search} searches` +
        (report.purity === null ? "" : `, purity ${(100 * report.purity).toFixed(2)}%`) +
        (report.recall === null ? "" : `, recall@${bags.k} ${(100 * report.recall).toFixed(2)}%`) +
        `; wrote ${bagPath} and ${reportPath}`
    )
  })

/** `bingo bags <sub>`: index, search, merge, or (no subcommand) every step here. */
export const bagsCommand = (sub: "index" | "search" | "merge" | "all", args: BagsArgs) =>
  Effect.gen(function* () {
    const { config, configDir, outDir, dir } = yield* load(args)
    yield* requireKnn(config)
    if (sub === "all") {
      const scan = scanShards(dir)
      const counts = [...scan.counts.keys()]
      const n = counts.length === 1 ? counts[0]! : 1
      if (counts.length === 0) yield* Effect.logInfo(`bags: no embedding shards in ${dir}: embedding all rows as shard 0 of 1`)
      else if (counts.length === 1) yield* Effect.logInfo(`bags: embedding shards of ${n} found in ${dir}; embedding the missing ones`)
      if (counts.length <= 1)
        yield* embedShards(
          config,
          configDir,
          outDir,
          dir,
          Array.from({ length: n }, (_, i) => i),
          n,
          true
        )
      const set = yield* readShardSet(dir)
      yield* indexStep(
        config,
        set,
        Array.from({ length: set.n }, (_, s) => s)
      )
      yield* searchStep(
        config,
        set,
        Array.from({ length: set.n * set.n }, (_, t) => t)
      )
      yield* mergeStep(config, outDir, set)
      return 0
    }
    const set = yield* readShardSet(dir)
    if (sub === "merge") {
      yield* Effect.logInfo(`bags merge: ${set.n} embedding shards, N=${set.total}, D=${set.dim}, K=${config.bags.k}`)
      yield* mergeStep(config, outDir, set)
      return 0
    }
    const task = yield* resolveArrayTask(args.shard)
    if (sub === "index") {
      yield* logTask("bags index", task, `index shard ${task.index} of ${set.n}`)
      if (searchSettings(config, set).search !== "exact" && task.count !== set.n)
        return yield* new TaskCountMismatch({ step: "index", tasks: task.count, shards: set.n })
      yield* indexStep(config, set, [task.index])
      return 0
    }
    if (task.count !== set.n * set.n) return yield* new TaskCountMismatch({ step: "search", tasks: task.count, shards: set.n })
    yield* logTask(
      "bags search",
      task,
      `query shard ${Math.floor(task.index / set.n)} against index shard ${task.index % set.n} of ${set.n}`
    )
    yield* searchStep(config, set, [task.index])
    return 0
  })
