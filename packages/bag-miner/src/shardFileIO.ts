/**
 * The small files of the sharded layout (shardLayout.ts): json records written atomically, and
 * int32 row ids widened to the int64 the .npy files hold. Internal: not exported from index.ts.
 */
import { atomicWrite } from "@bingo/runtime"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { BagFileError } from "./BagMinerError.ts"

export const bigIds = (ids: ArrayLike<number>): BigInt64Array => {
  const out = new BigInt64Array(ids.length)
  for (let i = 0; i < ids.length; i++) out[i] = BigInt(ids[i]!)
  return out
}

export const writeJson = (path: string, value: unknown): Effect.Effect<void, BagFileError> =>
  Effect.try({
    try: () => atomicWrite(path, `${JSON.stringify(value, null, 2)}\n`),
    catch: (e) => new BagFileError({ path, operation: "write", reason: e instanceof Error ? e.message : String(e) })
  })

export const readJson = (path: string): Effect.Effect<Record<string, unknown>, BagFileError> =>
  Effect.try({
    try: () => JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>,
    catch: (e) => new BagFileError({ path, operation: "read", reason: e instanceof Error ? e.message : String(e) })
  })
