export { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD, binaryOps, CONV2D, reduceOps, RELU_GRAD, unaryOps } from "./kernels.ts"
export { addonPath, chooseThreads, loadNativeAddon, type NativeAddon, type ThreadChoice } from "./loadAddon.ts"
export {
  clearOutputPool,
  configureOutputPool,
  type OutputPoolStats,
  outputPoolEnabled,
  outputPoolStats
} from "./OutputPool.ts"
export {
  hasNativeKernel,
  type NativeAllocationStats,
  nativeAllocationStats,
  nativeBatchNorm,
  type NativeKernels,
  nativeKernelThreads,
  nativeKernelsRegistered,
  registerNativeKernels,
  resetNativeAllocationStats,
  unregisterNativeKernels
} from "./registerNativeKernels.ts"
