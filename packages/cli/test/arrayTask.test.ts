import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { failureOf } from "@bingo/runtime"
import { resolveArrayTask } from "../src/arrayTask.ts"

describe("resolveArrayTask", () => {
  it.effect("--shard wins over the environment", () =>
    Effect.gen(function* () {
      const task = yield* resolveArrayTask("1/3", { SLURM_ARRAY_TASK_ID: "0", SLURM_ARRAY_TASK_COUNT: "2" })
      expect(task).toEqual({ index: 1, count: 3, source: "--shard" })
    })
  )
  it.effect("Slurm: the task id counts from SLURM_ARRAY_TASK_MIN", () =>
    Effect.gen(function* () {
      const env = { SLURM_ARRAY_TASK_ID: "4", SLURM_ARRAY_TASK_MIN: "1", SLURM_ARRAY_TASK_COUNT: "4" }
      expect(yield* resolveArrayTask(undefined, env)).toEqual({ index: 3, count: 4, source: "slurm" })
      expect(yield* resolveArrayTask(undefined, { SLURM_ARRAY_TASK_ID: "0", SLURM_ARRAY_TASK_COUNT: "2" })).toEqual({
        index: 0,
        count: 2,
        source: "slurm"
      })
    })
  )
  it.effect("Kubernetes: JOB_COMPLETION_INDEX with BINGO_TASK_COUNT", () =>
    Effect.gen(function* () {
      expect(yield* resolveArrayTask(undefined, { JOB_COMPLETION_INDEX: "2", BINGO_TASK_COUNT: "3" })).toEqual({
        index: 2,
        count: 3,
        source: "kubernetes"
      })
      const missing = failureOf(yield* Effect.exit(resolveArrayTask(undefined, { JOB_COMPLETION_INDEX: "2" })))!
      expect(missing._tag).toBe("InvalidShard")
      expect(missing.message).toContain("BINGO_TASK_COUNT is not set")
    })
  )
  it.effect("no flag, no variables: the only task", () =>
    Effect.gen(function* () {
      expect(yield* resolveArrayTask(undefined, {})).toEqual({ index: 0, count: 1, source: "single" })
    })
  )
  it.effect("bad values are typed errors naming the variable", () =>
    Effect.gen(function* () {
      const bad = failureOf(yield* Effect.exit(resolveArrayTask(undefined, { SLURM_ARRAY_TASK_ID: "x", SLURM_ARRAY_TASK_COUNT: "2" })))!
      expect(bad.message).toContain("SLURM_ARRAY_TASK_ID=x")
      const past = failureOf(yield* Effect.exit(resolveArrayTask(undefined, { SLURM_ARRAY_TASK_ID: "5", SLURM_ARRAY_TASK_COUNT: "2" })))!
      expect(past.message).toContain("not below the count 2")
      const flag = failureOf(yield* Effect.exit(resolveArrayTask("3/2", {})))!
      expect(flag.message).toMatch(/^--shard 3\/2:/)
    })
  )
})
