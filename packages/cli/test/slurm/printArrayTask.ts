/**
 * Prints the array task this process is, as `resolveArrayTask` sees it (JSON, one line), for
 * the Slurm tests: run as the command of a real array job's tasks. `--shard i/n` is passed on.
 */
import { Effect } from "effect"
import { resolveArrayTask } from "../../src/arrayTask.ts"

const flag = process.argv.indexOf("--shard")
const task = await Effect.runPromise(resolveArrayTask(flag >= 0 ? process.argv[flag + 1] : undefined, process.env))
process.stdout.write(`${JSON.stringify(task)}\n`)
