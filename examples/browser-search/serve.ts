/**
 * A static file server for the browser-search page (node:http, no build step): the page, the
 * TF.js UMD bundles from node_modules, a run's exported student and the gallery.
 *
 *   pnpm tsx serve.ts                                        # the student shipped with the example
 *   pnpm tsx serve.ts ../../runs/quickstart/student-tfjs     # any run's exported student
 *   pnpm tsx serve.ts --minutes 5                            # stop after 5 minutes (default 30)
 *
 * Pages fetched from file:// cannot fetch model.json in Chromium (no CORS for file:), hence the
 * server. It listens on 127.0.0.1 only, on a free port the OS picks, and stops by itself.
 */
import { createReadStream } from "node:fs"
import { stat } from "node:fs/promises"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { createRequire } from "node:module"
import { dirname, extname, join, resolve, sep } from "node:path"
import { pathToFileURL } from "node:url"

const here = import.meta.dirname
const require = createRequire(import.meta.url)
const distOf = (pkg: string): string => join(dirname(require.resolve(`${pkg}/package.json`)), "dist")

export interface ServeOptions {
  /** The exported student's folder (model.json + weights); default: the one shipped with the example. */
  readonly studentDir?: string
  /** The gallery folder (gallery.json + PNGs); default: the example's. */
  readonly galleryDir?: string
  /** Port on 127.0.0.1; default 0, a free one. */
  readonly port?: number
}

export interface Server {
  readonly url: string
  readonly close: () => Promise<void>
}

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".png": "image/png",
  ".bin": "application/octet-stream",
  ".wasm": "application/wasm"
}

/** Starts the server; `close()` stops it (open connections included). */
export const serve = (options: ServeOptions = {}): Promise<Server> => {
  const tfjs = distOf("@tensorflow/tfjs")
  const wasm = distOf("@tensorflow/tfjs-backend-wasm")
  // URL prefix -> folder; a request maps to one file inside one of these folders, nothing else
  const mounts: ReadonlyArray<readonly [string, string]> = [
    ["/student/", resolve(options.studentDir ?? join(here, "student-tfjs"))],
    ["/gallery/", resolve(options.galleryDir ?? join(here, "gallery"))],
    ["/wasm/", wasm],
    ["/", join(here, "page")]
  ]
  const files: Record<string, string> = {
    "/": join(here, "page", "index.html"),
    "/tf.min.js": join(tfjs, "tf.min.js"),
    "/tf-backend-wasm.min.js": join(wasm, "tf-backend-wasm.min.js")
  }
  const locate = (pathname: string): string | undefined => {
    if (files[pathname] !== undefined) return files[pathname]
    const mount = mounts.find(([prefix]) => pathname.startsWith(prefix))
    if (mount === undefined) return undefined
    let name: string
    try {
      name = decodeURIComponent(pathname.slice(mount[0].length))
    } catch {
      return undefined // a malformed %-escape
    }
    const path = resolve(mount[1], `.${sep}${name}`)
    return path.startsWith(mount[1] + sep) ? path : undefined
  }
  const server = createServer((req, res) => {
    const path = locate(new URL(req.url ?? "/", "http://127.0.0.1").pathname)
    const notFound = () => {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found")
    }
    if (path === undefined || req.method !== "GET") return notFound()
    stat(path).then(
      (s) => {
        if (!s.isFile()) return notFound()
        res.writeHead(200, {
          "content-type": contentTypes[extname(path)] ?? "application/octet-stream",
          "content-length": s.size,
          "cache-control": "no-store"
        })
        createReadStream(path).pipe(res)
      },
      () => notFound()
    )
  })
  return new Promise((ok, fail) => {
    server.once("error", fail)
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      ok({
        url: `http://127.0.0.1:${port}/`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done())
            server.closeAllConnections()
          })
      })
    })
  })
}

const main = async (args: Array<string>) => {
  const at = args.indexOf("--minutes")
  const minutes = at >= 0 ? Number(args[at + 1]) : 30
  const rest = at >= 0 ? args.filter((_, i) => i !== at && i !== at + 1) : args
  if (!(minutes > 0) || rest.length > 1) {
    console.error("usage: tsx serve.ts [student-tfjs folder] [--minutes N]")
    process.exit(2)
  }
  const studentDir = rest[0]
  const server = await serve(studentDir === undefined ? {} : { studentDir })
  console.log(`browser search: ${server.url} (stops in ${minutes} min; Ctrl-C to stop now)`)
  setTimeout(() => void server.close().then(() => console.log("stopped")), minutes * 60_000)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e)
    process.exit(1)
  })
}
