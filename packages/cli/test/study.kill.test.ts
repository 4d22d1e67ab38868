import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { spawnCli } from "./cliProcess.ts"
import { tinyStudyBase } from "./studyFixture.ts"

/** The study smoke test's tiny base config, distilled 2 epochs with a checkpoint every step (a kill lands mid-cell), without semi-supervised probes. */
const baseYaml = tinyStudyBase
  .map((line) =>
    line.startsWith("distill:")
      ? "distill: { epochs: 2, batchSize: 64, lr: 0.01, queueSize: 128, checkpointEverySteps: 1 }"
      : line.startsWith("eval:")
        ? "eval: { knn: { k: 10 }, linear: { epochs: 2 } }"
        : line
  )
  .join("\n")

const studyYaml = [
  "name: smoke",
  "config: base.yaml",
  "outDir: out",
  "seeds: [0, 1]",
  "arms:",
  "  - name: knn",
  "  - name: random-bags",
  "    set: { bags.method: random }"
].join("\n")

const cells = ["knn/seed-0", "random-bags/seed-0", "knn/seed-1", "random-bags/seed-1"]

const studyDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "bingo-study-kill-"))
  writeFileSync(join(dir, "base.yaml"), baseYaml)
  writeFileSync(join(dir, "study.yaml"), studyYaml)
  return dir
}

/** What a cell's training and evaluation produced (not its timings, RSS, commit). */
const outcome = (dir: string, cell: string) => {
  const r = JSON.parse(readFileSync(join(dir, "out", "cells", cell, "cell.json"), "utf8"))
  return { scores: r.scores, baselines: r.baselines, distillLosses: r.distillLosses, bagPurity: r.bagPurity }
}

describe("bingo study, killed and resumed (real processes)", () => {
  it("a study killed with SIGKILL in the middle of its second cell resumes that cell from its checkpoint and ends with the cells of an uninterrupted study", async () => {
    const reference = studyDir()
    const killed = studyDir()
    const whole = spawnCli(["study", join(reference, "study.yaml")])
    // the killed study: SIGKILL once the second cell has checkpointed a step (distillation checkpoints every step)
    const first = spawnCli(["study", join(killed, "study.yaml")])
    const secondCheckpoint = join(killed, "out", "cells", cells[1]!, "checkpoint.safetensors")
    const poll = setInterval(() => {
      if (existsSync(secondCheckpoint)) first.child.kill("SIGKILL")
    }, 2)
    const interrupted = await first.done
    clearInterval(poll)
    expect(interrupted.signal).toBe("SIGKILL")
    expect(cells.filter((c) => existsSync(join(killed, "out", "cells", c, "cell.json"))).length).toBeLessThan(cells.length)
    // started again, it skips the finished cell and continues
    const resumed = await spawnCli(["study", join(killed, "study.yaml")]).done
    expect(resumed.code).toBe(0)
    expect(resumed.stdout).toMatch(/1 done, 3 to run/)
    expect(resumed.stdout).toMatch(/distillation: resumed from \S+random-bags\/seed-0\/checkpoint\.safetensors/)
    expect((await whole.done).code).toBe(0)
    for (const cell of cells) expect(outcome(killed, cell), cell).toEqual(outcome(reference, cell))
    // results.md alike, but for what the Runs section says of the processes (minutes, peak RSS, finish times)
    const table = (dir: string) => {
      const [scores, runs] = readFileSync(join(dir, "out", "results.md"), "utf8").split("## Runs")
      const runRows = runs!
        .split("\n")
        .filter((line) => line.startsWith("| "))
        .map((line) => line.split("|").slice(0, 6).join("|")) // arm, cells, bags, purity, losses
      return [scores, ...runRows]
    }
    expect(table(killed)).toEqual(table(reference))
  }, 240_000)
})
