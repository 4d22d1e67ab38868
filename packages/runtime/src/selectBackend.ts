import { registerNativeKernels, unregisterNativeKernels } from "@bingo/native-cpu"
import * as tf from "@tensorflow/tfjs"
import { createRequire } from "node:module"
import { setFlagsFromString } from "node:v8"

/**
 * Backends bingo can run on, fastest first. `cpu-native` is TF.js's cpu backend with the
 * oneDNN kernels of @bingo/native-cpu registered over its stock ones; `cpu` is the stock one.
 */
export const backendPreference = ["tensorflow-gpu", "tensorflow", "cpu-native", "wasm", "cpu"] as const
export type BackendName = (typeof backendPreference)[number]
export type BackendChoice = BackendName | "auto"

export interface BackendSelection {
  readonly backend: BackendName
  /** One line for the log: which backend and why the faster ones were skipped. */
  readonly reason: string
}

const require = createRequire(import.meta.url)

/** The npm package that provides each native backend (optional peers of @bingo/runtime). */
const nativePackage: Partial<Record<BackendName, string>> = {
  "tensorflow-gpu": "@tensorflow/tfjs-node-gpu",
  tensorflow: "@tensorflow/tfjs-node"
}

/** The TF.js backend each choice runs on. */
const tfBackend = (name: BackendName): string => (name === "cpu-native" ? "cpu" : name)

let nativeDescription = ""

const tryLoad = (name: BackendName): string | undefined => {
  if (name === "cpu-native") {
    const reg = registerNativeKernels()
    if ("error" in reg) return `@bingo/native-cpu ${reg.error}`
    nativeDescription = reg.description
    // Each native op's output is a fresh ArrayBuffer (1-2 GB per ResNet-18 step), so V8 starts
    // ~12 major GCs per step for external memory pressure, and its concurrent marking threads
    // compete with compute threads that use every core. BINGO_CONCURRENT_MARKING=0 switches
    // concurrent marking off: ResNet-18 step on 2 threads 896 -> 715 ms, but garbage is then
    // collected later (kNN mining of 60k x 512: peak RSS 1.1 -> 4.7 GB), so it is opt-in
    // (docs/benchmarks.md).
    if (process.env.BINGO_CONCURRENT_MARKING === "0") {
      setFlagsFromString("--no-concurrent-marking")
      nativeDescription += ", V8 concurrent marking off"
    }
    return undefined
  }
  const pkg = nativePackage[name]
  if (pkg !== undefined) {
    try {
      require(pkg)
    } catch (e) {
      const code = (e as { code?: string }).code
      return code === "MODULE_NOT_FOUND" ? `${pkg} not installed` : `${pkg} failed to load (${String(e)})`
    }
  }
  if (name === "wasm") {
    try {
      require("@tensorflow/tfjs-backend-wasm")
    } catch (e) {
      return `@tensorflow/tfjs-backend-wasm failed to load (${String(e)})`
    }
  }
  return undefined
}

/**
 * Choose and activate a TF.js backend. `auto` tries tensorflow-gpu (tfjs-node-gpu), then
 * tensorflow (tfjs-node), then cpu-native (the oneDNN addon, when built), then wasm (XNNPACK matMul; bingo's convolutions run as im2col +
 * matMul there, since TF.js 4.22's wasm has no Conv2DBackpropFilter), then the pure-JS cpu.
 */
export const selectBackend = async (choice: BackendChoice): Promise<BackendSelection | { readonly error: string }> => {
  const candidates: ReadonlyArray<BackendName> = choice === "auto" ? backendPreference : [choice]
  const skipped: Array<string> = []
  for (const name of candidates) {
    const loadError = tryLoad(name)
    if (loadError !== undefined) {
      skipped.push(`${name}: ${loadError}`)
      continue
    }
    // Plain `cpu` means the stock kernels, also after an earlier cpu-native selection.
    if (name === "cpu") unregisterNativeKernels()
    const ok = await tf.setBackend(tfBackend(name)).catch(() => false)
    if (!ok) {
      if (name === "cpu-native") unregisterNativeKernels()
      skipped.push(`${name}: setBackend failed`)
      continue
    }
    await tf.ready()
    // The cpu backend prints a banner suggesting tfjs-node on first use; our log line says it.
    if (tfBackend(name) === "cpu") (tf.backend() as unknown as { firstUse: boolean }).firstUse = false
    const why = skipped.length === 0 ? "" : ` (skipped ${skipped.join("; ")})`
    const native = name === "cpu-native" ? `, ${nativeDescription}` : ""
    const hint =
      name === "cpu" || name === "wasm"
        ? "; for speed run `pnpm native:build` (needs libdnnl-dev), `pnpm gpu:enable` or `pnpm tfjs-node:enable`"
        : ""
    return { backend: name, reason: `TF.js backend: ${name}${native}${why}${hint}` }
  }
  return { error: skipped.join("; ") }
}
