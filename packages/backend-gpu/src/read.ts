import type { DeviceData } from './gpujs.js';

/**
 * Reading device data back. Textures hold one float32 per texel in the red channel of RGBA32F
 * (gpu.js's single-precision layout), so a read takes every fourth value.
 */


export function readSync(data: DeviceData, length: number): Float32Array {
  if (data instanceof Float32Array) return data.slice(0, length);
  const values = data.toArray();
  return values.length === length ? values : values.slice(0, length);
}

function isWebGL2(gl: unknown): gl is WebGL2RenderingContext {
  return typeof WebGL2RenderingContext !== 'undefined' && gl instanceof WebGL2RenderingContext;
}

/**
 * Without blocking where WebGL2 allows it: readPixels into a pixel-pack buffer, a fence, and a poll
 * that yields to the event loop until the GPU has passed the fence. Elsewhere (WebGL1, headless-gl,
 * the fallbacks) the read is synchronous inside the promise.
 */
export async function readAsync(data: DeviceData, length: number): Promise<Float32Array> {
  if (data instanceof Float32Array) return data.slice(0, length);
  const handle = data;
  const gl = handle.context;
  if (!isWebGL2(gl)) return readSync(data, length);
  const [width, height] = handle.size;
  const framebuffer = gl.createFramebuffer();
  const pack = gl.createBuffer();
  const previousFramebuffer = gl.getParameter(gl.FRAMEBUFFER_BINDING) as WebGLFramebuffer | null;
  try {
    gl.bindFramebuffer(gl.FRAMEBUFFER, framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, handle.texture, 0);
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, pack);
    gl.bufferData(gl.PIXEL_PACK_BUFFER, width * height * 16, gl.STREAM_READ);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.FLOAT, 0);
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, null);
    gl.bindFramebuffer(gl.FRAMEBUFFER, previousFramebuffer);
    const fence = gl.fenceSync(gl.SYNC_GPU_COMMANDS_COMPLETE, 0);
    if (fence === null) return readSync(data, length);
    gl.flush();
    try {
      while (gl.clientWaitSync(fence, 0, 0) === gl.TIMEOUT_EXPIRED) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    } finally {
      gl.deleteSync(fence);
    }
    const raw = new Float32Array(width * height * 4);
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, pack);
    gl.getBufferSubData(gl.PIXEL_PACK_BUFFER, 0, raw);
    gl.bindBuffer(gl.PIXEL_PACK_BUFFER, null);
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = raw[4 * i];
    return out;
  } finally {
    gl.deleteBuffer(pack);
    gl.deleteFramebuffer(framebuffer);
  }
}
