// Screenshot of a report page in headless Chromium (Debian's /usr/bin/chromium, or CHROMIUM):
//   node --import tsx packages/cli/scripts/screenshotReport.ts runs/quickstart/report.html docs/report-quickstart.png [height]
// Full page when no height is given; 1280 CSS pixels wide.
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import puppeteer from "puppeteer-core"
import sharp from "sharp"

const [html, png, height] = process.argv.slice(2)
if (html === undefined || png === undefined) {
  console.error("usage: screenshotReport.ts <report.html> <out.png> [height]")
  process.exit(2)
}
const browser = await puppeteer.launch({
  executablePath: process.env["CHROMIUM"] ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu"]
})
try {
  const page = await browser.newPage()
  await page.setViewport({ width: 1280, height: height === undefined ? 900 : Number(height) })
  await page.goto(pathToFileURL(resolve(html)).href, { waitUntil: "load" })
  const shot = await page.screenshot({ fullPage: height === undefined })
  // a 256-colour palette: a third of the bytes, no visible change on charts and text
  await sharp(shot).png({ palette: true, compressionLevel: 9 }).toFile(resolve(png))
  console.log(`screenshot: ${resolve(png)}`)
} finally {
  await browser.close()
}
