import { Schema } from "effect"

/** The config file is missing, not YAML, or does not match the schema (message names the key path). */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.path}: ${this.reason}`
  }
}

/** A plugin file could not be loaded or does not export a loss. */
export class PluginError extends Schema.TaggedError<PluginError>()("PluginError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `plugin ${this.path}: ${this.reason}`
  }
}

/**
 * \`bingo embed\` needs a teacher it can load: a bingo teacher without \`teacher.weights\` is
 * pre-trained by \`bingo run\` (MoCo-v2) into <outDir>/teacher.safetensors, which embed reuses but
 * never trains (an array of embedding tasks would each pre-train their own).
 */
export class TeacherNotPretrained extends Schema.TaggedError<TeacherNotPretrained>()("TeacherNotPretrained", {
  path: Schema.String
}) {
  override get message(): string {
    return `teacher.weights: not set, and ${this.path} does not exist: embedding does not pre-train the teacher; run \`bingo run\` on this config first (its MoCo-v2 pre-training writes ${this.path}), or set teacher.weights`
  }
}
