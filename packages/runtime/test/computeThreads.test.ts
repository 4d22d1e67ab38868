import { loadNativeAddon, registerNativeKernels, unregisterNativeKernels } from "@bingo/native-cpu"
import { afterEach, describe, expect, it } from "vitest"
import { computeThreads, keepComputeThreads } from "../src/computeThreads.ts"

const nativeError = (() => {
  const r = loadNativeAddon()
  return "error" in r ? r.error : undefined
})()

describe("computeThreads and keepComputeThreads", () => {
  afterEach(() => unregisterNativeKernels())

  it("without the native kernels there is no count, and nothing to keep", () => {
    unregisterNativeKernels()
    expect(computeThreads()).toBeUndefined()
    expect(keepComputeThreads(2, {})).toBeUndefined()
  })

  it.skipIf(nativeError !== undefined)("a resumed run gets back the count it started with, and says so", () => {
    registerNativeKernels({ threads: 1 })
    expect(computeThreads()).toBe(1)
    expect(keepComputeThreads(undefined, {})).toBeUndefined() // an older checkpoint: nothing recorded
    expect(keepComputeThreads(1, {})).toBeUndefined() // the same count: nothing to say
    const line = keepComputeThreads(2, {})
    expect(line).toBe(
      "native threads: 2, as the run started with (this process had chosen 1), so that it stays bit-identical to an uninterrupted run"
    )
    expect(computeThreads()).toBe(2)
  })

  it.skipIf(nativeError !== undefined)("BINGO_NATIVE_THREADS wins, with a warning that the run will not be bit-identical", () => {
    registerNativeKernels({ threads: 1 })
    const line = keepComputeThreads(2, { BINGO_NATIVE_THREADS: "1" })
    expect(line).toMatch(/started with 2 native threads and goes on with 1 \(BINGO_NATIVE_THREADS=1\): .* not be bit-identical/)
    expect(computeThreads()).toBe(1)
  })
})
