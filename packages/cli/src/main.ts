#!/usr/bin/env -S node --conditions=@bingo/source --import tsx
import { runCli } from "./runCli.ts"

// `bingo losses | head`: a reader that closes the pipe early is not an error
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0)
  throw e
})

process.exitCode = await runCli(process.argv.slice(2))
