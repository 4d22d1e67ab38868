import { Effect } from "effect"
import { existsSync } from "node:fs"
import { join } from "node:path"
import type { BagFileError } from "./BagMinerError.ts"
import { writeNpy } from "./npy.ts"
import { bigIds, writeJson } from "./shardFileIO.ts"
import { shardFiles } from "./shardLayout.ts"

/** Whether shard i of n is finished (its rows file, written last, exists). */
export const embeddingShardDone = (dir: string, i: number, n: number): boolean => existsSync(join(dir, shardFiles.rows(i, n)))

/**
 * Write shard i of n: features (rows x dim float32), labels (int32, when given), a small json
 * (`info`, e.g. seconds), and last the int64 global ids [start, start + rows), which mark it finished.
 */
export const writeEmbeddingShard = (
  dir: string,
  i: number,
  n: number,
  shard: {
    readonly start: number
    readonly features: Float32Array
    readonly dim: number
    readonly labels?: Int32Array | undefined
    readonly info: Record<string, unknown>
  }
): Effect.Effect<void, BagFileError> =>
  Effect.gen(function* () {
    const rows = shard.features.length / shard.dim
    yield* writeNpy(join(dir, shardFiles.features(i, n)), { dtype: "float32", shape: [rows, shard.dim], data: shard.features })
    if (shard.labels !== undefined)
      yield* writeNpy(join(dir, shardFiles.labels(i, n)), { dtype: "int32", shape: [rows], data: shard.labels })
    yield* writeJson(join(dir, shardFiles.embedInfo(i, n)), { shard: i, shards: n, rows, dim: shard.dim, ...shard.info })
    yield* writeNpy(join(dir, shardFiles.rows(i, n)), {
      dtype: "int64",
      shape: [rows],
      data: bigIds(Int32Array.from({ length: rows }, (_, r) => shard.start + r))
    })
  })
