import { Effect } from "effect"
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import { Rng } from "@bingo/runtime"
import { createEncoder, disposeEncoder, type Encoder, type EncoderSpec, extractFeatures, loadWeights, readWeights } from "@bingo/backbones"
import type { ImageSource } from "@bingo/data"
import { linearProbePredictions } from "@bingo/eval"
import { Teacher } from "@bingo/teacher"
import type { PipelineConfig } from "../PipelineConfig.ts"
import { augmentOf, encoderSpec, type PipelineResult } from "../runPipeline.ts"
import { confusionChartSpec, confusionMatrix, mapChartSpec, mapPointsMax, mapSubsample, umap2d } from "./embeddingMaps.ts"
import { chartFigure, escapeHtml, htmlTable, type ReportSection } from "./html.ts"
import { vegaLiteSvg } from "./vegaSvg.ts"

interface Model {
  readonly name: string
  readonly encoder: Encoder
  /** Draw its 2-D map (the distilled student, the random student, the teacher). */
  readonly map: boolean
}

const slug = (s: string) => s.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "")

/**
 * The run's networks, as `runPipeline` evaluated them: the distilled student (student.safetensors,
 * its spec in the file's metadata), a random student of that spec and the run's seed, the teacher
 * (teacher.weights of the config, else the run's teacher.safetensors) and a random teacher. Each
 * is disposed when the caller's scope closes.
 */
const runModels = Effect.fn("runModels")(function* (
  runDir: string,
  config: PipelineConfig,
  train: ImageSource,
  results: PipelineResult | undefined
) {
  const models: Array<Model> = []
  const owned = (make: () => Encoder) => Effect.acquireRelease(Effect.sync(make), (e) => Effect.sync(() => disposeEncoder(e)))
  const studentPath = join(runDir, "student.safetensors")
  if (existsSync(studentPath)) {
    const spec = JSON.parse((yield* readWeights(studentPath)).metadata["spec"]!) as EncoderSpec
    const student = yield* owned(() => createEncoder(spec, Rng.fromSeed(0), "student"))
    yield* loadWeights(studentPath, student.params)
    models.push({ name: results?.rows[0]?.model ?? `student (${config.distill.loss.name})`, encoder: student, map: true })
    if (config.eval.randomBaseline)
      models.push({
        name: "student (random init)",
        encoder: yield* owned(() => createEncoder(spec, Rng.fromSeed(config.seed), "random-student")),
        map: true
      })
  }
  const augment = augmentOf(config, train)
  const teacherPath = config.teacher.weights === undefined ? join(runDir, "teacher.safetensors") : resolve(runDir, config.teacher.weights)
  const teacherFormat = config.teacher.weights === undefined ? "bingo" : config.teacher.weightsFormat
  const teacherBackbone = config.teacher.backbone
  // a teacher bingo builds as an encoder (bingo, torchvision); a model file (onnx, tfjs) has no encoder to map here
  if (
    config.eval.teacher &&
    teacherBackbone !== undefined &&
    (teacherFormat === "bingo" || teacherFormat === "torchvision") &&
    existsSync(teacherPath)
  ) {
    const teacherSpec = encoderSpec({ ...config.teacher, backbone: teacherBackbone }, [
      augment.outputSize,
      augment.outputSize,
      train.channels
    ])
    // the layer frees its teacher when the provided effect ends: copy the weights into one owned by our scope
    const teacher = yield* Effect.gen(function* () {
      const loaded = (yield* Teacher).encoder!
      return yield* owned(() => cloneWeights(loaded))
    }).pipe(
      Effect.provide(
        Teacher.layerPretrained({
          spec: teacherSpec,
          weights: teacherPath,
          bnMode: config.teacher.bnMode,
          format: teacherFormat,
          torchvision: {
            head: config.teacher.weightsHead,
            ...(config.teacher.weightsPrefix === undefined ? {} : { prefix: config.teacher.weightsPrefix })
          }
        })
      )
    )
    models.push({ name: "teacher", encoder: teacher, map: true })
    models.push({
      name: "teacher (random init)",
      encoder: yield* owned(() => createEncoder(teacherSpec, Rng.fromSeed(config.seed), "random-teacher")),
      map: false
    })
  }
  return models
})

/** A new encoder of `encoder`'s spec holding a copy of its weights (the original may be disposed). */
const cloneWeights = (encoder: Encoder): Encoder => {
  const copy = createEncoder(encoder.spec, Rng.fromSeed(0), "teacher-copy")
  for (const [name, v] of encoder.params) copy.params.get(name)!.assign(v)
  return copy
}

/**
 * Stage C: for each of the run's networks, the linear probe of `runPipeline`'s evaluation trained
 * again (same features, options and seed: `linearProbePredictions`) for its confusion matrix on
 * the test images, and, for the distilled student, the random student and the teacher, a 2-D UMAP
 * map of the test images' backbone features coloured by class (at most `mapPointsMax` points,
 * a seeded subsample above). Needs labelled train and test splits.
 */
export const embeddingSection = Effect.fn("embeddingSection")(function* (
  runDir: string,
  config: PipelineConfig,
  train: ImageSource,
  test: ImageSource | undefined,
  results: PipelineResult | undefined
) {
  const section = (body: string): ReportSection => ({ id: "embeddings", title: "Embeddings and confusion", body })
  if (test === undefined || train.labels === undefined || test.labels === undefined)
    return section('<p class="note">The data have no labelled test split: no maps coloured by class, no confusion matrices.</p>')
  const trainLabels = train.labels
  const testLabels = test.labels
  const models = yield* runModels(runDir, config, train, results)
  if (models.length === 0) return section('<p class="note">No student.safetensors or teacher weights in this folder yet.</p>')
  let maxLabel = 0
  for (const l of trainLabels) maxLabel = Math.max(maxLabel, l)
  for (const l of testLabels) maxLabel = Math.max(maxLabel, l)
  const numClasses = Math.max(train.numClasses ?? 0, maxLabel + 1)
  const names = Array.from({ length: numClasses }, (_, c) => train.classNames?.[c] ?? `class ${c}`)
  const view = augmentOf(config, train)
  const rows = mapSubsample(test.size, mapPointsMax, config.seed)
  const maps: Array<string> = []
  const matrices: Array<string> = []
  const agreement: Array<Array<string>> = []
  for (const model of models) {
    const tr = yield* extractFeatures(model.encoder, train, view, `report: features of ${train.name} (${model.name})`)
    const te = yield* extractFeatures(model.encoder, test, view, `report: features of ${test.name} (${model.name})`)
    const probe = linearProbePredictions(
      { features: tr.values, labels: trainLabels },
      { features: te.values, labels: testLabels },
      tr.dim,
      { ...config.eval.linear, numClasses },
      Rng.fromSeed(config.seed)
    )
    const recorded = results?.rows.find((r) => r.model === model.name)?.scores.linearTop1
    agreement.push([
      escapeHtml(model.name),
      Number.isFinite(probe.top1) ? (100 * probe.top1).toFixed(1) : "diverged",
      recorded === undefined ? "–" : (100 * recorded).toFixed(1)
    ])
    if (probe.predictions.length > 0)
      matrices.push(
        chartFigure(
          `confusion-${slug(model.name)}`,
          yield* vegaLiteSvg(confusionChartSpec(model.name, confusionMatrix(testLabels, probe.predictions, numClasses), names))
        )
      )
    if (model.map) {
      const xy = yield* umap2d(te.values, te.dim, rows, config.seed)
      const points = xy.map(([x, y], j) => ({ x, y, label: names[testLabels[rows[j]!]!]! }))
      const subtitle = `UMAP of ${rows.length.toLocaleString("en-US")}${rows.length < test.size ? ` of ${test.size.toLocaleString("en-US")}` : ""} test images' features (${te.dim}-d)`
      maps.push(chartFigure(`map-${slug(model.name)}`, yield* vegaLiteSvg(mapChartSpec(model.name, subtitle, points, names))))
    }
  }
  const table = htmlTable(["model", "linear top-1 of these predictions (%)", "results.json (%)"], agreement, [1, 2])
  return section(
    `<h3>Maps of the test images</h3><p class="note">Each network's backbone features of the test images, laid out in 2-D by UMAP (umap-js, seeded), coloured by class. Clusters of one colour mean features a linear probe or kNN can read the class from; the random networks show what the architecture gives before training.</p><div class="charts small">${maps.join("")}</div>` +
      `<h3>Confusion matrices</h3><p class="note">The linear probe of the evaluation, trained again with the same features, options and seed; its top-1 matches results.json's when the report runs on the run's backend. Rows are the true class, columns the predicted one; the shade is the share of the row.</p>${table}<div class="charts small">${matrices.join("")}</div>`
  )
})
