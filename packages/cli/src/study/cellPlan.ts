import { Effect } from "effect"
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import type { PipelineConfig } from "../PipelineConfig.ts"
import { randomBaselineArms, type Study } from "./Study.ts"
import { InvalidShard } from "./StudyError.ts"

/** A bag file shared by every cell with the same bag setting, mined once. */
export interface SharedBags {
  readonly path: string
  readonly method: PipelineConfig["bags"]["method"]
  readonly k: number
  readonly clusters?: number
}

/** One run of one arm with one seed. */
export interface Cell {
  /** 0-based position in the plan (seed-major: every arm with the first seed, then the next seed). */
  readonly index: number
  readonly arm: string
  readonly seed: number
  /** `<outDir>/cells/<arm>/seed-<seed>` */
  readonly dir: string
  /** `<dir>/cell.json`, written when the cell has finished. */
  readonly recordPath: string
  /** `<dir>/failed.json`, written instead when its training collapsed or diverged (see FailedCell). */
  readonly failurePath: string
  /** What `runPipeline` gets: the arm's config with the cell's seed, outDir and name, the shared teacher and bags, and which baselines to evaluate. */
  readonly config: PipelineConfig
  /** Shared files the cell reads and the study makes first when missing: the pre-trained teacher (absent when the base config names `teacher.weights`) and the bags (absent when the arm names `bags.file`). */
  readonly shared: { readonly teacher?: string; readonly bags?: SharedBags }
}

/** The study's `shared:` folder (default `<outDir>/shared`): the teacher and the bag files every cell reuses. */
export const sharedDir = (study: Study): string => study.sharedDir

/** `bags-<method>-k<K>.npy`, with `-c<clusters>` for k-means: one file per distinct bag setting. */
export const sharedBagsName = (bags: PipelineConfig["bags"]): string =>
  `bags-${bags.method}-k${bags.k}${bags.method === "kmeans" && bags.clusters !== undefined ? `-c${bags.clusters}` : ""}.npy`

/**
 * The cells of a study, arms x seeds, seed-major (after the first `arms.length` cells every arm
 * has one seed). Each cell's config is its arm's with:
 * - `seed` = the cell's seed (student initialisation, data order, augmentations);
 * - `outDir` = `<outDir>/cells/<arm>/seed-<seed>` (checkpoint, student, results.json, cell.json);
 * - `teacher.weights` = the base config's, or `<shared>/teacher.safetensors` (`<shared>`: the
 *   study's `shared:`, default `<outDir>/shared`), pre-trained once with the base config's seed;
 * - `bags.file` = the arm's, or `<shared>/bags-<method>-k<K>[-c<C>].npy`, mined once with
 *   the base config's seed from the shared teacher;
 * - `eval.teacher` only in cell 0 and `eval.randomBaseline` only in the cells of the first arm
 *   with each student architecture (so once per seed and architecture), each when the base
 *   config asks for it.
 */
export const planCells = (study: Study): ReadonlyArray<Cell> => {
  const base = study.base.config
  const sharedTeacher = base.teacher.weights === undefined ? join(sharedDir(study), "teacher.safetensors") : undefined
  const randomBaseline = new Set(randomBaselineArms(study.arms))
  return study.seeds.flatMap((seed, s) =>
    study.arms.map((arm, a): Cell => {
      const index = s * study.arms.length + a
      const dir = join(study.outDir, "cells", arm.name, `seed-${seed}`)
      const bags =
        arm.config.bags.file === undefined
          ? {
              path: join(sharedDir(study), sharedBagsName(arm.config.bags)),
              method: arm.config.bags.method,
              k: arm.config.bags.k,
              ...(arm.config.bags.method === "kmeans" && arm.config.bags.clusters !== undefined
                ? { clusters: arm.config.bags.clusters }
                : {})
            }
          : undefined
      const config: PipelineConfig = {
        ...arm.config,
        name: `${study.name}/${arm.name}/seed-${seed}`,
        seed,
        outDir: dir,
        teacher:
          sharedTeacher === undefined
            ? { ...arm.config.teacher, weights: resolve(study.base.dir, base.teacher.weights!) }
            : { ...arm.config.teacher, weights: sharedTeacher, weightsFormat: "bingo" },
        bags: bags === undefined ? arm.config.bags : { ...arm.config.bags, file: bags.path },
        eval: {
          ...arm.config.eval,
          teacher: base.eval.teacher && index === 0,
          randomBaseline: base.eval.randomBaseline && randomBaseline.has(arm.name)
        }
      }
      return {
        index,
        arm: arm.name,
        seed,
        dir,
        recordPath: join(dir, "cell.json"),
        failurePath: join(dir, "failed.json"),
        config,
        shared: { ...(sharedTeacher === undefined ? {} : { teacher: sharedTeacher }), ...(bags === undefined ? {} : { bags }) }
      }
    })
  )
}

/** Whether a cell has finished (its cell.json exists; cell.json is written last, atomically). */
export const isDone = (cell: Cell): boolean => existsSync(cell.recordPath)

/** A cell whose training collapsed or diverged (it has a failed.json and no cell.json). */
export const isFailed = (cell: Cell): boolean => !isDone(cell) && existsSync(cell.failurePath)

/** Shard `index` of `count`: the cells whose index mod `count` is `index`. */
export interface Shard {
  readonly index: number
  readonly count: number
}

/** Parse `i/n` (0-based, i < n). */
export const parseShard = (text: string): Effect.Effect<Shard, InvalidShard> => {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim())
  if (m === null) return Effect.fail(new InvalidShard({ shard: text, reason: "expected i/n, e.g. 0/2 (0-based shard i of n)" }))
  const index = Number(m[1])
  const count = Number(m[2])
  if (count < 1) return Effect.fail(new InvalidShard({ shard: text, reason: "n must be at least 1" }))
  if (index >= count)
    return Effect.fail(new InvalidShard({ shard: text, reason: `i must be below n (shards are numbered 0 to ${count - 1})` }))
  return Effect.succeed({ index, count })
}

/** Whether `cell` belongs to `shard` (every cell when there is no shard). */
export const inShard = (cell: Cell, shard: Shard | undefined): boolean => shard === undefined || cell.index % shard.count === shard.index
