import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { existsSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { repoRoot } from "../cliProcess.ts"
import { processesOf, type SlurmCluster, slurmUnavailable, startSlurmCluster } from "./slurmCluster.ts"

const title = `one-node Slurm cluster${slurmUnavailable !== undefined ? ` (skipped: ${slurmUnavailable})` : ""}`

describe.skipIf(slurmUnavailable !== undefined)(title, () => {
  let cluster: SlurmCluster
  beforeAll(async () => {
    cluster = await startSlurmCluster()
  }, 60_000)
  afterAll(() => cluster?.stop(), 60_000)

  it("runs an array's tasks with their ids, and an afterok job only after all of them", async () => {
    const out = join(cluster.dir, "array-ok")
    mkdirSync(out)
    // each task takes a second, so a job that did not wait would find some files missing
    const task = cluster.script(
      "task.sh",
      `#!/bin/bash\nsleep 1\necho "$SLURM_ARRAY_TASK_ID $SLURM_ARRAY_TASK_MIN $SLURM_ARRAY_TASK_COUNT" > "${out}/task-$SLURM_ARRAY_TASK_ID"\n`
    )
    const after = cluster.script("after.sh", `#!/bin/bash\ncd "${out}" && ls && cat task-*\n`)
    const array = await cluster.submit(task, { array: "0-2" })
    const dependent = await cluster.submit(after, { dependency: `afterok:${array}` })
    const [waiting] = await cluster.tasks(dependent)
    expect(waiting!.state).toBe("PENDING")
    expect(waiting!.reason).toBe("Dependency")

    const tasks = await cluster.waitFor([array], 60_000)
    expect(tasks.map((t) => t.arrayTaskId).sort()).toEqual(["0", "1", "2"])
    const [last] = await cluster.waitFor([dependent], 60_000)
    expect(last!.stdout).toBe("task-0\ntask-1\ntask-2\n0 0 3\n1 0 3\n2 0 3\n")
    for (const t of tasks) expect(last!.startTime >= t.endTime).toBe(true)
  }, 120_000)

  it("waitFor fails with the failed task's exit code and output; a job after it never runs", async () => {
    const failing = cluster.script(
      "failing.sh",
      `#!/bin/bash\necho "task $SLURM_ARRAY_TASK_ID starts"\nif [ "$SLURM_ARRAY_TASK_ID" = 1 ]; then echo "no input for task 1" >&2; exit 3; fi\n`
    )
    const marker = join(cluster.dir, "after-failure-ran")
    const array = await cluster.submit(failing, { array: "0-1" })
    const dependent = await cluster.submit(cluster.script("never.sh", `#!/bin/bash\ntouch "${marker}"\n`), {
      dependency: `afterok:${array}`
    })
    const error = await cluster.waitFor([array, dependent], 60_000).then(
      () => undefined,
      (e: Error) => e
    )
    expect(error?.message).toMatch(new RegExp(`job ${array}_1: FAILED \\(exit 3:0`))
    expect(error?.message).toContain("task 1 starts")
    expect(error?.message).toContain("no input for task 1")
    expect(error?.message).not.toContain(`job ${array}_0:`)
    const [never] = await cluster.tasks(dependent)
    expect(["CANCELLED", "PENDING"]).toContain(never!.state)
    expect(never!.reason).toBe("DependencyNeverSatisfied")
    expect(existsSync(marker)).toBe(false)
  }, 120_000)

  it("resolveArrayTask sees each task of a real Slurm array, counting from the array's first id", async () => {
    const print = cluster.script(
      "print-task.sh",
      `#!/bin/bash\nexec "${process.execPath}" --conditions=@bingo/source --import tsx packages/cli/test/slurm/printArrayTask.ts\n`
    )
    const fromZero = await cluster.submit(print, { array: "0-2", cwd: repoRoot })
    const fromOne = await cluster.submit(print, { array: "1-3", cwd: repoRoot })
    const seen = async (jobId: string) =>
      (await cluster.waitFor([jobId], 90_000))
        .map((t) => ({ id: t.arrayTaskId, task: JSON.parse(t.stdout) as unknown }))
        .sort((a, b) => Number(a.id) - Number(b.id))
    const slurm = (index: number) => ({ index, count: 3, source: "slurm" })
    expect(await seen(fromZero)).toEqual([
      { id: "0", task: slurm(0) },
      { id: "1", task: slurm(1) },
      { id: "2", task: slurm(2) }
    ])
    expect(await seen(fromOne)).toEqual([
      { id: "1", task: slurm(0) },
      { id: "2", task: slurm(1) },
      { id: "3", task: slurm(2) }
    ])
  }, 120_000)

  it("stop() leaves no daemon, job or step behind, even with a job still running", async () => {
    const other = await startSlurmCluster()
    const conf = other.env["SLURM_CONF"]!
    try {
      const job = await other.submit(other.script("long.sh", "#!/bin/bash\nsleep 600\n"))
      for (let i = 0; (await other.tasks(job))[0]!.state !== "RUNNING"; i++) {
        if (i > 100) throw new Error(`job ${job} did not start:\n${other.logs()}`)
        await new Promise((ok) => setTimeout(ok, 100))
      }
      // slurmd, the job's slurmstepd and its sleep all carry the cluster's SLURM_CONF
      expect(processesOf(conf).length).toBeGreaterThanOrEqual(4)
    } finally {
      await other.stop()
    }
    expect(processesOf(conf)).toEqual([])
    for (const pid of other.daemonPids) expect(() => process.kill(pid, 0)).toThrow()
    expect(existsSync(other.dir)).toBe(false)
  }, 120_000)
})
