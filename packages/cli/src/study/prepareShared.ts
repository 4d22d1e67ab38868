import { Effect } from "effect"
import { existsSync } from "node:fs"
import { basename } from "node:path"
import { BagMiner } from "@bingo/bag-miner"
import { DatasetSource } from "@bingo/data"
import { Teacher } from "@bingo/teacher"
import type { PipelineConfig } from "../PipelineConfig.ts"
import { augmentOf, pipelineLayer } from "../runPipeline.ts"
import { type Cell, type SharedBags, sharedDir } from "./cellPlan.ts"
import type { Study } from "./Study.ts"

/** What `prepareShared` made (nothing when every file existed). */
export interface PreparedShared {
  /** The teacher was pre-trained into shared/teacher.safetensors. */
  readonly teacher: boolean
  /** Bag files mined into shared/. */
  readonly bags: ReadonlyArray<string>
}

/**
 * Make the shared files `cells` read and that do not exist yet, in one pass: pre-train the
 * teacher (the base config's teacher and seed, written to `<outDir>/shared/teacher.safetensors`
 * by the same layer `bingo run` uses) and mine each missing bag file from it (the base config's
 * seed; the teacher embeds the training set once for all kNN / k-means files; label and random
 * bags need no embedding). Existing files are never rewritten.
 *
 * Two shard processes started together may both find a file missing and both make it: the same
 * seed gives the same bytes, and each write is atomic (temp file + rename), so either way every
 * cell reads one whole, identical file.
 */
export const prepareShared = Effect.fn("prepareShared")(function* (study: Study, cells: ReadonlyArray<Cell>) {
  const teacherPath = cells.find((c) => c.shared.teacher !== undefined)?.shared.teacher
  const makeTeacher = teacherPath !== undefined && !existsSync(teacherPath)
  const missingBags = [
    ...new Map(cells.flatMap((c) => (c.shared.bags === undefined ? [] : [[c.shared.bags.path, c.shared.bags] as const]))).values()
  ].filter((b) => !existsSync(b.path))
  if (!makeTeacher && missingBags.length === 0) return { teacher: false, bags: [] } satisfies PreparedShared
  yield* Effect.logInfo(
    `study: shared files: ${[...(makeTeacher ? ["teacher (pre-training)"] : []), ...missingBags.map((b) => basename(b.path))].join(", ")} -> ${sharedDir(study)}`
  )
  // the base config, run in shared/: pipelineLayer's teacher pre-trains (or loads) <shared>/teacher.safetensors
  const config: PipelineConfig = { ...study.base.config, name: `${study.name}/shared`, outDir: sharedDir(study) }
  yield* Effect.scoped(
    Effect.gen(function* () {
      const teacher = yield* Teacher
      if (missingBags.length === 0) return
      const { train } = yield* (yield* DatasetSource).load
      let features: { readonly values: Float32Array; readonly dim: number } | undefined
      for (const bags of missingBags) {
        const embed = bags.method === "knn" || bags.method === "kmeans" || train.labels === undefined
        if (embed && features === undefined) features = yield* teacher.embedDataset(train, augmentOf(config, train))
        yield* mineBags(bags, config.seed, {
          features: embed ? features!.values : new Float32Array(0),
          dim: embed ? features!.dim : 1,
          ...(train.labels === undefined ? {} : { labels: train.labels })
        })
      }
    })
  ).pipe(Effect.provide(pipelineLayer(config, study.base.dir)))
  return { teacher: makeTeacher, bags: missingBags.map((b) => b.path) } satisfies PreparedShared
})

const mineBags = (bags: SharedBags, seed: number, input: Parameters<BagMiner["Service"]["mine"]>[0]) =>
  Effect.gen(function* () {
    const miner = yield* BagMiner
    yield* miner.save(bags.path, yield* miner.mine(input))
  }).pipe(
    Effect.provide(
      BagMiner.layer({ method: bags.method, k: bags.k, seed, ...(bags.clusters === undefined ? {} : { clusters: bags.clusters }) })
    )
  )
