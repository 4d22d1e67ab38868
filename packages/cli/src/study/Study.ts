import { Effect, Schema } from "effect"
import { basename, dirname, extname, resolve } from "node:path"
import { formatSchemaProblems, userInputParseOptions } from "@bingo/runtime"
import { semiSupervisedMetric } from "@bingo/eval"
import { ConfigError } from "../ConfigError.ts"
import { decodeConfig, readYamlFile, setKeyPaths } from "../loadConfig.ts"
import type { PipelineConfig } from "../PipelineConfig.ts"
import { StudyArmError, StudyComparisonError } from "./StudyError.ts"

const withDefault = <S extends Schema.Top>(schema: S, value: S["Encoded"]) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

/** The scores every evaluation has; semi-supervised ones (`labels1pctTop1`, ...) come with `eval.semiSupervised`. */
export const baseMetrics = ["knnTop1", "knnTop5", "linearTop1", "linearTop5"] as const

/**
 * A study as written in YAML: one base pipeline config, arms that each change some of its keys,
 * and the seeds every arm runs with. Paths are relative to the study file. Unknown keys are errors.
 */
export const StudyFile = Schema.Struct({
  /** Named in logs and results.md (default: the study file's name without extension). */
  name: Schema.optionalKey(Schema.String),
  /** The base pipeline config (a `bingo run` YAML file). */
  config: Schema.String,
  /** Where shared/, cells/, results.md and the charts go. */
  outDir: Schema.String,
  /**
   * The folder of the shared teacher and bag files (default `<outDir>/shared`). Name another
   * study's to reuse its teacher and bags, e.g. a follow-up study of the same base config: files
   * that exist are read, never rewritten; missing ones are made there. Only for studies whose base
   * configs have the same teacher, dataset and seed (nothing checks that the files match).
   */
  shared: Schema.optionalKey(Schema.String),
  /** Each arm runs once per seed; a seed sets the config's `seed` (student init, order, augmentations). */
  seeds: Schema.NonEmptyArray(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  arms: Schema.NonEmptyArray(
    Schema.Struct({
      /** Folder-safe: letters, digits, `.`, `_`, `-`. */
      name: Schema.String.check(Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9._-]*$/)),
      /** Key path -> value, applied to the base config like `--set key.path=value`. */
      set: withDefault(Schema.Record(Schema.String, Schema.Unknown), {})
    })
  ),
  /** The metrics charted (one SVG each) and listed first in the table. */
  headline: withDefault(Schema.Array(Schema.String), ["knnTop1", "linearTop1"]),
  /**
   * Pairs [A, B] whose differences the table reports (A - B per headline metric, paired by seed):
   * arm names, or `random init` (the random student, one per seed; `random init (<arm> student)`
   * when the arms have several student architectures). Read by the table step only: it is no part
   * of any cell's config.
   */
  comparisons: withDefault(Schema.Array(Schema.Tuple([Schema.String, Schema.String])), []),
  /** `--dry-run`'s rate before any cell has finished: training images x epochs per second of a whole cell (default 1000). */
  imagesPerSecond: Schema.optionalKey(Schema.Number.check(Schema.isGreaterThan(0)))
})

/**
 * One side of a comparison: an arm's distilled students (`kind: "arm"`), or the random students
 * (`kind: "randomInit"`) that `arm`'s cells evaluate, one per seed. `label` is the name as written.
 */
export interface ComparisonSide {
  readonly label: string
  readonly kind: "arm" | "randomInit"
  readonly arm: string
}

/** A pair the table reports A - B for. */
export interface StudyComparison {
  readonly a: ComparisonSide
  readonly b: ComparisonSide
}

export interface Arm {
  readonly name: string
  /** The arm's key paths and values, as written. */
  readonly set: Readonly<Record<string, unknown>>
  /** The base config with the arm's settings, decoded (before the study sets seed, outDir and the shared files). */
  readonly config: PipelineConfig
}

/** A study file, decoded, with its base config and every arm's config decoded and paths resolved. */
export interface Study {
  readonly path: string
  readonly name: string
  /** Absolute. */
  readonly outDir: string
  /** Absolute: the shared teacher and bag files (`shared:`, default `<outDir>/shared`). */
  readonly sharedDir: string
  readonly seeds: ReadonlyArray<number>
  readonly headline: ReadonlyArray<string>
  readonly imagesPerSecond: number | undefined
  readonly base: {
    /** Absolute path of the base config; relative paths inside it (and in arms' values) resolve against `dir`. */
    readonly path: string
    readonly dir: string
    readonly config: PipelineConfig
  }
  readonly arms: ReadonlyArray<Arm>
  /** The `comparisons:` pairs, resolved; the table step's only (planCells never reads them). */
  readonly comparisons: ReadonlyArray<StudyComparison>
}

/**
 * Keys an arm may not set, with the reason: the study sets them per cell, or they belong to
 * the teacher and data every cell shares.
 */
const reservedKeys: ReadonlyArray<readonly [string, string]> = [
  ["seed", "a cell's seed comes from the study's seeds"],
  ["outDir", "a cell's outDir is <outDir>/cells/<arm>/seed-<s>"],
  ["name", "a cell's name is <study>/<arm>/seed-<s>"],
  ["teacher", "the teacher is shared by every cell of a study; set it in the base config"],
  ["dataset", "the dataset is shared by every cell of a study (one teacher, one set of bags); set it in the base config"],
  ["eval.teacher", "the teacher is evaluated once per study, in the first cell, when the base config's eval.teacher is true"],
  ["eval.randomBaseline", "the random student is evaluated once per seed, when the base config's eval.randomBaseline is true"]
]

const reservedReason = (keyPath: string): string | undefined =>
  reservedKeys.find(([key]) => keyPath === key || keyPath.startsWith(`${key}.`))?.[1]

/** The metric names a study's cells can report (the base four, then each arm's semi-supervised fractions). */
export const availableMetrics = (arms: ReadonlyArray<Arm>): ReadonlyArray<string> => [
  ...new Set([
    ...baseMetrics,
    ...arms.flatMap((a) => a.config.eval.semiSupervised.flatMap((f) => [semiSupervisedMetric(f, "Top1"), semiSupervisedMetric(f, "Top5")]))
  ])
]

/**
 * The arms whose cells evaluate the random student (when the base config's `eval.randomBaseline`
 * is true): the first arm with each student architecture.
 */
export const randomBaselineArms = (arms: ReadonlyArray<Pick<Arm, "name" | "config">>): ReadonlyArray<string> => {
  const studentKey = (arm: Pick<Arm, "config">) => JSON.stringify(arm.config.student)
  return arms.filter((arm, a) => arms.findIndex((other) => studentKey(other) === studentKey(arm)) === a).map((arm) => arm.name)
}

/**
 * The rows a comparison may name, by name: every arm, and the random student of each student
 * architecture (`random init`, or `random init (<arm> student)` with several architectures, as
 * the table labels them) when the base config evaluates it.
 */
const comparableRows = (arms: ReadonlyArray<Arm>, base: PipelineConfig): ReadonlyMap<string, ComparisonSide> => {
  const random = base.eval.randomBaseline ? randomBaselineArms(arms) : []
  const sides: Array<ComparisonSide> = [
    ...arms.map((a): ComparisonSide => ({ label: a.name, kind: "arm", arm: a.name })),
    ...random.map(
      (arm): ComparisonSide => ({ label: random.length === 1 ? "random init" : `random init (${arm} student)`, kind: "randomInit", arm })
    )
  ]
  return new Map(sides.map((s) => [s.label, s]))
}

/**
 * Decode an already-parsed study file at `path`: the schema, then the base config it names, then
 * every arm's config (the base with the arm's `set:` applied), each decoded like `bingo run`'s.
 * Problems name the study file and the key path (`arms[1].set: distill.epochz: Unexpected key`).
 */
export const decodeStudy = (raw: unknown, path: string) =>
  Effect.gen(function* () {
    const file = yield* Schema.decodeUnknownEffect(StudyFile)(raw, userInputParseOptions).pipe(
      Effect.mapError((e) => new ConfigError({ path, reason: formatSchemaProblems(e.issue) }))
    )
    const problem = (reason: string) => new ConfigError({ path, reason })
    for (const [i, seed] of file.seeds.entries()) {
      if (file.seeds.indexOf(seed) !== i) return yield* problem(`seeds[${i}]: seed ${seed} is listed twice`)
    }
    const names = file.arms.map((a) => a.name)
    for (const [i, name] of names.entries()) {
      if (names.indexOf(name) !== i) return yield* problem(`arms[${i}].name: arm '${name}' is listed twice`)
    }
    const dir = dirname(path)
    const basePath = resolve(dir, file.config)
    const baseRaw = yield* readYamlFile(basePath)
    const base = yield* decodeConfig(baseRaw, basePath)
    const arms: Array<Arm> = []
    for (const [i, arm] of file.arms.entries()) {
      for (const key of Object.keys(arm.set)) {
        const reason = reservedReason(key)
        if (reason !== undefined) return yield* new StudyArmError({ path, arm: arm.name, key, reason })
      }
      const config = yield* decodeConfig(setKeyPaths(baseRaw, Object.entries(arm.set)), basePath).pipe(
        Effect.mapError((e) => new ConfigError({ path, reason: `arms[${i}].set (arm '${arm.name}', applied to ${e.path}): ${e.reason}` }))
      )
      arms.push({ name: arm.name, set: arm.set, config })
    }
    const metrics = availableMetrics(arms)
    for (const [i, metric] of file.headline.entries()) {
      if (!metrics.includes(metric)) return yield* problem(`headline[${i}]: unknown metric '${metric}'; available: ${metrics.join(", ")}`)
    }
    const rows = comparableRows(arms, base)
    const comparisons: Array<StudyComparison> = []
    for (const [i, pair] of file.comparisons.entries()) {
      const error = (j: number, reason: string) =>
        new StudyComparisonError({ path, field: `comparisons[${i}][${j}]`, name: pair[j]!, reason, valid: [...rows.keys()] })
      const [a, b] = [rows.get(pair[0]), rows.get(pair[1])]
      if (a === undefined) return yield* error(0, `unknown arm or baseline '${pair[0]}'`)
      if (b === undefined) return yield* error(1, `unknown arm or baseline '${pair[1]}'`)
      if (a === b) return yield* error(1, `'${pair[1]}' is compared with itself`)
      comparisons.push({ a, b })
    }
    const study: Study = {
      path,
      name: file.name ?? basename(path, extname(path)),
      outDir: resolve(dir, file.outDir),
      sharedDir: file.shared === undefined ? resolve(dir, file.outDir, "shared") : resolve(dir, file.shared),
      seeds: file.seeds,
      headline: file.headline,
      imagesPerSecond: file.imagesPerSecond,
      base: { path: basePath, dir: dirname(basePath), config: base },
      arms,
      comparisons
    }
    return study
  })

/** Read and decode a study YAML file. */
export const loadStudy = (path: string) =>
  Effect.gen(function* () {
    const absolute = resolve(path)
    return yield* decodeStudy(yield* readYamlFile(absolute), absolute)
  })
