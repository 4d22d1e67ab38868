import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { mkdirSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { repoRoot } from "../cliProcess.ts"
import { type SlurmCluster, slurmUnavailable, startSlurmCluster } from "./slurmCluster.ts"

/** examples/scaling/slurm: the sbatch scripts and submit.sh that chains them. */
const slurmExample = join(repoRoot, "examples/scaling/slurm")
const submitSh = join(slurmExample, "submit.sh")

const title = `examples/scaling/slurm on a one-node Slurm cluster${slurmUnavailable !== undefined ? ` (skipped: ${slurmUnavailable})` : ""}`

describe.skipIf(slurmUnavailable !== undefined)(title, () => {
  let cluster: SlurmCluster
  beforeAll(async () => {
    cluster = await startSlurmCluster()
  }, 60_000)
  afterAll(() => cluster?.stop(), 60_000)

  /** Run submit.sh; its "<step> <job id>" lines as a record. */
  const submit = async (args: ReadonlyArray<string>, env: Record<string, string>, cwd: string) => {
    const out = await cluster.command(submitSh, args, { env, cwd })
    return Object.fromEntries(
      out
        .trim()
        .split("\n")
        .map((l) => l.split(" ") as [string, string])
    )
  }

  it("submit.sh chains embed (n tasks) -> index (n) -> search (n*n) -> merge (1), each step after the last one's tasks", async () => {
    // BINGO stands in for the CLI: each task records its arguments, array variables and times
    const records = join(cluster.dir, "records")
    mkdirSync(records)
    const recorder = cluster.script(
      "record.sh",
      `#!/bin/bash\nstart=$(date +%s%N)\nsleep 0.3\necho "$* | \${SLURM_ARRAY_TASK_ID:--} \${SLURM_ARRAY_TASK_MIN:--} \${SLURM_ARRAY_TASK_COUNT:--} | $start $(date +%s%N)" > "${records}/$SLURM_JOB_ID"\n`
    )
    const jobs = await submit(
      ["my config.yaml", "2", "--set", "bags.search=hnsw"],
      { BINGO: recorder, BINGO_SLURM_LOGS: join(cluster.dir, "logs") },
      cluster.dir
    )
    expect(Object.keys(jobs)).toEqual(["embed", "index", "search", "merge"])
    await cluster.waitFor(Object.values(jobs), 90_000)

    const lines = readdirSync(records).map((f) => readFileSync(join(records, f), "utf8").trim().split(" | "))
    const step = (command: string) => {
      const mine = lines.filter(([args]) => args === `${command} my config.yaml --set bags.search=hnsw`)
      return {
        tasks: mine.map(([, task]) => task).sort(),
        start: Math.min(...mine.map(([, , times]) => Number(times!.split(" ")[0]) / 1e6)),
        end: Math.max(...mine.map(([, , times]) => Number(times!.split(" ")[1]) / 1e6))
      }
    }
    const embed = step("embed")
    const index = step("bags index")
    const search = step("bags search")
    const merge = step("bags merge")
    expect(lines).toHaveLength(2 + 2 + 4 + 1)
    expect(embed.tasks).toEqual(["0 0 2", "1 0 2"])
    expect(index.tasks).toEqual(["0 0 2", "1 0 2"])
    expect(search.tasks).toEqual(["0 0 4", "1 0 4", "2 0 4", "3 0 4"])
    expect(merge.tasks).toEqual(["- - -"])
    expect(index.start).toBeGreaterThanOrEqual(embed.end)
    expect(search.start).toBeGreaterThanOrEqual(index.end)
    expect(merge.start).toBeGreaterThanOrEqual(search.end)
    // the jobs' output went to BINGO_SLURM_LOGS, named after the job
    expect(readdirSync(join(cluster.dir, "logs")).sort()).toEqual(
      [
        `bingo-embed-${jobs["embed"]}_0.out`,
        `bingo-embed-${jobs["embed"]}_1.out`,
        `bingo-index-${jobs["index"]}_0.out`,
        `bingo-index-${jobs["index"]}_1.out`,
        ...[0, 1, 2, 3].map((t) => `bingo-search-${jobs["search"]}_${t}.out`),
        `bingo-merge-${jobs["merge"]}.out`
      ].sort()
    )
  }, 120_000)

  it("submit.sh refuses an n that is not a positive integer, before submitting anything", async () => {
    const error = await cluster.command(submitSh, ["config.yaml", "0"], { cwd: cluster.dir }).then(
      () => undefined,
      (e: Error) => e
    )
    expect(error?.message).toContain("n must be a positive integer (the number of embedding shards), not '0'")
    expect((await cluster.command("squeue", ["-h"])).trim()).toBe("")
  })
})
