import { request } from "node:http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Server, serve } from "../serve.ts"

/** GET a raw path (no URL normalisation, unlike fetch): status and body length. */
const get = (url: string, path: string): Promise<{ status: number; type: string | undefined; bytes: number }> =>
  new Promise((ok, fail) => {
    const req = request(new URL(url), { path, method: "GET" }, (res) => {
      let bytes = 0
      res.on("data", (b: Buffer) => {
        bytes += b.length
      })
      res.on("end", () => ok({ status: res.statusCode ?? 0, type: res.headers["content-type"], bytes }))
    })
    req.on("error", fail)
    req.end()
  })

describe("examples/browser-search/serve.ts", () => {
  let server: Server
  beforeAll(async () => {
    server = await serve()
  })
  afterAll(() => server.close())

  it("listens on 127.0.0.1 on a free port", () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
  })

  it("serves the page, TF.js, the wasm backend, the student and the gallery with their content types", async () => {
    const expected: Array<[string, string]> = [
      ["/", "text/html; charset=utf-8"],
      ["/search.js", "text/javascript; charset=utf-8"],
      ["/tf.min.js", "text/javascript; charset=utf-8"],
      ["/tf-backend-wasm.min.js", "text/javascript; charset=utf-8"],
      ["/wasm/tfjs-backend-wasm-simd.wasm", "application/wasm"],
      ["/student/model.json", "application/json"],
      ["/gallery/gallery.json", "application/json"],
      ["/gallery/00.png", "image/png"]
    ]
    for (const [path, type] of expected) {
      const r = await get(server.url, path)
      expect({ path, status: r.status, type: r.type }).toEqual({ path, status: 200, type })
      expect(r.bytes).toBeGreaterThan(0)
    }
  })

  it("serves nothing outside its folders: .. and encoded .. are 404, as are malformed escapes, folders and unknown paths", async () => {
    for (const path of [
      "/student/../serve.ts",
      "/gallery/%2e%2e/serve.ts",
      "/gallery/..%2f..%2fpackage.json",
      "/wasm/../package.json",
      "/gallery/%zz.png",
      "/gallery/",
      "/nothing.js",
      "/student"
    ]) {
      expect({ path, status: (await get(server.url, path)).status }).toEqual({ path, status: 404 })
    }
  })
})
