import { describe, expect, it } from "vitest"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { parse } from "yaml"

const examples = join(import.meta.dirname, "..", "..", "..", "examples")
const read = (path: string) => parse(readFileSync(join(examples, path), "utf8")) as Record<string, unknown>
/** A config without the keys that name a run and its data. */
const training = (config: Record<string, unknown>) => {
  const { name: _n, outDir: _o, dataset: _d, ...rest } = config
  return rest
}

describe("example configs", () => {
  // docs/benchmarks.md, "One config, three datasets", and the README promise that the quickstart's
  // config moves to new data by changing its dataset block alone
  it.each(["transfer/shapes.yaml", "transfer/fashion-mnist.yaml", "transfer/digits.yaml", "image-folder/bingo.yaml"])(
    "%s is the quickstart's config with only name, outDir and the dataset block changed",
    (path) => {
      expect(training(read(path))).toEqual(training(read("quickstart/bingo.yaml")))
    }
  )
})
