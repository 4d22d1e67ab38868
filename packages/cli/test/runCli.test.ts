import { describe, expect, it, vi } from "vitest"
import { Cause } from "effect"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import sharp from "sharp"
import { ConfigError } from "../src/ConfigError.ts"
import { describeFailure, runCli } from "../src/runCli.ts"

describe("describeFailure", () => {
  it("a typed failure is its message on one line; a defect is called a bug and keeps its trace", () => {
    expect(describeFailure(Cause.fail(new ConfigError({ path: "run.yaml", reason: "distill.batchSize: too large" })))).toBe(
      "bingo: run.yaml: distill.batchSize: too large\n"
    )
    const defect = describeFailure(Cause.die(new Error("boom")))
    expect(defect).toMatch(/^bingo: internal error \(a bug: please report it with this trace\)\n/)
    expect(defect).toMatch(/Error: boom\n\s+at /)
  })
})

describe("bingo data", () => {
  it("decodes an image folder into its cache and describes the splits; a second call decodes nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bingo-cli-data-"))
    for (const [cls, i] of [
      ["a", 0],
      ["a", 1],
      ["b", 2],
      ["b", 3]
    ] as const) {
      mkdirSync(join(dir, "images", cls), { recursive: true })
      await sharp(new Uint8Array(8 * 8).fill(40 * i), { raw: { width: 8, height: 8, channels: 1 } })
        .png()
        .toFile(join(dir, "images", cls, `${i}.png`))
    }
    writeFileSync(
      join(dir, "run.yaml"),
      [
        "dataset: { name: folder, options: { dir: images, testDir: images, size: 8, channels: 1, cache: cache, inMemory: false } }",
        "augment: { outputSize: 8 }",
        "teacher: { backbone: mlp }",
        "student: { backbone: mlp }"
      ].join("\n")
    )
    const printed: Array<string> = []
    const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => void printed.push(String(line)))
    try {
      expect(await runCli(["data", join(dir, "run.yaml")], { log: false })).toBe(0)
      expect(await runCli(["data", join(dir, "run.yaml")], { log: false })).toBe(0)
    } finally {
      spy.mockRestore()
    }
    expect(printed).toHaveLength(2)
    expect(printed[0]).toBe(printed[1])
    const lines = printed[0]!.split("\n")
    expect(lines[0]).toBe("dataset folder")
    expect(lines[1]).toBe(`  train: 4 images of 8x8x1, 2 classes, read on demand from ${join(dir, "cache", "train-8x8x1-cover.bingoimg")}`)
    expect(lines[3]).toBe(`image caches in ${join(dir, "cache")}:`)
    expect(lines.slice(4).map((l) => l.replace(/ \(.*\)$/, ""))).toEqual(["  test-8x8x1-cover.bingoimg", "  train-8x8x1-cover.bingoimg"])
  })
})
