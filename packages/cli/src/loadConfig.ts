import { Effect, Schema } from "effect"
import { readFile } from "node:fs/promises"
import { parse } from "yaml"
import { ConfigError } from "./ConfigError.ts"
import { PipelineConfig } from "./PipelineConfig.ts"

/** Decode an already-parsed config object; `path` is only used in error messages. */
export const decodeConfig = (raw: unknown, path: string) =>
  Schema.decodeUnknownEffect(PipelineConfig)(raw, { onExcessProperty: "error", errors: "all" }).pipe(
    Effect.mapError((e) => new ConfigError({ path, reason: e.message }))
  )

/**
 * Apply `key.path=value` overrides (value parsed as YAML) to a raw config object, e.g.
 * `distill.epochs=2`. Intermediate objects are created as needed.
 */
export const applyOverrides = (raw: unknown, overrides: ReadonlyArray<string>, path: string) =>
  Effect.gen(function*() {
    const root = (typeof raw === "object" && raw !== null ? structuredClone(raw) : {}) as Record<string, unknown>
    for (const o of overrides) {
      const eq = o.indexOf("=")
      if (eq <= 0) return yield* new ConfigError({ path, reason: `override '${o}' is not key.path=value` })
      const keys = o.slice(0, eq).split(".")
      let node = root
      for (const k of keys.slice(0, -1)) {
        if (typeof node[k] !== "object" || node[k] === null) node[k] = {}
        node = node[k] as Record<string, unknown>
      }
      node[keys[keys.length - 1]!] = parse(o.slice(eq + 1))
    }
    return root
  })

/** Read and decode a YAML pipeline config. */
export const loadConfig = (path: string, overrides: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const text = yield* Effect.tryPromise({
      try: () => readFile(path, "utf8"),
      catch: (e) => new ConfigError({ path, reason: `cannot read: ${(e as Error).message}` })
    })
    const raw = yield* Effect.try({
      try: () => parse(text) as unknown,
      catch: (e) => new ConfigError({ path, reason: `not valid YAML: ${(e as Error).message}` })
    })
    return yield* decodeConfig(yield* applyOverrides(raw, overrides, path), path)
  })
