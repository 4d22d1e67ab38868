import * as tf from "@tensorflow/tfjs"

/** Use the cpu backend quietly (tests never switch backends). */
export const useCpu = async (): Promise<void> => {
  await tf.setBackend("cpu")
  ;(tf.backend() as unknown as { firstUse: boolean }).firstUse = false
}

/** Small widths keep the per-entry registry tests fast. */
export const testWidth = (name: string): number => (name.startsWith("resnet") ? 0.125 : name === "mobilenetv2" ? 0.25 : 0.5)
