import * as tf from "@tensorflow/tfjs"
import { createRequire } from "node:module"

/** Backends bingo can run on, fastest first. */
export const backendPreference = ["tensorflow-gpu", "tensorflow", "wasm", "cpu"] as const
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

const tryLoad = (name: BackendName): string | undefined => {
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
 * tensorflow (tfjs-node), then wasm (XNNPACK matMul; bingo's convolutions run as im2col +
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
    const ok = await tf.setBackend(name).catch(() => false)
    if (!ok) {
      skipped.push(`${name}: setBackend failed`)
      continue
    }
    await tf.ready()
    // The cpu backend prints a banner suggesting tfjs-node on first use; our log line says it.
    if (name === "cpu") (tf.backend() as unknown as { firstUse: boolean }).firstUse = false
    const why = skipped.length === 0 ? "" : ` (skipped ${skipped.join("; ")})`
    const hint = name === "cpu" || name === "wasm" ? "; for speed run `pnpm gpu:enable` or `pnpm cpu-native:enable`" : ""
    return { backend: name, reason: `TF.js backend: ${name}${why}${hint}` }
  }
  return { error: skipped.join("; ") }
}
