import { Effect } from "effect"
import { parseShard, type Shard } from "./study/cellPlan.ts"
import { InvalidShard } from "./study/StudyError.ts"

/**
 * Which task of an array job this process is: `--shard i/n` when given, otherwise the
 * scheduler's array variables, otherwise the only task (0 of 1).
 *
 * - Slurm (`sbatch --array=a-b`): `SLURM_ARRAY_TASK_ID` minus `SLURM_ARRAY_TASK_MIN`, of
 *   `SLURM_ARRAY_TASK_COUNT` tasks (so `--array=1-4` works as well as `--array=0-3`).
 * - Kubernetes Indexed Job: `JOB_COMPLETION_INDEX` (0-based); Kubernetes sets no variable
 *   with the completions count, so the manifest passes it as `BINGO_TASK_COUNT` (or the
 *   command passes `--shard $(JOB_COMPLETION_INDEX)/n`).
 * - `BINGO_TASK_INDEX` / `BINGO_TASK_COUNT`: any other scheduler.
 *
 * `source` says where the task came from, for the log line.
 */
export interface ArrayTask extends Shard {
  readonly source: "--shard" | "slurm" | "kubernetes" | "bingo" | "single"
}

export type Env = Readonly<Record<string, string | undefined>>

const integer = (env: Env, name: string): Effect.Effect<number | undefined, InvalidShard> => {
  const text = env[name]
  if (text === undefined || text.trim() === "") return Effect.succeed(undefined)
  const value = Number(text)
  return Number.isInteger(value) && value >= 0
    ? Effect.succeed(value)
    : Effect.fail(new InvalidShard({ shard: `${name}=${text}`, reason: `${name} must be a non-negative integer` }))
}

const checked = (index: number, count: number, what: string, source: ArrayTask["source"]) =>
  count < 1
    ? Effect.fail(new InvalidShard({ shard: what, reason: "the task count must be at least 1" }))
    : index >= count
      ? Effect.fail(
          new InvalidShard({ shard: what, reason: `task ${index} is not below the count ${count} (tasks are numbered 0 to ${count - 1})` })
        )
      : Effect.succeed<ArrayTask>({ index, count, source })

/** The array task of this process (see `ArrayTask`); `flag` is the `--shard` value, if any. */
export const resolveArrayTask = (flag: string | undefined, env: Env = process.env): Effect.Effect<ArrayTask, InvalidShard> =>
  Effect.gen(function* () {
    if (flag !== undefined) return { ...(yield* parseShard(flag)), source: "--shard" as const }
    const slurmId = yield* integer(env, "SLURM_ARRAY_TASK_ID")
    if (slurmId !== undefined) {
      const min = (yield* integer(env, "SLURM_ARRAY_TASK_MIN")) ?? 0
      const count = yield* integer(env, "SLURM_ARRAY_TASK_COUNT")
      if (count === undefined)
        return yield* new InvalidShard({
          shard: `SLURM_ARRAY_TASK_ID=${slurmId}`,
          reason: "SLURM_ARRAY_TASK_COUNT is not set; pass --shard i/n"
        })
      return yield* checked(slurmId - min, count, `SLURM_ARRAY_TASK_ID=${slurmId} (min ${min}) of ${count}`, "slurm")
    }
    const k8sIndex = yield* integer(env, "JOB_COMPLETION_INDEX")
    const bingoIndex = yield* integer(env, "BINGO_TASK_INDEX")
    const index = k8sIndex ?? bingoIndex
    if (index !== undefined) {
      const name = k8sIndex !== undefined ? "JOB_COMPLETION_INDEX" : "BINGO_TASK_INDEX"
      const count = yield* integer(env, "BINGO_TASK_COUNT")
      if (count === undefined)
        return yield* new InvalidShard({
          shard: `${name}=${index}`,
          reason: "BINGO_TASK_COUNT is not set (the number of tasks: a Job's completions); set it or pass --shard i/n"
        })
      return yield* checked(index, count, `${name}=${index} of ${count}`, k8sIndex !== undefined ? "kubernetes" : "bingo")
    }
    return { index: 0, count: 1, source: "single" as const }
  })
