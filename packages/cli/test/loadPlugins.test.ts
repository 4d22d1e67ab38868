import { failureOf } from "@bingo/runtime"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { loadPlugins } from "../src/loadPlugins.ts"

describe("loadPlugins", () => {
  it.effect("imports a loss module and names the file when it exports no loss", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "bingo-plugin-"))
      writeFileSync(
        join(dir, "good.mjs"),
        `export default { name: "zero", description: "d", needs: [], defaults: {}, decodeOptions: () => ({}), compute: () => { throw new Error("unused") } }\n`
      )
      writeFileSync(join(dir, "bad.mjs"), `export default { name: "broken" }\n`)
      const losses = yield* loadPlugins(["good.mjs"], dir)
      expect(losses.map((l) => l.name)).toEqual(["zero"])
      const bad = yield* Effect.exit(loadPlugins(["bad.mjs"], dir))
      expect(failureOf(bad)).toMatchObject({
        _tag: "PluginError",
        path: join(dir, "bad.mjs"),
        reason: "loss 'broken': 'description' must be a string"
      })
      const missing = yield* Effect.exit(loadPlugins(["missing.mjs"], dir))
      expect(failureOf(missing)).toMatchObject({
        _tag: "PluginError",
        path: join(dir, "missing.mjs"),
        reason: expect.stringMatching(/^cannot import/)
      })
    })
  )
})
