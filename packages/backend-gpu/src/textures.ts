/**
 * Counts the GL textures alive in a WebGL context by wrapping its createTexture/deleteTexture, so
 * tests can check that a suite leaves the GPU holding no more textures than it found.
 */
interface TextureApi {
  createTexture(): unknown;
  deleteTexture(texture: unknown): void;
}

export class TextureCounter {
  live = 0;
  private readonly seen = new WeakSet<object>();

  private constructor(
    private readonly gl: TextureApi,
    private readonly create: TextureApi['createTexture'],
    private readonly remove: TextureApi['deleteTexture'],
  ) {}

  /** null where there is no GL context (gpu.js's array fallbacks). */
  static attach(context: unknown): TextureCounter | null {
    const gl = context as TextureApi | null;
    if (!gl || typeof gl.createTexture !== 'function') return null;
    const counter = new TextureCounter(gl, gl.createTexture, gl.deleteTexture);
    gl.createTexture = () => {
      const texture = counter.create.call(gl);
      if (texture && typeof texture === 'object') {
        counter.seen.add(texture);
        counter.live++;
      }
      return texture;
    };
    gl.deleteTexture = (texture: unknown) => {
      if (texture && typeof texture === 'object' && counter.seen.has(texture)) {
        counter.seen.delete(texture);
        counter.live--;
      }
      counter.remove.call(gl, texture);
    };
    return counter;
  }

  detach(): void {
    this.gl.createTexture = this.create;
    this.gl.deleteTexture = this.remove;
  }
}
