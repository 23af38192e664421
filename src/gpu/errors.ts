/** Thrown when WebGPU is missing or unusable; `advice` says what the user can do about it. */
export class NoWebGPUError extends Error {
  constructor(
    readonly reason: string,
    readonly advice: string,
  ) {
    super(`WebGPU is not available: ${reason}. ${advice}`);
    this.name = 'NoWebGPUError';
  }
}

/** Raised (and surfaced as an event) when the GPU device is lost. */
export class DeviceLostError extends Error {
  constructor(
    readonly reason: string,
    readonly detail: string,
  ) {
    super(`GPU device lost (${reason})${detail ? `: ${detail}` : ''}`);
    this.name = 'DeviceLostError';
  }
}

/** Bad arguments to an op: thrown before anything is dispatched, naming the op and the shapes. */
export class OpError extends Error {
  constructor(op: string, message: string) {
    super(`${op}: ${message}`);
    this.name = 'OpError';
  }
}

export const BROWSER_ADVICE =
  'Use a browser with WebGPU: Chrome or Edge 113+, Safari 26+, or Firefox 141+ (Windows); ' +
  'on Linux, Chrome needs --enable-unsafe-webgpu and a working Vulkan driver. ' +
  'The page must be served over https or from localhost.';
