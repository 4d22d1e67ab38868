import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { readFile } from "node:fs/promises"
import { basename } from "node:path"
import { fnv1a } from "@bingo/runtime"
import { extractFeaturesWith, l2Normalize } from "@bingo/backbones"
import { type AugmentConfig, type ImageSource, resolveAugmentConfig } from "@bingo/data"
import { onnxInitializerValues } from "./internal/onnxInitializers.ts"
import { adaptViews, type ModelInput, type Normalisation, type TeacherInputOptions } from "./teacherInput.ts"
import type { TeacherShape } from "./Teacher.ts"
import {
  TeacherInferenceFailed,
  TeacherModelUnreadable,
  TeacherNameNotFound,
  TeacherRuntimeUnavailable,
  TeacherShapeMismatch
} from "./TeacherError.ts"

type Ort = typeof import("onnxruntime-node")
type Session = Awaited<ReturnType<Ort["InferenceSession"]["create"]>>

/** An ONNX teacher: the graph, which outputs to read and how it takes its images. */
export interface OnnxTeacherOptions {
  /** The .onnx file. */
  readonly weights: string
  /** The output with the pooled backbone features ([batch, D], or [batch, C, H, W] / [batch, H, W, C] pooled here): bags and evaluation. */
  readonly featureOutput: string
  /** The output with the projection head's embedding [batch, D] (L2-normalised here) for the loss; default: the features. */
  readonly embeddingOutput?: string | undefined
  readonly input: TeacherInputOptions
  /** The run's views: their augmentation (view size, mean and std) and the dataset's channels. */
  readonly views: { readonly augment: AugmentConfig; readonly channels: number }
}

/** onnxruntime-node's first line of an error, without its stack. */
const reasonOf = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split("\n")[0]!.trim()

const loadOrt = Effect.tryPromise({
  try: () => import("onnxruntime-node") as Promise<Ort>,
  catch: (e) => new TeacherRuntimeUnavailable({ format: "onnx", runtime: "onnxruntime-node", reason: reasonOf(e) })
})

/** Dimensions as numbers, symbolic ones (a dynamic batch) as -1. */
const dimsOf = (shape: ReadonlyArray<number | string>): Array<number> => shape.map((d) => (typeof d === "number" ? d : -1))

/**
 * Builds the ONNX teacher: reads the file, opens an onnxruntime-node session (CPU), checks the
 * input and the named outputs against the run's views, and runs one batch of blank views through
 * it, so that a wrong output name, an input of another shape or an unreadable file fails here,
 * naming the file and the config key, before any training. The session is released with the scope.
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
    const view = resolveAugmentConfig(options.views.augment)
    const model = yield* checkInput(session, path, options, view.outputSize)
    for (const [field, name] of [
      ["teacher.featureOutput", options.featureOutput],
      ["teacher.embeddingOutput", options.embeddingOutput]
    ] as const) {
      if (name !== undefined && !session.outputNames.includes(name)) {
        return yield* new TeacherNameNotFound({ path, field, name, available: [...session.outputNames] })
      }
    }
    const embeddingOutput = options.embeddingOutput ?? options.featureOutput
    const outputNames = [...new Set([options.featureOutput, embeddingOutput])]
    const staticBatch = model.batch > 0 ? model.batch : undefined

    /** Run the graph on a batch of views normalised with `norm`; one array and shape per output. */
    const run = (views: tf.Tensor4D, norm: Normalisation) =>
      Effect.gen(function* () {
        const adapted = adaptViews(views, norm, model.input)
        const dims = adapted.shape
        const data = yield* Effect.promise(() => adapted.data() as Promise<Float32Array>).pipe(
          Effect.ensuring(Effect.sync(() => adapted.dispose()))
        )
        const n = dims[0]
        const chunk = staticBatch ?? n
        const per = n === 0 ? 0 : data.length / n
        const parts = new Map<string, { rows: Array<Float32Array>; dims: Array<number> }>()
        for (let start = 0; start < n; start += chunk) {
          const m = Math.min(chunk, n - start)
          let slice = data.subarray(start * per, (start + m) * per)
          if (m < chunk) {
            const padded = new Float32Array(chunk * per) // a graph with a fixed batch: the last batch is padded
            padded.set(slice)
            slice = padded
          }
          const feeds = { [model.name]: new ort.Tensor("float32", slice, [chunk, ...dims.slice(1)]) }
          const result = yield* Effect.tryPromise({
            try: () => session.run(feeds, outputNames),
            catch: (e) => new TeacherInferenceFailed({ path, reason: reasonOf(e) })
          })
          for (const name of outputNames) {
            const t = result[name]!
            const values = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>)
            const perRow = t.dims[0] === 0 ? 0 : values.length / t.dims[0]!
            const entry = parts.get(name) ?? { rows: [], dims: [...t.dims] }
            entry.rows.push(values.subarray(0, m * perRow))
            parts.set(name, entry)
            t.dispose()
          }
        }
        return new Map(
          [...parts].map(([name, { rows, dims: d }]) => {
            const all = new Float32Array(rows.reduce((s, r) => s + r.length, 0))
            let at = 0
            for (const r of rows) {
              all.set(r, at)
              at += r.length
            }
            return [name, { values: all, dims: [n, ...d.slice(1)] }] as const
          })
        )
      })

    /** An output as [batch, D]: a 4-D feature map is averaged over its spatial axes (in the input's layout). */
    const asRows = (out: { values: Float32Array; dims: ReadonlyArray<number> }): tf.Tensor2D =>
      tf.tidy(() => {
        const [n, ...rest] = out.dims
        if (rest.length === 1) return tf.tensor2d(out.values, [n!, rest[0]!])
        const [a, b, c] = rest as [number, number, number]
        return model.input.layout === "NCHW"
          ? tf.mean(tf.tensor3d(out.values, [n!, a, b * c]), 2)
          : tf.mean(tf.tensor3d(out.values, [n!, a * b, c]), 1)
      })

    // one batch of blank views through the whole path: the shapes are checked by the runtime itself
    const probeBatch = staticBatch ?? 2
    const probe = yield* Effect.acquireUseRelease(
      Effect.sync(() => tf.zeros([probeBatch, view.outputSize, view.outputSize, options.views.channels]) as tf.Tensor4D),
      (x) => run(x, view),
      (x) => Effect.sync(() => x.dispose())
    ).pipe(
      Effect.catchTag("TeacherInferenceFailed", (e) =>
        Effect.fail(
          new TeacherShapeMismatch({
            path,
            field: "teacher.input",
            reason: `a batch of ${probeBatch} views of ${view.outputSize}x${view.outputSize}x${options.views.channels}, fed as ${model.input.layout} [${inputDims(model.input, probeBatch).join(", ")}], fails: ${e.reason}`
          })
        )
      )
    )
    for (const [field, name, ranks] of [
      ["teacher.featureOutput", options.featureOutput, [2, 4]],
      ["teacher.embeddingOutput", embeddingOutput, [2]]
    ] as const) {
      const dims = probe.get(name)!.dims
      if (!(ranks as ReadonlyArray<number>).includes(dims.length) || dims[0] !== probeBatch) {
        return yield* new TeacherShapeMismatch({
          path,
          field: options.embeddingOutput === undefined && field === "teacher.embeddingOutput" ? "teacher.featureOutput" : field,
          reason: `output '${name}' has shape [${dims.join(", ")}] for a batch of ${probeBatch}; bingo needs [batch, D]${ranks.length > 1 ? " (or a 4-D feature map, which it averages)" : ""}`,
          expected: ranks.length > 1 ? [probeBatch, -1] : [probeBatch, -1],
          actual: dims
        })
      }
    }
    const featureDim = asRowsDim(probe.get(options.featureOutput)!.dims, model.input.layout)
    const embeddingDim = asRowsDim(probe.get(embeddingOutput)!.dims, model.input.layout)
    const fingerprint = `onnx ${fnv1a([bytes])} ${JSON.stringify({ featureOutput: options.featureOutput, embeddingOutput, input: model.input })}`
    yield* Effect.logInfo(
      `teacher: ONNX ${path} in onnxruntime-node (CPU): input '${model.name}' ${model.input.layout} ${model.input.channels}x${model.input.size}x${model.input.size}, ` +
        `features '${options.featureOutput}' (${featureDim}), embedding '${embeddingOutput}' (${embeddingDim}${options.embeddingOutput === undefined ? ", the features" : ""})`
    )

    const keysNormalisation = view
    return {
      format: "onnx",
      runtime: "onnxruntime",
      architecture: basename(path),
      parameterCount: onnxInitializerValues(bytes) ?? 0,
      encoder: undefined,
      embeddingDim,
      bnMode: "eval",
      pretraining: [],
      fingerprint: () => fingerprint,
      embedKeys: (x) => Effect.map(run(x, keysNormalisation), (outs) => tf.tidy(() => l2Normalize(asRows(outs.get(embeddingOutput)!)))),
      embedDataset: (dataset: ImageSource, v: AugmentConfig) => {
        const norm = resolveAugmentConfig(v)
        return extractFeaturesWith(
          (x) => Effect.map(run(x, norm), (outs) => asRows(outs.get(options.featureOutput)!)),
          dataset,
          v,
          `teacher: embedding ${dataset.name} (ONNX)`
        )
      }
    } satisfies TeacherShape
  })

const asRowsDim = (dims: ReadonlyArray<number>, layout: "NCHW" | "NHWC"): number =>
  dims.length === 2 ? dims[1]! : layout === "NCHW" ? dims[1]! : dims[3]!

const inputDims = (input: ModelInput, batch: number): Array<number> =>
  input.layout === "NCHW" ? [batch, input.channels, input.size, input.size] : [batch, input.size, input.size, input.channels]

/**
 * The model's image input checked against the run's views: a float tensor of rank 4 whose fixed
 * channel axis (by `layout`) takes the data's channels (or 3 for grey data, repeated) and whose
 * fixed side, if any, is `input.size` when given.
 */
const checkInput = (session: Session, path: string, options: OnnxTeacherOptions, viewSize: number) =>
  Effect.gen(function* () {
    const tensors = session.inputMetadata.filter((m) => m.isTensor)
    const wanted = options.input.name
    const meta = wanted === undefined ? (tensors.length === 1 ? tensors[0] : undefined) : tensors.find((m) => m.name === wanted)
    if (meta === undefined) {
      return yield* wanted === undefined
        ? new TeacherShapeMismatch({
            path,
            field: "teacher.input.name",
            reason: `the model has ${tensors.length} tensor inputs (${tensors.map((m) => m.name).join(", ")}); name the image input`
          })
        : new TeacherNameNotFound({ path, field: "teacher.input.name", name: wanted, available: tensors.map((m) => m.name) })
    }
    if (!meta.isTensor) return yield* Effect.die(new Error("unreachable: filtered to tensors"))
    if (meta.type !== "float32") {
      return yield* new TeacherShapeMismatch({
        path,
        field: "teacher.input",
        reason: `input '${meta.name}' takes ${meta.type}; bingo feeds float32 images`
      })
    }
    const dims = dimsOf(meta.shape)
    const layout = options.input.layout
    if (dims.length !== 4) {
      return yield* new TeacherShapeMismatch({
        path,
        field: "teacher.input",
        reason: `input '${meta.name}' has rank ${dims.length} [${meta.shape.join(", ")}]; bingo feeds images of rank 4 (${layout})`,
        expected: layout === "NCHW" ? [-1, options.views.channels, -1, -1] : [-1, -1, -1, options.views.channels],
        actual: dims
      })
    }
    const [channelAxis, otherAxis] = layout === "NCHW" ? [1, 3] : [3, 1]
    const dataChannels = options.views.channels
    const modelChannels = dims[channelAxis]! > 0 ? dims[channelAxis]! : dataChannels
    if (modelChannels !== dataChannels && !(modelChannels === 3 && dataChannels === 1)) {
      const hint =
        dims[otherAxis] === dataChannels
          ? `; its axis ${otherAxis} has ${dataChannels}: is the layout ${layout === "NCHW" ? "NHWC" : "NCHW"}?`
          : " (1-channel data are repeated to 3 channels, nothing else is converted)"
      return yield* new TeacherShapeMismatch({
        path,
        field: dims[otherAxis] === dataChannels ? "teacher.input.layout" : "teacher.input",
        reason: `input '${meta.name}' [${meta.shape.join(", ")}] takes ${modelChannels} channels on axis ${channelAxis} (${layout}) but the dataset's images have ${dataChannels}${hint}`,
        expected: layout === "NCHW" ? [-1, dataChannels, -1, -1] : [-1, -1, -1, dataChannels],
        actual: dims
      })
    }
    const [h, w] = layout === "NCHW" ? [dims[2]!, dims[3]!] : [dims[1]!, dims[2]!]
    if (h > 0 && w > 0 && h !== w) {
      return yield* new TeacherShapeMismatch({
        path,
        field: "teacher.input",
        reason: `input '${meta.name}' takes ${h}x${w} images; bingo's views are square`,
        actual: dims
      })
    }
    const fixed = h > 0 ? h : w > 0 ? w : undefined
    if (options.input.size !== undefined && fixed !== undefined && options.input.size !== fixed) {
      return yield* new TeacherShapeMismatch({
        path,
        field: "teacher.input.size",
        reason: `${options.input.size}, but input '${meta.name}' [${meta.shape.join(", ")}] takes ${fixed}x${fixed} images; set it to ${fixed} or leave it out`,
        expected: inputDims({ layout, channels: modelChannels, size: fixed, mean: [], std: [] }, -1),
        actual: inputDims({ layout, channels: modelChannels, size: options.input.size, mean: [], std: [] }, -1)
      })
    }
    const view = resolveAugmentConfig(options.views.augment)
    const input: ModelInput = {
      layout,
      size: options.input.size ?? fixed ?? viewSize,
      channels: modelChannels,
      mean: options.input.mean ?? view.mean,
      std: options.input.std ?? view.std
    }
    for (const key of ["mean", "std"] as const) {
      const values = input[key]
      if (values.length !== 1 && values.length !== modelChannels) {
        return yield* new TeacherShapeMismatch({
          path,
          field: `teacher.input.${key}`,
          reason: `${values.length} values for a model that takes ${modelChannels} channels (expected 1${modelChannels > 1 ? ` or ${modelChannels}` : ""})`
        })
      }
    }
    return { name: meta.name, batch: dims[0]!, input }
  })
