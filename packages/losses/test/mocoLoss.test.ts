import { mocoLoss } from "../src/mocoLoss.ts"
import { describeLossConformance, type LossConformance } from "./conformance.ts"
import { naiveInfoNce } from "./helpers.ts"

const spec: LossConformance<"q" | "k" | "queue", { readonly temperature?: number }> = {
  name: "mocoLoss",
  seed: 51,
  inputs: { q: "batch", k: "batch", queue: "queue" },
  compute: ({ k, q, queue }, o) => mocoLoss(q, k, queue, o.temperature),
  // the default temperature is 0.2
  naive: ({ k, q, queue }, o) => naiveInfoNce(q, k, queue, o.temperature ?? 0.2),
  hand: [
    {
      title: "matches a hand computation at the default T = 0.2",
      // q·k = 0.6, q·n = 0 → logits (3, 0)
      inputs: { q: [[1, 0]], k: [[0.6, 0.8]], queue: [[0, 1]] },
      options: {},
      expected: -3 + Math.log(Math.exp(3) + Math.exp(0))
    }
  ],
  random: { cases: [{ options: {} }, { options: { temperature: 0.07 } }] },
  gradient: { options: { temperature: 0.5 }, wrt: ["q"] },
  extreme: { sharp: { temperature: 1e-3 }, gradientWrt: ["q"] },
  leak: { values: [{}], gradient: {} }
}

describeLossConformance(spec)
