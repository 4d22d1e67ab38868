import { Effect, Schema } from "effect"
import { readFile } from "node:fs/promises"
import { parse } from "yaml"
import { backboneRegistry, listBackbones } from "@bingo/backbones"
import { formatSchemaProblems, userInputParseOptions } from "@bingo/runtime"
import { ConfigError } from "./ConfigError.ts"
import { PipelineConfig } from "./PipelineConfig.ts"

/**
 * Decode an already-parsed config object (the `augment` section by data's `AugmentConfigSchema`:
 * an empty crop range, an even blur kernel, ... are schema problems), then check what the schema
 * cannot: the backbones exist in the registry. `path` is only used in error messages.
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

/** Keys of `teacher` that only some weight formats read, and the formats that read them. */
const formatFields = {
  backbone: ["bingo", "torchvision"],
  stem: ["bingo", "torchvision"],
  weightsPrefix: ["torchvision"],
  featureOutput: ["onnx", "tfjs"],
  embeddingOutput: ["onnx", "tfjs"],
  input: ["onnx", "tfjs"]
} as const satisfies Record<string, ReadonlyArray<PipelineConfig["teacher"]["weightsFormat"]>>

/**
 * The first problem with the teacher's keys for its `weightsFormat`, or undefined: a model file
 * (onnx, tfjs) needs `weights` and `featureOutput` and has no backbone of bingo's; an encoder (bingo,
 * torchvision, or pre-trained here) needs `backbone`. Keys another format reads are refused
 * rather than silently ignored.
 */
const teacherFieldProblem = (teacher: PipelineConfig["teacher"]): string | undefined => {
  const format = teacher.weightsFormat
  for (const [key, formats] of Object.entries(formatFields)) {
    if (teacher[key as keyof typeof formatFields] !== undefined && !(formats as ReadonlyArray<string>).includes(format)) {
      return `teacher.${key}: not read by weightsFormat ${format} (only by ${formats.join(", ")})`
    }
  }
  if (format === "onnx" || format === "tfjs") {
    if (teacher.weights === undefined) return `teacher.weights: required for weightsFormat ${format} (the model file)`
    if (teacher.featureOutput === undefined)
      return `teacher.featureOutput: required for weightsFormat ${format} (the output with the pooled features)`
    if (teacher.bnMode !== "eval")
      return `teacher.bnMode: ${teacher.bnMode} needs a teacher bingo builds (weightsFormat bingo or torchvision); a ${format} model runs as exported`
    return undefined
  }
  if (teacher.backbone === undefined) {
    return `teacher.backbone: required for weightsFormat ${format}${teacher.weights === undefined ? " (the teacher pre-trained here)" : ""}`
  }
  return undefined
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
