import { SchemaIssue } from "effect"

/** Parse options for decoding user input: every problem, unknown keys refused, the bad values quoted in messages. */
export const userInputParseOptions = { errors: "all", onExcessProperty: "error", reportInput: true } as const

/** A key path as written in YAML and `--set`: `distill.epochs`, `augment.cropScale[1]`, `plugins[0]`. */
export const formatKeyPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((out, key) => {
    if (typeof key === "number") return `${out}[${key}]`
    const name = String(key)
    return out === "" ? name : `${out}.${name}`
  }, "")

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * Every problem of a failed decode, one string each: `<key path>: <message>`, the key path
 * prefixed with `prefix` (e.g. `distill.loss.options`), e.g.
 * `distill.epochs: Expected number, got "ten"` (values are quoted when the decode ran with
 * `userInputParseOptions`). A problem at the root has no key path.
 */
export const schemaProblems = (issue: SchemaIssue.Issue, prefix: ReadonlyArray<PropertyKey> = []): ReadonlyArray<string> =>
  formatter(issue).issues.map(({ path, message }) => {
    const at = formatKeyPath([
      ...prefix,
      ...(path ?? []).map((p) => (typeof p === "object" && p !== null && "key" in p ? p.key : p) as PropertyKey)
    ])
    return at === "" ? message : `${at}: ${message}`
  })

/** `schemaProblems` on one line: the problem, or "N problems: a; b; c". */
export const formatSchemaProblems = (issue: SchemaIssue.Issue, prefix: ReadonlyArray<PropertyKey> = []): string => {
  const problems = schemaProblems(issue, prefix)
  return problems.length === 1 ? problems[0]! : `${problems.length} problems: ${problems.join("; ")}`
}
