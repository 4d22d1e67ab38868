import { Effect, Schema } from "effect"
import { readFile } from "node:fs/promises"
import { parse } from "yaml"
import { backboneRegistry, listBackbones } from "@bingo/backbones"
import { formatSchemaProblems, userInputParseOptions } from "@bingo/runtime"
import { teacherConfigProblem } from "@bingo/teacher"
import { ConfigError } from "./ConfigError.ts"
import { PipelineConfig, TeacherSection } from "./PipelineConfig.ts"

/**
 * Decode an already-parsed config object (the `augment` section by data's `AugmentConfigSchema`:
 * an empty crop range, an even blur kernel, ... are schema problems), then check what the schema
 * cannot: the backbones exist in the registry, the teacher's keys fit its format (the teacher
 * registry). `path` is only used in error messages.
 */
export const decodeConfig = (raw: unknown, path: string) =>
  Schema.decodeUnknownEffect(PipelineConfig)(raw, userInputParseOptions).pipe(
    Effect.mapError((e) => new ConfigError({ path, reason: formatSchemaProblems(e.issue) })),
    Effect.tap((config) => checkConfig(config, path))
  )

const checkConfig = (config: PipelineConfig, path: string) =>
  Effect.gen(function* () {
    const teacherProblem = teacherFieldProblem(config.teacher)
    if (teacherProblem !== undefined) return yield* new ConfigError({ path, reason: teacherProblem })
    for (const section of ["teacher", "student"] as const) {
      const name = config[section].backbone
      if (name === undefined) continue // a model-file teacher (checked above)
      if (backboneRegistry[name] === undefined) {
        return yield* new ConfigError({
          path,
          reason: `${section}.backbone: unknown backbone '${name}'; available: ${listBackbones().join(", ")}`
        })
      }
    }
  })

/** The `teacher` section with every key at its default: what a key must differ from to count as set. */
const teacherDefaults = Schema.decodeUnknownSync(TeacherSection)({}) as Record<string, unknown>

/**
 * The teacher's keys checked against its format's registry entry (`teacherConfigProblem`): the
 * keys set to other than their defaults (`weights` always counts) must all be read by the format,
 * and the ones it needs must be there.
 */
const teacherFieldProblem = (teacher: PipelineConfig["teacher"]): string | undefined => {
  const given = Object.fromEntries(
    Object.entries(teacher).filter(
      ([k, v]) => v !== undefined && (k === "weights" || JSON.stringify(v) !== JSON.stringify(teacherDefaults[k]))
    )
  )
  return teacherConfigProblem(teacher.weightsFormat, given)
}

/**
 * A copy of a raw config object with each value set at its dotted key path, in order, e.g.
 * `[["distill.epochs", 2]]`. Intermediate objects are created as needed. `--set` overrides and
 * a study's arms (`set:`) both come here.
 */
export const setKeyPaths = (raw: unknown, entries: ReadonlyArray<readonly [keyPath: string, value: unknown]>): Record<string, unknown> => {
  const root = (typeof raw === "object" && raw !== null ? structuredClone(raw) : {}) as Record<string, unknown>
  for (const [keyPath, value] of entries) {
    const keys = keyPath.split(".")
    let node = root
    for (const k of keys.slice(0, -1)) {
      if (typeof node[k] !== "object" || node[k] === null) node[k] = {}
      node = node[k] as Record<string, unknown>
    }
    node[keys[keys.length - 1]!] = value
  }
  return root
}

/**
 * Apply `key.path=value` overrides (value parsed as YAML) to a raw config object, e.g.
 * `distill.epochs=2` (see `setKeyPaths`).
 */
export const applyOverrides = (raw: unknown, overrides: ReadonlyArray<string>, path: string) =>
  Effect.gen(function* () {
    const entries: Array<readonly [string, unknown]> = []
    for (const o of overrides) {
      const eq = o.indexOf("=")
      if (eq <= 0) return yield* new ConfigError({ path, reason: `override '${o}' is not key.path=value` })
      const text = o.slice(eq + 1)
      entries.push([
        o.slice(0, eq),
        yield* Effect.try({
          try: () => parse(text) as unknown,
          catch: (e) => new ConfigError({ path, reason: `override '${o}': value is not valid YAML: ${firstLine(e)}` })
        })
      ])
    }
    return setKeyPaths(raw, entries)
  })

const firstLine = (e: unknown): string => ((e as Error).message ?? String(e)).split("\n")[0]!

/** Read a YAML file into a raw (not yet decoded) value. */
export const readYamlFile = (path: string) =>
  Effect.gen(function* () {
    const text = yield* Effect.tryPromise({
      try: () => readFile(path, "utf8"),
      catch: (e) => new ConfigError({ path, reason: `cannot read: ${(e as Error).message}` })
    })
    return yield* Effect.try({
      try: () => parse(text) as unknown,
      catch: (e) => new ConfigError({ path, reason: `not valid YAML: ${(e as Error).message}` })
    })
  })

/** Read and decode a YAML pipeline config. */
export const loadConfig = (path: string, overrides: ReadonlyArray<string> = []) =>
  Effect.gen(function* () {
    const raw = yield* readYamlFile(path)
    return yield* decodeConfig(yield* applyOverrides(raw, overrides, path), path)
  })
