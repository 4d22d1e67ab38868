export { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD, binaryOps, reduceOps, unaryOps } from "./kernels.ts"
export { addonPath, chooseThreads, loadNativeAddon, type NativeAddon, type ThreadChoice } from "./loadAddon.ts"
export {
  nativeBatchNorm,
  type NativeKernels,
  nativeKernelsRegistered,
  registerNativeKernels,
  unregisterNativeKernels
} from "./registerNativeKernels.ts"
