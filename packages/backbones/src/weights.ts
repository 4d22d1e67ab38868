import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { readFile } from "node:fs/promises"
import { atomicWrite } from "@bingo/runtime"
import { WeightFileError, WeightShapeMismatch } from "./BackboneError.ts"
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from "./safetensors.ts"

/** Snapshot a parameter map as named float32 tensors (for checkpoints). */
export const snapshotParams = async (params: ReadonlyMap<string, tf.Variable>, prefix = ""): Promise<Array<NamedTensor>> => {
  const out: Array<NamedTensor> = []
  for (const [name, v] of params) out.push({ name: prefix + name, shape: v.shape, data: (await v.data()) as Float32Array })
  return out
}

/** Assign named tensors into a parameter map, checking every name and shape first (nothing is assigned on error). */
export const assignParams = (
  params: ReadonlyMap<string, tf.Variable>,
  tensors: ReadonlyMap<string, { readonly shape: ReadonlyArray<number>; readonly data: Float32Array }>,
  path: string,
  prefix = ""
): Effect.Effect<void, WeightShapeMismatch | WeightFileError> =>
  Effect.gen(function* () {
    for (const [name, v] of params) {
      const t = tensors.get(prefix + name)
      if (t === undefined) return yield* new WeightFileError({ path, reason: `missing tensor '${prefix + name}'` })
      if (t.shape.length !== v.shape.length || t.shape.some((d, i) => d !== v.shape[i])) {
        return yield* new WeightShapeMismatch({ path, tensor: prefix + name, expected: v.shape, actual: [...t.shape] })
      }
    }
    tf.tidy(() => {
      for (const [name, v] of params) {
        const t = tensors.get(prefix + name)!
        v.assign(tf.tensor(t.data, v.shape, "float32"))
      }
    })
  })

/** Save a parameter map as a .safetensors file, atomically. */
export const saveWeights = (path: string, params: ReadonlyMap<string, tf.Variable>, metadata: Record<string, string> = {}) =>
  Effect.tryPromise({
    try: async () => atomicWrite(path, encodeSafetensors(await snapshotParams(params), metadata)),
    catch: (e) => new WeightFileError({ path, reason: `cannot write: ${String(e)}` })
  })

/** Read a .safetensors file. */
export const readWeights = (path: string) =>
  Effect.gen(function* () {
    const bytes = yield* Effect.tryPromise({
      try: () => readFile(path),
      catch: (e) => new WeightFileError({ path, reason: `cannot read: ${(e as Error).message}` })
    })
    return yield* Effect.try({
      try: () => decodeSafetensors(bytes),
      catch: (e) => new WeightFileError({ path, reason: (e as Error).message })
    })
  })

/** Load a .safetensors file into a parameter map, checking names and shapes. */
export const loadWeights = (path: string, params: ReadonlyMap<string, tf.Variable>) =>
  Effect.flatMap(readWeights(path), (decoded) => assignParams(params, decoded.tensors, path))
