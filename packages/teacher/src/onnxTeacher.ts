import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { readFile } from "node:fs/promises"
import { basename } from "node:path"
import { fnv1a } from "@bingo/runtime"
import { type ModelFile, type ModelFileOptions, modelFileTeacher, reasonOf } from "./internal/modelFileTeacher.ts"
import { onnxInitializerValues } from "./internal/onnxInitializers.ts"
import { TeacherInferenceFailed, TeacherModelUnreadable, TeacherRuntimeUnavailable } from "./TeacherError.ts"

type Ort = typeof import("onnxruntime-node")
type Session = Awaited<ReturnType<Ort["InferenceSession"]["create"]>>

/** An ONNX teacher: the graph (`weights`, an .onnx file), which outputs to read and how it takes its images. */
export interface OnnxTeacherOptions extends ModelFileOptions {
  /** The .onnx file. */
  readonly weights: string
}

const loadOrt = Effect.tryPromise({
  try: () => import("onnxruntime-node") as Promise<Ort>,
  catch: (e) => new TeacherRuntimeUnavailable({ format: "onnx", runtime: "onnxruntime-node", reason: reasonOf(e) })
})

/**
 * Builds the ONNX teacher: reads the file and opens an onnxruntime-node session (CPU; released
 * with the scope), then `modelFileTeacher` checks the named outputs and the input against the
 * run's views and runs a blank batch, so a wrong output name, an input of another shape or an
 * unreadable file fails here, naming the file and the config key, before any training.
 */
export const makeOnnxTeacher = (options: OnnxTeacherOptions) =>
  Effect.gen(function* () {
    const path = options.weights
    const bytes = yield* Effect.tryPromise({
      try: () => readFile(path),
      catch: (e) => new TeacherModelUnreadable({ path, field: "teacher.weights", reason: `cannot read: ${reasonOf(e)}` })
    })
    const ort = yield* loadOrt
    const session: Session = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => ort.InferenceSession.create(bytes, { graphOptimizationLevel: "all" }),
        catch: (e) =>
          new TeacherModelUnreadable({ path, field: "teacher.weights", reason: `not an ONNX model onnxruntime can load: ${reasonOf(e)}` })
      }),
      (s) => Effect.promise(() => s.release())
    )
    const inputs = session.inputMetadata.flatMap((m) =>
      m.isTensor ? [{ name: m.name, type: m.type, dims: m.shape.map((d) => (typeof d === "number" ? d : -1)) }] : []
    )
    const image = options.input.name ?? (inputs.length === 1 ? inputs[0]!.name : "")
    const batchDim = inputs.find((i) => i.name === image)?.dims[0] ?? -1
    const file: ModelFile = {
      path,
      format: "onnx",
      runtime: "onnxruntime",
      architecture: basename(path),
      parameterCount: onnxInitializerValues(bytes) ?? 0,
      weightsFingerprint: fnv1a([bytes]),
      inputs,
      outputNames: session.outputNames,
      fixedBatch: batchDim > 0 ? batchDim : undefined,
      run: (x, outputs) =>
        Effect.gen(function* () {
          const data = yield* Effect.promise(() => x.data() as Promise<Float32Array>)
          const feeds = { [image]: new ort.Tensor("float32", data, x.shape) }
          const result = yield* Effect.tryPromise({
            try: () => session.run(feeds, [...outputs]),
            catch: (e) => new TeacherInferenceFailed({ path, reason: reasonOf(e) })
          })
          return outputs.map((name) => {
            const t = result[name]!
            const values = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>)
            const out = tf.tensor(values, [...t.dims])
            t.dispose()
            return out
          })
        })
    }
    return yield* modelFileTeacher(file, options)
  })
