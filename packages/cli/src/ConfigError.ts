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
