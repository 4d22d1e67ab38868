import { Effect } from "effect"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { checkDistillationLoss, type DistillationLoss } from "@bingo/losses"
import { PluginError } from "./ConfigError.ts"

/**
 * Import each plugin module (paths relative to `baseDir`) and collect the losses it exports:
 * its default export, or an exported `losses` array. A module that exports no valid loss is a
 * PluginError naming the file and what is wrong.
 */
export const loadPlugins = (paths: ReadonlyArray<string>, baseDir: string) =>
  Effect.forEach(paths, (p) =>
    Effect.gen(function* () {
      const file = resolve(baseDir, p)
      const mod = yield* Effect.tryPromise({
        try: () => import(pathToFileURL(file).href) as Promise<Record<string, unknown>>,
        catch: (e) => new PluginError({ path: file, reason: `cannot import: ${(e as Error).message}` })
      })
      const candidates = Array.isArray(mod.losses) ? mod.losses : [mod.default]
      const losses: Array<DistillationLoss> = []
      for (const c of candidates) {
        const problem = checkDistillationLoss(c)
        if (problem !== undefined) return yield* new PluginError({ path: file, reason: problem })
        losses.push(c as DistillationLoss)
      }
      return losses
    })
  ).pipe(Effect.map((lists) => lists.flat()))
