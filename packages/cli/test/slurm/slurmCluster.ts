import { type ChildProcess, execFile, spawn } from "node:child_process"
import {
  accessSync,
  chmodSync,
  chownSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync
} from "node:fs"
import { createServer } from "node:net"
import { cpus, hostname, tmpdir, totalmem } from "node:os"
import { delimiter, join } from "node:path"

/**
 * A one-node Slurm cluster for tests: munged, slurmctld and slurmd of Debian's `slurm-wlm` and
 * `munge`, everything they write (config, munge key and socket, state, spool, logs) in one temp
 * dir, on free ports, so it depends on nothing in /etc/slurm and does not meet a system Slurm.
 * There is no slurmdbd, so `sacct` does not work: jobs are followed with `scontrol show job`
 * (finished jobs stay there for MinJobAge, set to an hour) and their output files.
 *
 * Needs root: slurmd starts each job as the user who submitted it and munged runs as `munge`.
 */

const binaries = ["munged", "mungekey", "slurmctld", "slurmd", "sbatch", "scontrol", "squeue", "sinfo", "scancel"] as const
type Binary = (typeof binaries)[number]

/** `name` on PATH or in the sbin folders a non-login shell may lack. */
const which = (name: string): string | undefined => {
  const dirs = [...(process.env["PATH"] ?? "").split(delimiter), "/usr/sbin", "/sbin", "/usr/local/sbin"]
  for (const dir of dirs) {
    if (dir === "") continue
    const path = join(dir, name)
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {}
  }
  return undefined
}

/** The uid and gid of a user from /etc/passwd (munged refuses to run as root). */
const passwdUser = (name: string): { uid: number; gid: number } | undefined => {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`))
  if (line === undefined) return undefined
  const [, , uid, gid] = line.split(":")
  return { uid: Number(uid), gid: Number(gid) }
}

/** Why the cluster cannot start here (for `describe.skipIf`), or undefined when it can. */
export const slurmUnavailable: string | undefined = (() => {
  if (process.platform !== "linux") return "the Slurm tests need Linux"
  if (process.getuid?.() !== 0) return "the Slurm tests need root (slurmd starts jobs as their user; munged runs as the munge user)"
  const missing = binaries.filter((b) => which(b) === undefined)
  if (missing.length > 0) return `Slurm or munge is not installed (missing ${missing.join(", ")}); apt-get install slurm-wlm munge`
  if (passwdUser("munge") === undefined) return "there is no munge user (the munge package creates it)"
  return undefined
})()

/** One task of a job as `scontrol show job` reports it (a job that is not an array has one). */
export interface SlurmTask {
  readonly jobId: string
  /** The array job's id and this task's id, for an array task. */
  readonly arrayJobId?: string
  readonly arrayTaskId?: string
  readonly state: string
  readonly reason: string
  /** `code:signal`. */
  readonly exitCode: string
  readonly startTime: string
  readonly endTime: string
  readonly stdoutPath: string
  readonly stderrPath: string
  /** The output files' text once the task has finished ("" when there is none). */
  readonly stdout: string
  readonly stderr: string
}

export interface SubmitOptions {
  /** `--array`, e.g. `0-2`. */
  readonly array?: string
  /** `--dependency`, e.g. `afterok:12`. */
  readonly dependency?: string
  /** Variables added to the job's environment (sbatch exports the whole submitting environment). */
  readonly env?: Readonly<Record<string, string>>
  /** The job's working directory (default: the cluster's dir). */
  readonly cwd?: string
  /** More sbatch arguments. */
  readonly args?: ReadonlyArray<string>
}

export interface SlurmCluster {
  /** The temp dir holding everything the cluster writes. */
  readonly dir: string
  /** The environment for Slurm's commands: the test's with SLURM_CONF pointing at this cluster. */
  readonly env: Readonly<Record<string, string | undefined>>
  readonly nodeName: string
  readonly cpus: number
  /** The process ids of munged, slurmctld and slurmd. */
  readonly daemonPids: ReadonlyArray<number>
  /** Write an executable script into the cluster's dir; returns its path. */
  readonly script: (name: string, body: string) => string
  /** `sbatch --parsable script`: the job id. Output goes to `<dir>/jobs/slurm-<task's job id>.{out,err}` unless `args` say otherwise. */
  readonly submit: (script: string, options?: SubmitOptions) => Promise<string>
  /** Run one of Slurm's commands against this cluster (e.g. a `submit.sh` that calls sbatch itself). */
  readonly command: (file: string, args: ReadonlyArray<string>, options?: { cwd?: string; env?: Record<string, string> }) => Promise<string>
  /** The tasks of a job now. */
  readonly tasks: (jobId: string) => Promise<ReadonlyArray<SlurmTask>>
  /**
   * Wait until every task of these jobs has finished; fails with the tasks' states, exit codes,
   * stdout and stderr when one did not complete, or when one can never run (its dependency failed).
   */
  readonly waitFor: (jobIds: ReadonlyArray<string>, timeoutMs: number) => Promise<ReadonlyArray<SlurmTask>>
  /** The daemons' logs (the last lines of each). */
  readonly logs: () => string
  /** Cancel every job, stop the daemons and whatever the jobs left running, remove the dir. */
  readonly stop: () => Promise<void>
}

const finalStates = new Set([
  "COMPLETED",
  "FAILED",
  "CANCELLED",
  "TIMEOUT",
  "NODE_FAIL",
  "OUT_OF_MEMORY",
  "PREEMPTED",
  "BOOT_FAIL",
  "DEADLINE"
])

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms))

const tail = (path: string, lines: number): string => {
  if (!existsSync(path)) return "(no file)"
  const text = readFileSync(path, "utf8").trimEnd().split("\n")
  return text.slice(-lines).join("\n")
}

const readIfExists = (path: string) => (path !== "" && existsSync(path) ? readFileSync(path, "utf8") : "")

const freePort = () =>
  new Promise<number>((ok, fail) => {
    const server = createServer()
    server.on("error", fail)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? ok(address.port) : fail(new Error("no port"))))
    })
  })

const run = (file: string, args: ReadonlyArray<string>, env: Record<string, string | undefined>, cwd?: string) =>
  new Promise<string>((ok, fail) =>
    execFile(file, [...args], { env, cwd, encoding: "utf8", timeout: 30_000 }, (error, stdout, stderr) =>
      error ? fail(new Error(`${file} ${args.join(" ")} failed (${error.message.split("\n")[0]}):\n${stderr}${stdout}`)) : ok(stdout)
    )
  )

/** The fields of one `scontrol -o show job` line (values here have no spaces: paths in tests have none). */
const field = (line: string, key: string) => line.match(new RegExp(`(?:^| )${key}=(\\S*)`))?.[1] ?? ""

const parseTask = (line: string): SlurmTask => {
  const arrayJobId = field(line, "ArrayJobId")
  const state = field(line, "JobState")
  const stdoutPath = field(line, "StdOut")
  const stderrPath = field(line, "StdErr")
  const done = finalStates.has(state)
  return {
    jobId: field(line, "JobId"),
    ...(arrayJobId !== "" ? { arrayJobId, arrayTaskId: field(line, "ArrayTaskId") } : {}),
    state,
    reason: field(line, "Reason"),
    exitCode: field(line, "ExitCode"),
    startTime: field(line, "StartTime"),
    endTime: field(line, "EndTime"),
    stdoutPath,
    stderrPath,
    stdout: done ? readIfExists(stdoutPath) : "",
    stderr: done && stderrPath !== stdoutPath ? readIfExists(stderrPath) : ""
  }
}

const taskName = (t: SlurmTask) => (t.arrayJobId !== undefined ? `${t.arrayJobId}_${t.arrayTaskId}` : t.jobId)

const describeTask = (t: SlurmTask) =>
  [
    `job ${taskName(t)}: ${t.state} (exit ${t.exitCode}, reason ${t.reason})`,
    `  stdout (${t.stdoutPath}):\n${t.stdout.trimEnd() || "(empty)"}`,
    ...(t.stderrPath !== t.stdoutPath ? [`  stderr (${t.stderrPath}):\n${t.stderr.trimEnd() || "(empty)"}`] : [])
  ].join("\n")

/** Processes (other than this one) whose environment holds `SLURM_CONF=<conf>`: the daemons, jobs and steps of a cluster. */
export const processesOf = (conf: string): ReadonlyArray<number> => {
  const needle = Buffer.from(`SLURM_CONF=${conf}\0`)
  const pids: Array<number> = []
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    try {
      if (readFileSync(`/proc/${pid}/environ`).includes(needle)) pids.push(pid)
    } catch {} // gone, or not ours to read
  }
  return pids
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Start the cluster and wait until its node is idle (or fail with the daemons' logs after `timeoutMs`). */
export const startSlurmCluster = async (timeoutMs = 30_000): Promise<SlurmCluster> => {
  if (slurmUnavailable !== undefined) throw new Error(slurmUnavailable)
  const bin = Object.fromEntries(binaries.map((b) => [b, which(b)!])) as Record<Binary, string>
  const munge = passwdUser("munge")!
  const dir = mkdtempSync(join(tmpdir(), "bingo-slurm-"))
  chmodSync(dir, 0o755) // munged (as munge) must reach its socket below
  const mungeDir = join(dir, "munge")
  const logDir = join(dir, "log")
  const nodeName = hostname().split(".")[0]!
  for (const d of [mungeDir, logDir, join(dir, "state"), join(dir, "spool"), join(dir, "jobs")]) mkdirSync(d, { recursive: true })

  const conf = join(dir, "slurm.conf")
  const env: Record<string, string | undefined> = { ...process.env, SLURM_CONF: conf }
  const children: Array<{ name: string; child: ChildProcess }> = []
  const killAll = () => {
    for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }
  // a worker that exits without running afterAll still takes its daemons with it
  process.once("exit", killAll)

  const logs = () =>
    readdirSync(logDir)
      .sort()
      .map((f) => `--- ${join(logDir, f)}\n${tail(join(logDir, f), 25)}`)
      .join("\n")

  const daemon = (name: string, file: string, args: ReadonlyArray<string>, user?: { uid: number; gid: number }) => {
    const out = openSync(join(logDir, `${name}.out`), "a")
    const child = spawn(file, [...args], { env, stdio: ["ignore", out, out], ...(user ?? {}) })
    child.on("error", () => {}) // reported through its log and the readiness check
    children.push({ name, child })
    return child
  }

  const stopped = { done: false }
  const stop = async () => {
    if (stopped.done) return
    stopped.done = true
    try {
      const jobs = (await run(bin.squeue, ["-h", "-o", "%A"], env)).split("\n").filter((l) => l.trim() !== "")
      if (jobs.length > 0) await run(bin.scancel, [...new Set(jobs)], env)
      for (let i = 0; i < 50 && (await run(bin.squeue, ["-h", "-o", "%A"], env)).trim() !== ""; i++) await sleep(100)
    } catch {} // the controller may be down already; the jobs' processes are killed below
    for (const { child } of [...children].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue
      child.kill("SIGTERM")
      const exited = await Promise.race([new Promise((ok) => child.once("exit", ok)).then(() => true), sleep(5_000).then(() => false)])
      if (!exited) child.kill("SIGKILL")
    }
    // slurmstepd and job processes outlive slurmd; they carry this cluster's SLURM_CONF
    for (const pid of processesOf(conf)) {
      try {
        process.kill(pid, "SIGKILL")
      } catch {}
    }
    for (let i = 0; i < 50 && processesOf(conf).some(alive); i++) await sleep(100)
    process.removeListener("exit", killAll)
    rmSync(dir, { recursive: true, force: true })
  }

  try {
    // munge: a fresh key and a socket of our own, the daemon as the munge user
    const key = join(mungeDir, "munge.key")
    await run(bin.mungekey, ["--create", `--keyfile=${key}`], env)
    chownSync(mungeDir, munge.uid, munge.gid)
    chownSync(key, munge.uid, munge.gid)
    chmodSync(key, 0o600)
    const socket = join(mungeDir, "munge.socket.2")
    daemon(
      "munged",
      bin.munged,
      [
        "--foreground",
        `--socket=${socket}`,
        `--key-file=${key}`,
        `--log-file=${join(mungeDir, "munged.log")}`,
        `--pid-file=${join(mungeDir, "munged.pid")}`,
        `--seed-file=${join(mungeDir, "munged.seed")}`
      ],
      munge
    )
    for (let i = 0; !existsSync(socket); i++) {
      if (i > 100) throw new Error(`munged did not create ${socket}:\n${tail(join(mungeDir, "munged.log"), 20)}\n${logs()}`)
      await sleep(100)
    }

    const [ctldPort, slurmdPort] = [await freePort(), await freePort()]
    const cpuCount = cpus().length
    const memoryMiB = Math.floor(totalmem() / 2 ** 20)
    writeFileSync(
      conf,
      [
        "ClusterName=bingotest",
        `SlurmctldHost=${nodeName}(127.0.0.1)`,
        `SlurmctldPort=${ctldPort}`,
        `SlurmdPort=${slurmdPort}`,
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        `AuthInfo=socket=${socket}`,
        `StateSaveLocation=${join(dir, "state")}`,
        `SlurmdSpoolDir=${join(dir, "spool")}`,
        `SlurmctldPidFile=${join(dir, "slurmctld.pid")}`,
        `SlurmdPidFile=${join(dir, "slurmd.pid")}`,
        `SlurmctldLogFile=${join(logDir, "slurmctld.log")}`,
        `SlurmdLogFile=${join(logDir, "slurmd.log")}`,
        // no cgroups in a container: track processes through /proc, bind nothing
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        // several array tasks share the node, one CPU each
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "MpiDefault=none",
        "MailProg=/bin/true",
        "ReturnToService=2",
        // a job whose dependency can never be met is cancelled instead of pending for ever
        "DependencyParameters=kill_invalid_depend",
        // finished jobs stay in `scontrol show job` (there is no accounting database)
        "MinJobAge=3600",
        "SchedulerParameters=sched_interval=1",
        `NodeName=${nodeName} NodeAddr=127.0.0.1 CPUs=${cpuCount} RealMemory=${memoryMiB} State=UNKNOWN`,
        `PartitionName=test Nodes=${nodeName} Default=YES MaxTime=INFINITE State=UP`,
        ""
      ].join("\n")
    )
    daemon("slurmctld", bin.slurmctld, ["-D", "-f", conf])
    daemon("slurmd", bin.slurmd, ["-D", "-f", conf, "-N", nodeName])

    const deadline = Date.now() + timeoutMs
    let state = ""
    for (;;) {
      state = await run(bin.sinfo, ["-h", "-N", "-o", "%t"], env).then(
        (s) => s.trim(),
        (e: Error) => e.message
      )
      if (state === "idle") break
      const dead = children.filter(({ child }) => child.exitCode !== null || child.signalCode !== null)
      if (dead.length > 0 || Date.now() > deadline)
        throw new Error(
          `the Slurm node did not come up idle in ${timeoutMs / 1000} s (sinfo: ${state}${
            dead.length > 0 ? `; exited: ${dead.map((d) => `${d.name} (${d.child.exitCode ?? d.child.signalCode})`).join(", ")}` : ""
          })\n${logs()}`
        )
      await sleep(200)
    }
  } catch (e) {
    await stop()
    throw e
  }

  const tasks = async (jobId: string) =>
    (await run(bin.scontrol, ["-o", "show", "job", jobId], env))
      .split("\n")
      .filter((l) => l.startsWith("JobId="))
      .map(parseTask)

  return {
    dir,
    env,
    nodeName,
    cpus: cpus().length,
    daemonPids: children.map(({ child }) => child.pid!),
    script: (name, body) => {
      const path = join(dir, name)
      writeFileSync(path, body, { mode: 0o755 })
      return path
    },
    submit: async (script, options = {}) => {
      const args = [
        "--parsable",
        `--chdir=${options.cwd ?? dir}`,
        `--output=${join(dir, "jobs", "slurm-%j.out")}`,
        `--error=${join(dir, "jobs", "slurm-%j.err")}`,
        ...(options.array !== undefined ? [`--array=${options.array}`] : []),
        ...(options.dependency !== undefined ? [`--dependency=${options.dependency}`] : []),
        ...(options.args ?? []),
        script
      ]
      const out = await run(bin.sbatch, args, { ...env, ...options.env })
      const id = out.trim().split(";")[0]!
      if (!/^\d+$/.test(id)) throw new Error(`sbatch ${args.join(" ")} printed no job id: ${out}`)
      return id
    },
    command: (file, args, options = {}) => run(file, args, { ...env, ...options.env }, options.cwd),
    tasks,
    waitFor: async (jobIds, timeoutMs) => {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const all = (await Promise.all(jobIds.map(tasks))).flat()
        // a task pending on a dependency that failed never runs (kill_invalid_depend cancels it, too)
        const stuck = all.filter((t) => t.state === "PENDING" && t.reason === "DependencyNeverSatisfied")
        const finished = all.every((t) => finalStates.has(t.state))
        if (finished || stuck.length > 0) {
          const failed = all.filter((t) => finalStates.has(t.state) && t.state !== "COMPLETED")
          if (failed.length > 0 || stuck.length > 0)
            throw new Error(
              `Slurm jobs ${jobIds.join(", ")}: ${failed.length + stuck.length} of ${all.length} tasks did not complete\n${[
                ...failed,
                ...stuck
              ]
                .map(describeTask)
                .join("\n")}`
            )
          if (finished) return all
        }
        if (Date.now() > deadline)
          throw new Error(
            `Slurm jobs ${jobIds.join(", ")} did not finish in ${timeoutMs / 1000} s:\n${all
              .map((t) => `job ${taskName(t)}: ${t.state} (reason ${t.reason})`)
              .join("\n")}\n${logs()}`
          )
        await sleep(300)
      }
    },
    logs,
    stop
  }
}
