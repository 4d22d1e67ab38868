import { defineConfig } from "vitest/config"

/** Shared vitest config: resolve workspace packages to their TypeScript sources. */
export default defineConfig({
  ssr: { resolve: { conditions: ["@bingo/source"] } },
  resolve: { conditions: ["@bingo/source"] },
  test: {
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    include: ["test/**/*.test.ts"]
  }
})
