import { describe, expect, it } from "vitest"
import * as Losses from "../src/index.ts"

describe("@bingo/losses public surface", () => {
  it("exports every loss function, the registry contract and the errors", () => {
    for (const name of [
      "contrastiveCrossEntropy",
      "infoNce",
      "multiPositiveInfoNce",
      "bingoLoss",
      "bingoPairWeights",
      "mocoLoss",
      "seedLoss",
      "compressLoss",
      "discoLoss",
      "defineLoss",
      "optionsFromSchema",
      "requireView",
      "isDistillationLoss"
    ] as const) {
      // biome-ignore lint/performance/noDynamicNamespaceImportAccess: this test checks the namespace's exports by name
      expect(typeof Losses[name]).toBe("function")
    }
    expect(Losses.builtinLosses.map((l) => l.name)).toContain("bingo")
    expect(Losses.LossRegistry.make().names()).toEqual(Losses.builtinLosses.map((l) => l.name))
    expect(new Losses.UnknownLoss({ name: "x", available: ["bingo"] })._tag).toBe("UnknownLoss")
    expect(new Losses.InvalidLossOptions({ loss: "x", message: "m" })._tag).toBe("InvalidLossOptions")
    expect(new Losses.DuplicateLoss({ name: "x" })._tag).toBe("DuplicateLoss")
  })
})
