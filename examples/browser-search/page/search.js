// The browser-search page: plain JavaScript on the global `tf` of TF.js's UMD bundle (no build
// step). Loads the exported student, embeds the gallery, and shows the nearest neighbours of a
// clicked gallery image or a dropped file. `window.bingoSearch` exposes the state to tests.
/* global tf */

const K = 8
const $ = (id) => document.getElementById(id)
const state = { backend: "", skipped: [], embeddings: [], entries: [], msPerImage: 0, query: undefined }
window.bingoSearch = state

/** webgl, else wasm, else cpu (`?backend=cpu` forces one); records why faster ones were skipped. */
async function pickBackend() {
  const forced = new URLSearchParams(location.search).get("backend")
  if (tf.wasm !== undefined) tf.wasm.setWasmPaths(new URL("/wasm/", location.href).href)
  for (const name of forced ? [forced] : ["webgl", "wasm", "cpu"]) {
    if (name === "webgl" && !forced && !tf.env().getBool("HAS_WEBGL")) {
      state.skipped.push("webgl: this browser gives no WebGL context")
      continue
    }
    try {
      if (await tf.setBackend(name)) {
        await tf.ready()
        return name
      }
      state.skipped.push(`${name}: did not initialise (the console says why)`)
    } catch (e) {
      state.skipped.push(`${name}: ${e instanceof Error ? e.message : e}`)
    }
  }
  throw new Error("no TF.js backend initialised")
}

/**
 * The evaluation view bingo trains with (model.json's `preprocessing`): pixels to `pixelRange`,
 * grey as ITU-R 601 luma for a 1-channel student, the centred square of `centerCropFraction` x the
 * shorter side, bilinear resize to S x S (half-pixel centres), `(x - mean) / std`. [S, S, C].
 */
function preprocess(source, model) {
  const [size, , channels] = model.inputs[0].shape.slice(1)
  const p = model.getUserDefinedMetadata()?.preprocessing ?? {}
  const [lo, hi] = p.pixelRange ?? [0, 1]
  const perChannel = (v) => (v.length === 1 ? v[0] : tf.tensor1d(v))
  return tf.tidy(() => {
    let x = tf.browser
      .fromPixels(source, 3)
      .toFloat()
      .div(255)
      .mul(hi - lo)
      .add(lo)
    if (channels === 1) x = x.mul([0.299, 0.587, 0.114]).sum(-1, true)
    const [h, w] = x.shape
    const side = Math.round(Math.min(h, w) * (p.centerCropFraction ?? 1))
    x = x.slice([Math.floor((h - side) / 2), Math.floor((w - side) / 2), 0], [side, side, channels])
    if (side !== size) x = tf.image.resizeBilinear(x, [size, size], false, true)
    return x.sub(perChannel(p.mean ?? [0.5])).div(perChannel(p.std ?? [0.5]))
  })
}

/** L2-normalised `embedding` rows of a batch of sources, and the milliseconds it took. */
async function embedAll(sources, model) {
  const start = performance.now()
  const out = tf.tidy(() => {
    const batch = tf.stack(sources.map((s) => preprocess(s, model)))
    const outputs = [model.predict(batch)].flat()
    const at = model.outputNames.indexOf("embedding")
    const e = outputs[at >= 0 ? at : outputs.length - 1]
    return e.div(e.norm("euclidean", -1, true))
  })
  const rows = await out.array()
  out.dispose()
  return { rows, ms: performance.now() - start }
}

const dot = (a, b) => a.reduce((s, v, i) => s + v * b[i], 0)

/** The K gallery images most similar to `query` (cosine), leaving out gallery image `self`. */
function nearest(query, self) {
  return state.embeddings
    .map((e, index) => ({ index, score: dot(query, e) }))
    .filter((n) => n.index !== self)
    .sort((a, b) => b.score - a.score)
    .slice(0, K)
}

function thumb(src) {
  const img = document.createElement("img")
  img.className = "thumb"
  img.src = src
  return img
}

function show(query, queryLabel, self, preview, ms) {
  const found = nearest(query, self)
  $("query").replaceChildren(
    preview,
    document.createTextNode(`${queryLabel}; embedded in ${ms.toFixed(1)} ms (${state.backend}); ${K} nearest of ${state.entries.length}`)
  )
  const list = $("neighbours")
  list.replaceChildren(
    ...found.map(({ index, score }) => {
      const entry = state.entries[index]
      const li = document.createElement("li")
      li.dataset.index = String(index)
      li.dataset.score = String(score)
      if (self !== undefined) li.className = entry.label === state.entries[self].label ? "same" : "other"
      const text = (t) => Object.assign(document.createElement("span"), { textContent: t })
      li.append(thumb(`/gallery/${entry.file}`), text(`#${index} ${entry.className}`), text(score.toFixed(3)))
      return li
    })
  )
  state.query = { self, found }
  list.dataset.query = self === undefined ? "file" : String(self)
}

async function searchGalleryImage(model, img, i) {
  for (const el of document.querySelectorAll("img.thumb.selected")) el.classList.remove("selected")
  img.classList.add("selected")
  const { rows, ms } = await embedAll([img], model)
  const entry = state.entries[i]
  show(rows[0], `gallery #${i} (${entry.className})`, i, thumb(img.src), ms)
}

async function searchFile(model, file) {
  const bitmap = await createImageBitmap(file)
  const canvas = document.createElement("canvas")
  canvas.width = bitmap.width
  canvas.height = bitmap.height
  canvas.getContext("2d").drawImage(bitmap, 0, 0)
  const { rows, ms } = await embedAll([canvas], model)
  show(rows[0], `${file.name} (${bitmap.width}x${bitmap.height})`, undefined, canvas, ms)
}

async function main() {
  state.backend = await pickBackend()
  const model = await tf.loadLayersModel("/student/model.json")
  const meta = model.getUserDefinedMetadata()?.bingo ?? {}
  state.entries = await (await fetch("/gallery/gallery.json")).json()
  const images = state.entries.map((e) => thumb(`/gallery/${e.file}`))
  await Promise.all(images.map((img) => img.decode()))
  // the first pass compiles webgl's shaders for these shapes / starts wasm: time the second one
  const warmUp = await embedAll(images, model)
  const { rows, ms } = await embedAll(images, model)
  state.embeddings = rows
  state.msPerImage = ms / images.length
  images.forEach((img, i) => {
    img.dataset.index = String(i)
    img.title = `#${i} ${state.entries[i].className}`
    img.addEventListener("click", () => void searchGalleryImage(model, img, i).catch(fail))
  })
  $("gallery").replaceChildren(...images)
  const skipped = state.skipped.length > 0 ? ` (skipped ${state.skipped.join("; ")})` : ""
  $("status").textContent =
    `TF.js ${tf.version.tfjs}, backend ${state.backend}${skipped}\n` +
    `student: ${meta.backbone ?? "?"}, input ${model.inputs[0].shape.slice(1).join("x")}, ${model.countParams()} parameters, ` +
    `${rows[0].length}-d embedding\n` +
    `gallery: ${images.length} images embedded in ${ms.toFixed(1)} ms (${state.msPerImage.toFixed(2)} ms per image, one batch; ` +
    `the first pass, which compiles / initialises the backend, took ${warmUp.ms.toFixed(0)} ms)`

  const drop = $("drop")
  drop.addEventListener("dragover", (e) => {
    e.preventDefault()
    drop.classList.add("over")
  })
  drop.addEventListener("dragleave", () => drop.classList.remove("over"))
  drop.addEventListener("drop", (e) => {
    e.preventDefault()
    drop.classList.remove("over")
    const file = e.dataTransfer?.files[0]
    if (file) void searchFile(model, file).catch(fail)
  })
  $("file").addEventListener("change", (e) => {
    const file = e.target.files[0]
    if (file) void searchFile(model, file).catch(fail)
  })
  document.body.dataset.state = "ready"
}

function fail(e) {
  document.body.dataset.state = "failed"
  $("status").textContent = `failed: ${e instanceof Error ? e.message : e}`
  console.error(e)
}

main().catch(fail)
