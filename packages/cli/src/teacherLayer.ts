import { join, resolve } from "node:path"
import type { EncoderSpec } from "@bingo/backbones"
import type { AugmentConfig } from "@bingo/data"
import { Teacher } from "@bingo/teacher"
import type { StepReport } from "@bingo/training"
import type { PipelineConfig } from "./PipelineConfig.ts"

/** What the teacher's layer needs from the run besides its config section. */
export interface TeacherContext {
  readonly configDir: string
  readonly outDir: string
  /** The run's augmentation, view size filled in: the views the teacher is fed. */
  readonly augment: AugmentConfig
  /** The dataset's channels. */
  readonly channels: number
  readonly seed: number
  readonly metrics: { readonly path: string; readonly every: number }
  /** Called after every pre-training step (`bingo run`'s progress bar). */
  readonly onStep?: ((report: StepReport) => void) | undefined
}

/** The teacher's encoder spec (formats bingo builds: bingo, torchvision, MoCo-v2 here); `backbone` is checked by loadConfig. */
const teacherSpec = (teacher: PipelineConfig["teacher"], context: TeacherContext): EncoderSpec => ({
  backbone: teacher.backbone ?? "",
  inputShape: [context.augment.outputSize, context.augment.outputSize, context.channels],
  widthMultiplier: teacher.widthMultiplier,
  headHidden: teacher.headHidden,
  embeddingDim: teacher.embeddingDim,
  ...(teacher.stem === undefined ? {} : { stem: teacher.stem })
})

/**
 * The Teacher layer a config's `teacher` section asks for: an ONNX graph (weightsFormat onnx,
 * run by onnxruntime-node), a TF.js model (tfjs, run by the run's backend), an encoder loaded from `.safetensors` (bingo, torchvision), or, with
 * no `weights`, an encoder pre-trained here with MoCo-v2 (saved as <outDir>/teacher.safetensors).
 */
export const teacherLayer = (
  config: PipelineConfig & { readonly teacher: { readonly pretrain: { readonly queueSize: number } } },
  context: TeacherContext
) => {
  const teacher = config.teacher
  if (teacher.weights === undefined) {
    return Teacher.layerMoco({
      spec: teacherSpec(teacher, context),
      augment: context.augment,
      moco: { ...teacher.pretrain, logEvery: 0, metrics: context.metrics, onStep: context.onStep },
      seed: context.seed,
      weightsPath: join(context.outDir, "teacher.safetensors"),
      bnMode: teacher.bnMode
    })
  }
  const weights = resolve(context.configDir, teacher.weights)
  if (teacher.weightsFormat === "onnx" || teacher.weightsFormat === "tfjs") {
    const options = {
      weights,
      featureOutput: teacher.featureOutput ?? "",
      embeddingOutput: teacher.embeddingOutput,
      input: { ...teacher.input, layout: teacher.input?.layout ?? (teacher.weightsFormat === "onnx" ? "NCHW" : "NHWC") },
      views: { augment: context.augment, channels: context.channels }
    } as const
    return teacher.weightsFormat === "onnx" ? Teacher.layerOnnx(options) : Teacher.layerTfjs(options)
  }
  return Teacher.layerPretrained({
    spec: teacherSpec(teacher, context),
    weights,
    bnMode: teacher.bnMode,
    format: teacher.weightsFormat,
    torchvision: {
      head: teacher.weightsHead,
      ...(teacher.weightsPrefix === undefined ? {} : { prefix: teacher.weightsPrefix })
    }
  })
}
