import { describe, expect, it } from "vitest"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { parseAllDocuments } from "yaml"
import { repoRoot, runCli } from "./cliProcess.ts"

/**
 * examples/scaling: the Kubernetes manifests parse, each Indexed Job's BINGO_TASK_COUNT is its
 * completions, the search Job has n*n completions for the embed Job's n, every pod shares the
 * volume that holds outDir, and every command (manifests and sbatch scripts) is a `bingo`
 * subcommand the CLI lists, on a config `bingo check` accepts with the same options.
 */
const example = join(repoRoot, "examples/scaling")
const steps = ["embed", "index", "search", "merge"] as const
/** The subcommand each step runs. */
const subcommand = { embed: ["embed"], index: ["bags", "index"], search: ["bags", "search"], merge: ["bags", "merge"] } as const

interface Container {
  command: Array<string>
  workingDir?: string
  env?: Array<{ name: string; value?: string }>
  volumeMounts?: Array<{ name: string; mountPath: string }>
}
interface Job {
  kind: string
  metadata: { name: string }
  spec: {
    completionMode?: string
    completions: number
    parallelism?: number
    template: {
      spec: {
        restartPolicy: string
        containers: Array<Container>
        volumes: Array<{ name: string; persistentVolumeClaim?: { claimName: string } }>
      }
    }
  }
}

const readYaml = (file: string): unknown => {
  const docs = parseAllDocuments(readFileSync(join(example, "kubernetes", file), "utf8"))
  expect(Array.isArray(docs) ? docs.length : 0, `${file}: one YAML document`).toBe(1)
  const [doc] = docs as Array<{ errors: Array<unknown>; toJS: () => unknown }>
  expect(doc!.errors, `${file} parses`).toEqual([])
  return doc!.toJS()
}

const jobs = Object.fromEntries(steps.map((s) => [s, readYaml(`${s}-job.yaml`) as Job])) as Record<(typeof steps)[number], Job>
const pvc = readYaml("pvc.yaml") as { kind: string; metadata: { name: string }; spec: { accessModes: Array<string> } }
const container = (step: (typeof steps)[number]) => jobs[step].spec.template.spec.containers[0]!
const env = (step: (typeof steps)[number], name: string) => container(step).env?.find((e) => e.name === name)?.value

/** `pnpm --silent bingo <subcommand...> <config> <options...>` split into its parts. */
const parseCommand = (words: ReadonlyArray<string>, sub: ReadonlyArray<string>) => {
  expect(words.slice(0, 3)).toEqual(["pnpm", "--silent", "bingo"])
  expect(words.slice(3, 3 + sub.length)).toEqual(sub)
  return { config: words[3 + sub.length]!, options: words.slice(4 + sub.length) }
}

describe("examples/scaling/kubernetes", () => {
  it("the embed, index and search Jobs are Indexed, with BINGO_TASK_COUNT equal to completions", () => {
    for (const step of ["embed", "index", "search"] as const) {
      const { spec, kind } = jobs[step]
      expect(kind).toBe("Job")
      expect(spec.completionMode).toBe("Indexed")
      expect(env(step, "BINGO_TASK_COUNT"), `${step}: BINGO_TASK_COUNT`).toBe(String(spec.completions))
      expect(spec.parallelism).toBeLessThanOrEqual(spec.completions)
      expect(spec.template.spec.restartPolicy).toBe("Never")
    }
    const n = jobs.embed.spec.completions
    expect(jobs.index.spec.completions).toBe(n)
    expect(jobs.search.spec.completions).toBe(n * n)
    // merge is one pod; it reads no task index
    expect(jobs.merge.spec.completions).toBe(1)
    expect(env("merge", "BINGO_TASK_COUNT")).toBeUndefined()
  })

  it("every pod mounts the shared ReadWriteMany claim where outDir is", () => {
    expect(pvc.kind).toBe("PersistentVolumeClaim")
    expect(pvc.spec.accessModes).toEqual(["ReadWriteMany"])
    const outDirs = new Set<string>()
    for (const step of steps) {
      const { volumes } = jobs[step].spec.template.spec
      const mount = container(step).volumeMounts!.find((m) =>
        volumes.some((v) => v.name === m.name && v.persistentVolumeClaim !== undefined)
      )!
      expect(volumes.find((v) => v.name === mount.name)!.persistentVolumeClaim!.claimName).toBe(pvc.metadata.name)
      const { options } = parseCommand(container(step).command, subcommand[step])
      const outDir = options[options.indexOf("--set") + 1]!.replace(/^outDir=/, "")
      expect(outDir.startsWith(`${mount.mountPath}/`), `${step}: outDir ${outDir} under ${mount.mountPath}`).toBe(true)
      outDirs.add(outDir)
    }
    expect(outDirs.size).toBe(1)
  })
})

describe("examples/scaling: the commands", () => {
  /** The config and options of each manifest's command, and of each sbatch script's `bingo` line. */
  const manifestCommands = steps.map((step) => ({ step, ...parseCommand(container(step).command, subcommand[step]) }))
  const sbatchLine = (step: (typeof steps)[number]) =>
    readFileSync(join(example, "slurm", `${step}.sbatch`), "utf8")
      .split("\n")
      .find((l) => /^\$\{BINGO:-pnpm --silent bingo\} /.test(l))

  it("every sbatch script runs its step's subcommand on its first argument, passing the rest on", () => {
    for (const step of steps)
      expect(sbatchLine(step), `${step}.sbatch`).toBe(`\${BINGO:-pnpm --silent bingo} ${subcommand[step].join(" ")} "$config" "$@"`)
  })

  it("the CLI lists every subcommand the manifests and scripts run", async () => {
    const { stderr, stdout } = await runCli([])
    const usage = stderr + stdout
    for (const step of steps)
      expect(usage, `bingo ${subcommand[step].join(" ")}`).toContain(`bingo ${subcommand[step].join(" ")} <config.yaml>`)
  })

  it("the manifests' config exists and `bingo check` accepts it with their options", async () => {
    const [first] = manifestCommands
    for (const c of manifestCommands)
      expect({ config: c.config, options: c.options }).toEqual({ config: first!.config, options: first!.options })
    expect(existsSync(join(repoRoot, first!.config)), first!.config).toBe(true)
    const checked = await runCli(["check", first!.config, ...first!.options])
    expect(checked.stderr).toBe("")
    expect(checked.code).toBe(0)
    expect(checked.stdout).toContain(`"outDir": "/data/scaling"`)
  })
})
