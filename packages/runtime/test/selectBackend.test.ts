import { loadNativeAddon, nativeKernelsRegistered } from "@bingo/native-cpu"
import * as tf from "@tensorflow/tfjs"
import { afterEach, describe, expect, it } from "vitest"
import { selectBackend } from "../src/selectBackend.ts"

const nativeError = (() => {
  const r = loadNativeAddon()
  return "error" in r ? r.error : undefined
})()

describe("selectBackend and the native cpu kernels", () => {
  afterEach(() => {
    delete process.env.BINGO_NATIVE_DISABLE
  })

  it("auto falls back to wasm with one line saying why cpu-native was skipped", async () => {
    process.env.BINGO_NATIVE_DISABLE = "1"
    const sel = await selectBackend("auto")
    if ("error" in sel) throw new Error(sel.error)
    expect(sel.backend).toBe("wasm")
    expect(sel.reason).toMatch(/cpu-native: @bingo\/native-cpu disabled by BINGO_NATIVE_DISABLE=1/)
    expect(sel.reason.split("\n")).toHaveLength(1)
  })

  it("forcing cpu-native without the addon is an error naming the reason", async () => {
    process.env.BINGO_NATIVE_DISABLE = "1"
    const sel = await selectBackend("cpu-native")
    expect(sel).toEqual({ error: "cpu-native: @bingo/native-cpu disabled by BINGO_NATIVE_DISABLE=1" })
  })

  it.skipIf(nativeError !== undefined)(
    `cpu-native registers the oneDNN kernels on the cpu backend; cpu puts the stock ones back${nativeError === undefined ? "" : ` (skipped: ${nativeError})`}`,
    async () => {
      const sel = await selectBackend("cpu-native")
      if ("error" in sel) throw new Error(sel.error)
      expect(sel.backend).toBe("cpu-native")
      expect(sel.reason).toMatch(/^TF\.js backend: cpu-native, oneDNN \d+\.\d+\.\d+, \d threads? \(/)
      expect(tf.getBackend()).toBe("cpu")
      expect(nativeKernelsRegistered()).toBe(true)
      const y = tf.conv2d(tf.ones([1, 3, 3, 1]) as tf.Tensor4D, tf.ones([3, 3, 1, 1]) as tf.Tensor4D, 1, "same")
      expect(Array.from(y.dataSync())).toEqual([4, 6, 4, 6, 9, 6, 4, 6, 4])

      const stock = await selectBackend("cpu")
      if ("error" in stock) throw new Error(stock.error)
      expect(stock.backend).toBe("cpu")
      expect(nativeKernelsRegistered()).toBe(false)
    }
  )
})
