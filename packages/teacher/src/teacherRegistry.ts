import type { Layer } from "effect"
import type { EncoderSpec } from "@bingo/backbones"
import type { AugmentConfig } from "@bingo/data"
import type { MocoOptions } from "./pretrainMoco.ts"
import { Teacher, type TeacherBnMode } from "./Teacher.ts"
import type { TeacherInputOptions } from "./teacherInput.ts"

/** The names `teacher.weightsFormat` takes. */
export const teacherFormatNames = ["bingo", "torchvision", "onnx", "tfjs"] as const
export type TeacherFormatName = (typeof teacherFormatNames)[number]

/**
 * The config's `teacher` keys a format may read, `weights` resolved to a path. Which keys each
 * format reads, and which it needs, is its registry entry's `fields`.
 */
export interface TeacherSettings {
  readonly weights?: string | undefined
  readonly backbone?: string | undefined
  readonly widthMultiplier: number
  readonly stem?: EncoderSpec["stem"] | undefined
  readonly headHidden: number
  readonly embeddingDim: number
  readonly weightsPrefix?: string | undefined
  readonly weightsHead: "require" | "skip"
  readonly featureOutput?: string | undefined
  readonly embeddingOutput?: string | undefined
  readonly input?: Partial<TeacherInputOptions> | undefined
  readonly bnMode: TeacherBnMode
}

/** What a format's layer is built from: the settings, the run's views and, for a teacher pre-trained here, the pre-training. */
export interface TeacherBuild {
  readonly teacher: TeacherSettings
  /** The run's views: their augmentation (view size, mean, std) and the dataset's channels. */
  readonly views: { readonly augment: AugmentConfig; readonly channels: number }
  /** `bingo` without `weights`: MoCo-v2 pre-training here, its seed, and the file it saves to and reuses. */
  readonly pretrain: { readonly moco: MocoOptions; readonly seed: number; readonly weightsPath: string }
}

/** A `teacher` key a format reads. */
export interface TeacherField {
  readonly key: string
  /** The run fails (with the key named) when a required key is missing. */
  readonly required: boolean
  readonly description: string
}

/** One way to bring a teacher: what it loads, what runs it, the keys it reads and its layer. */
export interface TeacherFormat {
  readonly name: TeacherFormatName
  readonly description: string
  /** What runs the teacher's passes. */
  readonly runsIn: string
  /** `teacher.weights`: the file, and whether the format needs one (bingo pre-trains a teacher without). */
  readonly weights: { readonly required: boolean; readonly description: string }
  /** The other `teacher` keys it reads (beyond weightsFormat and weights). */
  readonly fields: ReadonlyArray<TeacherField>
  readonly layer: (build: TeacherBuild) => TeacherLayer
}

type TeacherLayer =
  | ReturnType<typeof Teacher.layerMoco>
  | ReturnType<typeof Teacher.layerPretrained>
  | ReturnType<typeof Teacher.layerOnnx>
  | ReturnType<typeof Teacher.layerTfjs>

/** The error a registry layer may fail with (any format's). */
export type TeacherLayerError = Layer.Error<TeacherLayer>

const encoderFields: ReadonlyArray<TeacherField> = [
  { key: "backbone", required: true, description: "backbone from the backbone registry (bingo backbones)" },
  { key: "widthMultiplier", required: false, description: "width multiplier of the backbone (default 1)" },
  { key: "stem", required: false, description: "ResNet / MobileNetV2 stem: imagenet or cifar (default by view size)" },
  { key: "headHidden", required: false, description: "hidden width of the projection head (default 512)" },
  { key: "embeddingDim", required: false, description: "embedding width (default 128; the student's must equal it)" },
  { key: "bnMode", required: false, description: "eval (running statistics, default) or batch-stats (the reference's teacher)" }
]

const modelFileFields = (layout: "NCHW" | "NHWC", outputs: string): ReadonlyArray<TeacherField> => [
  { key: "featureOutput", required: true, description: `${outputs} with the pooled backbone features [batch, D] (or a 4-D map, averaged)` },
  { key: "embeddingOutput", required: false, description: `${outputs} with the head's embedding [batch, D] (default: the features)` },
  {
    key: "input",
    required: false,
    description: `{ layout (default ${layout}), mean, std (default: the model's recorded preprocessing, else augment's), size, name }`
  }
]

const encoderSpec = (teacher: TeacherSettings, views: TeacherBuild["views"]): EncoderSpec => ({
  backbone: teacher.backbone ?? "",
  inputShape: [views.augment.outputSize, views.augment.outputSize, views.channels],
  widthMultiplier: teacher.widthMultiplier,
  headHidden: teacher.headHidden,
  embeddingDim: teacher.embeddingDim,
  ...(teacher.stem === undefined ? {} : { stem: teacher.stem })
})

const modelFileOptions = (build: TeacherBuild, layout: "NCHW" | "NHWC") => ({
  weights: build.teacher.weights ?? "",
  featureOutput: build.teacher.featureOutput ?? "",
  embeddingOutput: build.teacher.embeddingOutput,
  input: { ...build.teacher.input, layout: build.teacher.input?.layout ?? layout },
  views: build.views
})

/**
 * Every way to bring a teacher, by `teacher.weightsFormat`: one place, like the loss and backbone
 * registries. `bingo teachers` prints it; the config check (`teacherConfigProblem`) and the
 * pipeline's teacher layer both read it. Adding a format adds an entry (and its tests).
 */
export const teacherRegistry: Readonly<Record<TeacherFormatName, TeacherFormat>> = {
  bingo: {
    name: "bingo",
    description: "a teacher.safetensors bingo wrote (an encoder's own names); without weights, pre-trained here with MoCo-v2",
    runsIn: "TF.js (the run's backend)",
    weights: {
      required: false,
      description: ".safetensors bingo saved; absent: MoCo-v2 pre-training (teacher.pretrain), saved as <outDir>/teacher.safetensors"
    },
    fields: [...encoderFields, { key: "pretrain", required: false, description: "MoCo-v2 pre-training settings (only without weights)" }],
    layer: (b) =>
      b.teacher.weights === undefined
        ? Teacher.layerMoco({
            spec: encoderSpec(b.teacher, b.views),
            augment: b.views.augment,
            moco: b.pretrain.moco,
            seed: b.pretrain.seed,
            weightsPath: b.pretrain.weightsPath,
            bnMode: b.teacher.bnMode
          })
        : Teacher.layerPretrained({
            spec: encoderSpec(b.teacher, b.views),
            weights: b.teacher.weights,
            bnMode: b.teacher.bnMode,
            format: "bingo"
          })
  },
  torchvision: {
    name: "torchvision",
    description: "a PyTorch checkpoint (torchvision ResNet / MobileNetV2, MoCo-v2 head) exported to .safetensors",
    runsIn: "TF.js (the run's backend)",
    weights: { required: true, description: ".safetensors of the state dict (packages/backbones/README.md has the one-line export)" },
    fields: [
      ...encoderFields,
      { key: "weightsPrefix", required: false, description: "name prefix to strip (default: detected, e.g. module.encoder_q.)" },
      { key: "weightsHead", required: false, description: "require the MoCo-v2 head fc.0 / fc.2 (default) or skip it" }
    ],
    layer: (b) =>
      Teacher.layerPretrained({
        spec: encoderSpec(b.teacher, b.views),
        weights: b.teacher.weights ?? "",
        bnMode: b.teacher.bnMode,
        format: "torchvision",
        torchvision: { head: b.teacher.weightsHead, ...(b.teacher.weightsPrefix === undefined ? {} : { prefix: b.teacher.weightsPrefix }) }
      })
  },
  onnx: {
    name: "onnx",
    description: "any network exported to ONNX",
    runsIn: "onnxruntime-node (CPU; optional dependency)",
    weights: { required: true, description: "the .onnx file" },
    fields: modelFileFields("NCHW", "ONNX output"),
    layer: (b) => Teacher.layerOnnx(modelFileOptions(b, "NCHW"))
  },
  tfjs: {
    name: "tfjs",
    description: "a TF.js layers or graph model (a student bingo exported, tfjs-converter output)",
    runsIn: "TF.js (the run's backend)",
    weights: { required: true, description: "the model.json (its weight files beside it, as its manifest lists them)" },
    fields: modelFileFields("NHWC", "layer name (layers model) or node name (graph model)"),
    layer: (b) => Teacher.layerTfjs(modelFileOptions(b, "NHWC"))
  }
}

/** The registry's entries, in order. */
export const listTeacherFormats = (): ReadonlyArray<TeacherFormat> => teacherFormatNames.map((n) => teacherRegistry[n])

/** Every key a format may read besides weightsFormat and weights (each format's fields, together). */
const formatKeys = [...new Set(teacherFormatNames.flatMap((n) => teacherRegistry[n].fields.map((f) => f.key)))]

/**
 * The first problem with a config's teacher keys for its format, or undefined: a key the format
 * needs that is missing (`weights` included), or a key the user set that the format does not read
 * (refused rather than silently ignored). `given` holds the keys set to other than their defaults.
 */
export const teacherConfigProblem = (format: TeacherFormatName, given: Readonly<Record<string, unknown>>): string | undefined => {
  const entry = teacherRegistry[format]
  const reads = new Set(entry.fields.map((f) => f.key))
  if (entry.weights.required && given["weights"] === undefined)
    return `teacher.weights: required for weightsFormat ${format} (${entry.weights.description})`
  for (const key of formatKeys) {
    if (given[key] !== undefined && !reads.has(key)) {
      const readers = teacherFormatNames.filter((n) => teacherRegistry[n].fields.some((f) => f.key === key))
      return `teacher.${key}: not read by weightsFormat ${format} (only by ${readers.join(", ")})`
    }
  }
  for (const field of entry.fields) {
    if (field.required && given[field.key] === undefined) {
      return `teacher.${field.key}: required for weightsFormat ${format}${given["weights"] === undefined && format === "bingo" ? " (the teacher pre-trained here)" : ""}: ${field.description}`
    }
  }
  return undefined
}

/** The `bingo teachers` listing: each format, what runs it, and the keys it reads (* = required). */
export const formatTeacherFormats = (): string =>
  listTeacherFormats()
    .map((f) =>
      [
        `${f.name.padEnd(12)} ${f.description}`,
        `${"".padEnd(12)} runs in: ${f.runsIn}`,
        `${"".padEnd(12)} weights${f.weights.required ? "*" : ""}: ${f.weights.description}`,
        ...f.fields.map((field) => `${"".padEnd(12)} ${field.key}${field.required ? "*" : ""}: ${field.description}`)
      ].join("\n")
    )
    .join("\n\n")
