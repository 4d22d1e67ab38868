#!/usr/bin/env -S node --conditions=@bingo/source --import tsx
import { runCli } from "./runCli.ts"

process.exitCode = await runCli(process.argv.slice(2))
