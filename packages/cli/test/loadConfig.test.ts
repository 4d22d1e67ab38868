import { failureOf } from "@bingo/runtime"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { decodeConfig, loadConfig } from "../src/loadConfig.ts"
import { queueWarnings, resolveDatasetPaths, resolveQueueSize, type SizedConfig, withQueueSizes } from "../src/runPipeline.ts"

const minimal = {
  dataset: { name: "shapes" },
  augment: { outputSize: 16 },
  teacher: { backbone: "convnet" },
  student: { backbone: "mlp" }
}

/** What a ConfigError about `path` must hold: its tag, the file, and a reason matching `reason`. */
const configError = (path: string, reason: RegExp) => ({ _tag: "ConfigError", path, reason: expect.stringMatching(reason) })

describe("pipeline config", () => {
  it.effect("fills every default from a minimal config", () =>
    Effect.gen(function* () {
      const c = yield* decodeConfig(minimal, "mem.yaml")
      expect(c.seed).toBe(0)
      expect(c.backend).toBe("auto")
      expect(c.bags).toEqual({ method: "knn", k: 5 })
      expect(c.distill.loss).toEqual({ name: "bingo", options: {} })
      expect(c.teacher.pretrain.temperature).toBe(0.2)
      expect(c.teacher.bnMode).toBe("eval")
      expect(c.teacher.weightsFormat).toBe("bingo")
      expect(c.teacher.weightsHead).toBe("require")
      expect(c.eval.knn).toEqual({ k: 200, temperature: 0.07 })
    })
  )

  it.effect("an unknown key is an error naming its path", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(decodeConfig({ ...minimal, distill: { epochz: 3 } }, "x.yaml"))
      expect(failureOf(exit)).toMatchObject(configError("x.yaml", /^distill\.epochz: Unexpected key with value 3$/))
    })
  )

  it.effect("a wrong type or value names the key and the expected type", () =>
    Effect.gen(function* () {
      const wrongType = yield* Effect.exit(decodeConfig({ ...minimal, distill: { epochs: "ten" } }, "x.yaml"))
      expect(failureOf(wrongType)).toMatchObject(configError("x.yaml", /^distill\.epochs: Expected number, got "ten"$/))
      const wrongLiteral = yield* Effect.exit(decodeConfig({ ...minimal, bags: { method: "faiss" } }, "x.yaml"))
      expect(failureOf(wrongLiteral)).toMatchObject(
        configError("x.yaml", /^bags\.method: Expected "knn" \| "kmeans" \| "labels" \| "random", got "faiss"$/)
      )
      const { student: _omit, ...noStudent } = minimal
      const missing = yield* Effect.exit(decodeConfig(noStudent, "x.yaml"))
      expect(failureOf(missing)).toMatchObject(configError("x.yaml", /^student: Missing key/))
      const negative = yield* Effect.exit(decodeConfig({ ...minimal, distill: { batchSize: -1 } }, "x.yaml"))
      expect(failureOf(negative)).toMatchObject(configError("x.yaml", /^distill\.batchSize: Expected a value greater than 0, got -1$/))
      // every problem at once, on one line
      const several = yield* Effect.exit(
        decodeConfig({ ...minimal, distill: { epochs: "ten", lr: 0 }, augment: { outputSize: 16, cropScale: [0.2, "x"] } }, "x.yaml")
      )
      expect(failureOf(several)).toMatchObject(
        configError("x.yaml", /^3 problems: augment\.cropScale\[1\]: Expected number, got "x"; distill\.epochs: [^;]+; distill\.lr: /)
      )
    })
  )

  it.effect("the augment section is data's AugmentConfigSchema: its constraints are decode problems, reported with the others", () =>
    Effect.gen(function* () {
      const hue = yield* Effect.exit(decodeConfig({ ...minimal, augment: { hue: 0.7 } }, "x.yaml"))
      expect(failureOf(hue)).toMatchObject(configError("x.yaml", /^augment\.hue: Expected a value between 0 and 0\.5, got 0\.7$/))
      const several = yield* Effect.exit(
        decodeConfig({ ...minimal, distill: { epochs: "ten" }, augment: { cropScale: [1, 0.2], blurKernelSize: 4 } }, "x.yaml")
      )
      expect(failureOf(several)).toMatchObject(
        configError(
          "x.yaml",
          /^3 problems: augment\.cropScale: need 0 < lo <= hi <= 1, got \[1, 0\.2\]; augment\.blurKernelSize: must be a positive odd integer, got 4; distill\.epochs: /
        )
      )
      const { augment: _omit, ...noAugment } = minimal
      const c = yield* decodeConfig(noAugment, "x.yaml")
      expect(c.augment).toEqual({})
    })
  )

  it.effect("reads YAML, applies --set overrides, and reports unreadable files and bad YAML", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "bingo-cfg-"))
      const path = join(dir, "c.yaml")
      writeFileSync(
        path,
        "dataset: { name: shapes }\naugment: { outputSize: 16 }\nteacher: { backbone: convnet }\nstudent: { backbone: mlp }\n"
      )
      const c = yield* loadConfig(path, ["distill.epochs=2", "distill.loss.name=seed", "augment.cropScale=[0.3, 1]"])
      expect(c.distill.epochs).toBe(2)
      expect(c.distill.loss.name).toBe("seed")
      expect(c.augment.cropScale).toEqual([0.3, 1])
      const missing = yield* Effect.exit(loadConfig(join(dir, "nope.yaml")))
      expect(failureOf(missing)).toMatchObject(configError(join(dir, "nope.yaml"), /^cannot read: /))
      writeFileSync(join(dir, "bad.yaml"), "dataset: [unclosed\n")
      expect(failureOf(yield* Effect.exit(loadConfig(join(dir, "bad.yaml"))))).toMatchObject(
        configError(join(dir, "bad.yaml"), /^not valid YAML: /)
      )
      expect(failureOf(yield* Effect.exit(loadConfig(path, ["noequals"])))).toMatchObject(
        configError(path, /^override 'noequals' is not key\.path=value$/)
      )
    })
  )
})

describe("resolveDatasetPaths", () => {
  it("resolves relative dir, testDir and cache against the config's folder; keeps absolute paths and other options", () => {
    const resolved = resolveDatasetPaths(
      { dir: "data/train", testDir: "/abs/test", cache: "../cache", size: 32, name: "pets" },
      "/work/configs"
    )
    expect(resolved).toEqual({ dir: "/work/configs/data/train", testDir: "/abs/test", cache: "/work/cache", size: 32, name: "pets" })
    expect(resolveDatasetPaths({}, "/x")).toEqual({})
  })
})

describe("queueWarnings", () => {
  const warnings = (config: Parameters<typeof queueWarnings>[0], n: number) =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        lines.push(`${logLevel} ${(Array.isArray(message) ? message : [message]).join(" ")}`)
      })
      yield* queueWarnings(config, n).pipe(Effect.provide(Logger.layer([logger])))
      return lines
    })

  it.effect("warns for each queue at least as long as the training set, naming its key; none otherwise", () =>
    Effect.gen(function* () {
      const config = (yield* decodeConfig(
        { ...minimal, teacher: { backbone: "convnet", pretrain: { queueSize: 256 } }, distill: { queueSize: 1024 } },
        "q.yaml"
      )) as SizedConfig
      expect(yield* warnings(config, 5000)).toEqual([])
      const both = yield* warnings(config, 256)
      expect(both).toHaveLength(2)
      expect(both[0]).toMatch(
        /^Warn teacher\.pretrain\.queueSize: a queue of 256 keys is not shorter than the training set \(256 images\).* \(e\.g\. 64\)/
      )
      expect(both[1]).toMatch(/^Warn distill\.queueSize: a queue of 1024 keys/)
      // with given teacher weights there is no pre-training, so no teacher queue
      const given = (yield* decodeConfig(
        { ...minimal, teacher: { backbone: "convnet", weights: "t.safetensors" }, distill: { queueSize: 1024 } },
        "q.yaml"
      )) as SizedConfig
      expect(yield* warnings(given, 512)).toHaveLength(1)
    })
  )
})

describe("resolveQueueSize", () => {
  it("auto: a quarter of the training set to a power of two, at most 4,096, at least a batch; a number as given", () => {
    expect(resolveQueueSize("auto", 1438, 128)).toBe(256)
    expect(resolveQueueSize("auto", 4000, 128)).toBe(512)
    expect(resolveQueueSize("auto", 10000, 128)).toBe(2048)
    expect(resolveQueueSize("auto", 60000, 256)).toBe(4096)
    expect(resolveQueueSize("auto", 256, 32)).toBe(64)
    expect(resolveQueueSize("auto", 100, 64)).toBe(64)
    expect(resolveQueueSize(2048, 1438, 128)).toBe(2048)
  })

  it.effect("withQueueSizes resolves both queues and logs what auto chose", () =>
    Effect.gen(function* () {
      const config = yield* decodeConfig({ ...minimal, teacher: { backbone: "convnet" }, distill: { queueSize: 1024 } }, "q.yaml")
      const lines: Array<string> = []
      const logger = Logger.make(({ message }) => void lines.push((Array.isArray(message) ? message : [message]).join(" ")))
      const sized = yield* withQueueSizes(config, 1438).pipe(Effect.provide(Logger.layer([logger])))
      expect(sized.teacher.pretrain.queueSize).toBe(256)
      expect(sized.distill.queueSize).toBe(1024)
      expect(lines).toEqual([
        "teacher.pretrain.queueSize auto: 256 keys (a quarter of the 1438 training images, to a power of two, at most 4096)"
      ])
    })
  )
})
