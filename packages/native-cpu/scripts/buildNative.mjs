// Builds the oneDNN addon (native/build/Release/bingo_native.node) with node-gyp.
// binding.gyp lives in native/ rather than the package root so that `pnpm install` does not
// run its implicit `node-gyp rebuild` (which needs oneDNN and downloads Node headers).
// Needs g++, make, python3 and oneDNN headers (Debian: apt-get install -y libdnnl-dev).
// Exits non-zero when it cannot build; callers that must stay green (CI, installs) tolerate that:
// without the addon the runtime falls back to wasm/cpu.
// It builds in native/build/staging and then swaps the addon into native/build/Release with a
// copy and a rename: running processes keep the file they mapped (a new inode), and a process
// starting during the build still finds the previous addon instead of none.
import { spawnSync } from "node:child_process"
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const dnnlHeader = ["/usr/include/oneapi/dnnl/dnnl.hpp", "/usr/include/dnnl.hpp"].find((p) => existsSync(p))
if (dnnlHeader === undefined) {
  console.error("native-cpu: oneDNN headers not found (apt-get install -y libdnnl-dev); addon not built")
  process.exit(1)
}
const nodeGyp = createRequire(import.meta.url).resolve("node-gyp/bin/node-gyp.js")
// Node's headers ship with Debian's nodejs / the official tarball under <prefix>/include/node;
// pointing node-gyp there avoids a download (not possible here).
const prefix = join(dirname(process.execPath), "..")
const staging = join(root, "native", "build", "staging")
rmSync(staging, { recursive: true, force: true })
mkdirSync(staging, { recursive: true })
for (const f of readdirSync(join(root, "native"))) {
  if (/\.(cc|h|gyp)$/.test(f)) copyFileSync(join(root, "native", f), join(staging, f))
}
const args = [nodeGyp, "rebuild", `--directory=${staging}`, `--jobs=${process.env.JOBS ?? "2"}`]
if (existsSync(join(prefix, "include", "node", "node.h"))) args.push(`--nodedir=${prefix}`)
const started = Date.now()
const r = spawnSync(process.execPath, args, { cwd: root, stdio: "inherit" })
if (r.status !== 0) {
  console.error(`native-cpu: node-gyp failed (exit ${r.status}); addon not built`)
  process.exit(1)
}
const final = join(root, "native", "build", "Release", "bingo_native.node")
mkdirSync(dirname(final), { recursive: true })
const temp = `${final}.${process.pid}.tmp`
copyFileSync(join(staging, "build", "Release", "bingo_native.node"), temp)
renameSync(temp, final)
console.log(`native-cpu: built native/build/Release/bingo_native.node in ${((Date.now() - started) / 1000).toFixed(1)} s`)
