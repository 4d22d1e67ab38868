import * as tf from "@tensorflow/tfjs"

/** Use the cpu backend quietly (tests never switch backends). */
export const useCpu = async (): Promise<void> => {
  await tf.setBackend("cpu")
  ;(tf.backend() as unknown as { firstUse: boolean }).firstUse = false
}
