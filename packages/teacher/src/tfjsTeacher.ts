import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { readFile } from "node:fs/promises"
import { basename, dirname, resolve } from "node:path"
import { fnv1a } from "@bingo/runtime"
import { type ModelFile, type ModelFileOptions, modelFileTeacher, reasonOf } from "./internal/modelFileTeacher.ts"
import type { Normalisation } from "./teacherInput.ts"
import { TeacherInferenceFailed, TeacherModelUnreadable } from "./TeacherError.ts"

/** A TF.js teacher: a `model.json` (layers or graph model) with its weight files, which outputs to read and how it takes its images. */
export interface TfjsTeacherOptions extends ModelFileOptions {
  /** The model.json; its weight files are read from the paths its weightsManifest lists, relative to it. */
  readonly weights: string
}

/**
 * Reads a TF.js model (model.json and the weight files its manifest lists) from disk with
 * node:fs: the artifacts `tf.io.fromMemory` takes, with the weights concatenated in manifest
 * order. No tfjs-node needed. Failures name the file (model.json or the weight file).
 */
export const readTfjsArtifacts = (path: string) =>
  Effect.gen(function* () {
    const unreadable = (reason: string, file = path) => new TeacherModelUnreadable({ path: file, field: "teacher.weights", reason })
    const text = yield* Effect.tryPromise({
      try: () => readFile(path, "utf8"),
      catch: (e) => unreadable(`cannot read: ${reasonOf(e)}`)
    })
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as Partial<tf.io.ModelJSON>,
      catch: (e) => unreadable(`not JSON: ${reasonOf(e)}`)
    })
    if (typeof json !== "object" || json === null || typeof json.modelTopology !== "object" || json.modelTopology === null) {
      return yield* unreadable("not a TF.js model.json (no modelTopology)")
    }
    const manifest = Array.isArray(json.weightsManifest) ? json.weightsManifest : []
    const buffers: Array<Uint8Array> = []
    for (const group of manifest) {
      for (const p of group.paths) {
        const file = resolve(dirname(path), p)
        buffers.push(
          yield* Effect.tryPromise({
            try: () => readFile(file),
            catch: (e) => unreadable(`weight file '${p}' listed in ${basename(path)}: cannot read: ${reasonOf(e)}`, file)
          })
        )
      }
    }
    const weightData = new Uint8Array(buffers.reduce((n, b) => n + b.byteLength, 0))
    let at = 0
    for (const b of buffers) {
      weightData.set(b, at)
      at += b.byteLength
    }
    const artifacts: tf.io.ModelArtifacts = {
      modelTopology: json.modelTopology,
      weightSpecs: manifest.flatMap((g) => g.weights),
      weightData: weightData.buffer,
      ...(json.format === undefined ? {} : { format: json.format }),
      ...(json.userDefinedMetadata === undefined ? {} : { userDefinedMetadata: json.userDefinedMetadata })
    }
    return { artifacts, weightData, json }
  })

const isGraphModel = (json: Partial<tf.io.ModelJSON>): boolean =>
  json.format === "graph-model" || (typeof json.modelTopology === "object" && json.modelTopology !== null && "node" in json.modelTopology)

/** The normalisation a bingo export records (`userDefinedMetadata.preprocessing`), if any. */
const recordedNormalisation = (json: Partial<tf.io.ModelJSON>): Partial<Normalisation> | undefined => {
  const p = (json.userDefinedMetadata as { preprocessing?: { mean?: unknown; std?: unknown } } | undefined)?.preprocessing
  const numbers = (v: unknown) =>
    Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "number") ? (v as Array<number>) : undefined
  const mean = numbers(p?.mean)
  const std = numbers(p?.std)
  return mean === undefined && std === undefined
    ? undefined
    : { ...(mean === undefined ? {} : { mean }), ...(std === undefined ? {} : { std }) }
}

const dimsOf = (shape: ReadonlyArray<number | null> | undefined): Array<number> => (shape ?? []).map((d) => (d === null || d < 0 ? -1 : d))

/**
 * Builds the TF.js teacher: a layers model (outputs by layer name) or a graph model (outputs by
 * node name) loaded from `options.weights` with plain @tensorflow/tfjs (`tf.io.fromMemory` over
 * the files node:fs read), run on the run's TF.js backend; `modelFileTeacher` then checks the
 * outputs and the input and runs a blank batch. The model is disposed with the scope. A model
 * bingo exported (a student's `student-tfjs/`) records its preprocessing, which is the default
 * input normalisation: distilling a student from a student needs only the two output names.
 */
export const makeTfjsTeacher = (options: TfjsTeacherOptions) =>
  Effect.gen(function* () {
    const path = options.weights
    const { artifacts, weightData, json } = yield* readTfjsArtifacts(path)
    const cannotLoad = (e: unknown) =>
      new TeacherModelUnreadable({ path, field: "teacher.weights", reason: `TF.js cannot load it: ${reasonOf(e)}` })
    const parameterCount = (artifacts.weightSpecs ?? []).reduce((n, s) => n + s.shape.reduce((a, d) => a * d, 1), 0)
    const common = {
      path,
      format: "tfjs",
      runtime: "tfjs" as const,
      architecture: `${basename(dirname(path))}/${basename(path)}`,
      parameterCount,
      weightsFingerprint: fnv1a([weightData])
    }
    const inferenceFailed = (e: unknown) => new TeacherInferenceFailed({ path, reason: reasonOf(e) })
    let file: ModelFile
    if (isGraphModel(json)) {
      const model = yield* Effect.acquireRelease(
        Effect.tryPromise({ try: () => tf.loadGraphModel(tf.io.fromMemory(artifacts)), catch: cannotLoad }),
        (m) => Effect.sync(() => m.dispose())
      )
      const nodes = ((artifacts.modelTopology as { node?: Array<{ name: string }> }).node ?? []).map((n) => n.name)
      const input = model.inputs[0]
      file = {
        ...common,
        inputs: model.inputs.map((i) => ({ name: i.name, type: i.dtype, dims: dimsOf(i.shape) })),
        outputNames: nodes,
        fixedBatch: input !== undefined && (input.shape?.[0] ?? -1) > 0 ? input.shape![0] : undefined,
        run: (x, outputs) =>
          Effect.tryPromise({
            try: async () => {
              const name = options.input.name ?? input!.name
              const out = await model.executeAsync({ [name]: x }, [...outputs])
              return Array.isArray(out) ? out : [out]
            },
            catch: inferenceFailed
          })
      }
    } else {
      const model = yield* Effect.acquireRelease(
        Effect.tryPromise({ try: () => tf.loadLayersModel(tf.io.fromMemory(artifacts)), catch: cannotLoad }),
        (m) => Effect.sync(() => m.dispose())
      )
      const layerNames = model.layers.map((l) => l.name)
      // one sub-model per requested output set, built on first use: it shares the model's layers
      // and holds no tensor of its own (disposing it would dispose them; the model's dispose frees all)
      const heads = new Map<string, tf.LayersModel>()
      const headFor = (outputs: ReadonlyArray<string>) => {
        const key = outputs.join("\u0000")
        let head = heads.get(key)
        if (head === undefined) {
          head = tf.model({ inputs: model.inputs, outputs: outputs.map((o) => model.getLayer(o).output as tf.SymbolicTensor) })
          heads.set(key, head)
        }
        return head
      }
      file = {
        ...common,
        inputs: model.inputs.map((i) => ({ name: i.name.replace(/:\d+$/, ""), type: i.dtype, dims: dimsOf(i.shape) })),
        outputNames: layerNames,
        run: (x, outputs) =>
          Effect.try({
            try: () => {
              const out = headFor(outputs).predict(x)
              return Array.isArray(out) ? out : [out]
            },
            catch: inferenceFailed
          })
      }
    }
    return yield* modelFileTeacher(file, { ...options, declaredNormalisation: recordedNormalisation(json) })
  })
