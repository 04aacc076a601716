// The WebGL2 compositor behind background blur, virtual backgrounds and beauty. Per frame: the
// camera picture and the person mask are uploaded as textures; for blur, a separable Gaussian at
// a quarter of the size, weighted by "how much background" each sample is (so the person's
// colours never bleed into the blurred background: no halo at the edge); then one pass mixes the
// background (blurred picture or an image, "cover"-fitted) with the person through a sharpened
// mask, and smooths and brightens skin inside the person (an edge-preserving bilateral filter,
// weighted by a YCbCr skin likelihood).

import type { Background } from './choice';

const VERT = `#version 300 es
in vec2 pos;
uniform bool flipY;
out vec2 uv;
void main() {
  uv = vec2(pos.x * 0.5 + 0.5, flipY ? 0.5 - pos.y * 0.5 : 0.5 + pos.y * 0.5);
  gl_Position = vec4(pos, 0.0, 1.0);
}`;

// One direction of the Gaussian. `weighted`: the input is the camera picture, each sample
// weighted by (1 - mask), written premultiplied (rgb * w, w); otherwise the input is already so.
const BLUR = `#version 300 es
precision mediump float;
in vec2 uv;
uniform sampler2D src;
uniform sampler2D mask;
uniform int maskChannel;
uniform bool weighted;
uniform vec2 step;
out vec4 color;
const float W[5] = float[5](0.2042, 0.1802, 0.1238, 0.0663, 0.0276);
vec4 tap(vec2 p) {
  if (!weighted) return texture(src, p);
  vec4 m = texture(mask, p);
  float bg = 1.0 - (maskChannel == 3 ? m.a : m.r);
  return vec4(texture(src, p).rgb * bg, bg);
}
void main() {
  vec4 sum = tap(uv) * W[0];
  for (int i = 1; i < 5; i++) {
    sum += (tap(uv + step * float(i)) + tap(uv - step * float(i))) * W[i];
  }
  color = sum;
}`;

const COMPOSE = `#version 300 es
precision highp float;
in vec2 uv;
uniform sampler2D frame;
uniform sampler2D mask;
uniform sampler2D blurred;
uniform sampler2D image;
uniform int maskChannel;
uniform int mode;        // 0 none, 1 blur, 2 image
uniform float imageScale; // cover fit: > 1 crops x, < 1 crops y
uniform float beauty;     // 0..1
uniform vec2 texel;
out vec4 color;

float person(vec2 p) {
  vec4 m = texture(mask, p);
  return smoothstep(0.35, 0.65, maskChannel == 3 ? m.a : m.r);
}

vec3 beautify(vec3 c) {
  float cb = 0.5 + dot(c, vec3(-0.168736, -0.331264, 0.5));
  float cr = 0.5 + dot(c, vec3(0.5, -0.418688, -0.081312));
  float skin = smoothstep(0.28, 0.33, cb) * (1.0 - smoothstep(0.51, 0.56, cb))
             * smoothstep(0.51, 0.55, cr) * (1.0 - smoothstep(0.70, 0.74, cr));
  float radius = 1.5 + 4.0 * beauty;
  vec3 sum = c;
  float wsum = 1.0;
  for (int i = 0; i < 12; i++) {
    float a = float(i) * 0.5235988;
    float r = (i % 2 == 0) ? radius : radius * 0.5;
    vec3 s = texture(frame, uv + vec2(cos(a), sin(a)) * r * texel).rgb;
    vec3 d = s - c;
    float w = exp(-dot(d, d) * 60.0);
    sum += s * w;
    wsum += w;
  }
  vec3 smoothed = mix(c, sum / wsum, beauty * skin);
  vec3 lifted = 1.0 - (1.0 - smoothed) * (1.0 - smoothed);
  return mix(smoothed, lifted, beauty * 0.22);
}

void main() {
  vec3 c = texture(frame, uv).rgb;
  float m = person(uv);
  vec3 fg = beauty > 0.0 ? mix(c, beautify(c), m) : c;
  vec3 bg = c;
  if (mode == 1) {
    vec4 b = texture(blurred, uv);
    bg = b.a > 0.002 ? b.rgb / b.a : c;
  } else if (mode == 2) {
    vec2 p = uv - 0.5;
    if (imageScale > 1.0) p.x /= imageScale; else p.y *= imageScale;
    bg = texture(image, p + 0.5).rgb;
  }
  color = vec4(mode == 0 ? fg : mix(bg, fg, m), 1.0);
}`;

export interface DrawOptions {
  background: Background;
  beauty: number;
}

function compile(gl: WebGL2RenderingContext, vs: string, fs: string): WebGLProgram {
  const p = gl.createProgram()!;
  for (const [type, src] of [
    [gl.VERTEX_SHADER, vs],
    [gl.FRAGMENT_SHADER, fs],
  ] as const) {
    const s = gl.createShader(type)!;
    gl.shaderSource(s, src);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(`shader: ${gl.getShaderInfoLog(s)}`);
    gl.attachShader(p, s);
  }
  gl.bindAttribLocation(p, 0, 'pos');
  gl.linkProgram(p);
  if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(`program: ${gl.getProgramInfoLog(p)}`);
  return p;
}

interface Target {
  tex: WebGLTexture;
  fb: WebGLFramebuffer;
}

export class Compositor {
  private readonly gl: WebGL2RenderingContext;
  private readonly blur: WebGLProgram;
  private readonly compose: WebGLProgram;
  private readonly frameTex: WebGLTexture;
  private readonly maskTex: WebGLTexture;
  private readonly imageTex: WebGLTexture;
  private small: [Target, Target] | undefined;
  private smallSize: [number, number] = [0, 0];
  private imageAspect = 16 / 9;
  /** Which channel of MediaPipe's mask holds the person confidence (alpha, unless it is opaque). */
  maskChannel: 0 | 3 = 3;

  constructor(readonly canvas: HTMLCanvasElement | OffscreenCanvas) {
    const gl = canvas.getContext('webgl2', { premultipliedAlpha: false, antialias: false, preserveDrawingBuffer: false }) as WebGL2RenderingContext | null;
    if (!gl) throw new Error('WebGL2 is not available');
    this.gl = gl;
    this.blur = compile(gl, VERT, BLUR);
    this.compose = compile(gl, VERT, COMPOSE);
    const buf = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, buf);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
    this.frameTex = this.texture();
    this.maskTex = this.texture();
    this.imageTex = this.texture();
    gl.bindTexture(gl.TEXTURE_2D, this.imageTex);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, 1, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array([40, 44, 52, 255]));
  }

  private texture(): WebGLTexture {
    const gl = this.gl;
    const t = gl.createTexture()!;
    gl.bindTexture(gl.TEXTURE_2D, t);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    return t;
  }

  private target(w: number, h: number): Target {
    const gl = this.gl;
    const tex = this.texture();
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, w, h, 0, gl.RGBA, gl.UNSIGNED_BYTE, null);
    const fb = gl.createFramebuffer()!;
    gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    return { tex, fb };
  }

  setImage(img: TexImageSource & { width: number; height: number }): void {
    const gl = this.gl;
    gl.bindTexture(gl.TEXTURE_2D, this.imageTex);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, img);
    this.imageAspect = img.width / Math.max(1, img.height);
  }

  uploadFrame(src: TexImageSource): void {
    const gl = this.gl;
    gl.bindTexture(gl.TEXTURE_2D, this.frameTex);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, src);
  }

  uploadMask(src: TexImageSource): void {
    const gl = this.gl;
    gl.bindTexture(gl.TEXTURE_2D, this.maskTex);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, src);
  }

  private bind(p: WebGLProgram, unit: number, name: string, tex: WebGLTexture): void {
    const gl = this.gl;
    gl.activeTexture(gl.TEXTURE0 + unit);
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.uniform1i(gl.getUniformLocation(p, name), unit);
  }

  private blurPass(src: WebGLTexture, dst: Target, weighted: boolean, dx: number, dy: number): void {
    const gl = this.gl;
    const p = this.blur;
    gl.useProgram(p);
    gl.bindFramebuffer(gl.FRAMEBUFFER, dst.fb);
    gl.viewport(0, 0, this.smallSize[0], this.smallSize[1]);
    gl.uniform1i(gl.getUniformLocation(p, 'flipY'), 0);
    this.bind(p, 0, 'src', src);
    this.bind(p, 1, 'mask', this.maskTex);
    gl.uniform1i(gl.getUniformLocation(p, 'maskChannel'), this.maskChannel);
    gl.uniform1i(gl.getUniformLocation(p, 'weighted'), weighted ? 1 : 0);
    gl.uniform2f(gl.getUniformLocation(p, 'step'), dx, dy);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  }

  /** Draws the output picture at the canvas's size from the last uploaded frame and mask. */
  draw(o: DrawOptions): void {
    const gl = this.gl;
    const w = this.canvas.width;
    const h = this.canvas.height;
    const blur = o.background === 'blur-light' || o.background === 'blur-strong';
    if (blur) {
      const sw = Math.max(1, Math.round(w / 4));
      const sh = Math.max(1, Math.round(h / 4));
      if (!this.small || this.smallSize[0] !== sw || this.smallSize[1] !== sh) {
        this.smallSize = [sw, sh];
        this.small = [this.target(sw, sh), this.target(sw, sh)];
      }
      const [a, b] = this.small;
      const strong = o.background === 'blur-strong';
      const k = strong ? 2.0 : 1.2;
      this.blurPass(this.frameTex, a, true, k / sw, 0);
      this.blurPass(a.tex, b, false, 0, k / sh);
      if (strong) {
        this.blurPass(b.tex, a, false, (2 * k) / sw, 0);
        this.blurPass(a.tex, b, false, 0, (2 * k) / sh);
      }
    }
    const p = this.compose;
    gl.useProgram(p);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.viewport(0, 0, w, h);
    gl.uniform1i(gl.getUniformLocation(p, 'flipY'), 1);
    this.bind(p, 0, 'frame', this.frameTex);
    this.bind(p, 1, 'mask', this.maskTex);
    this.bind(p, 2, 'blurred', this.small?.[1].tex ?? this.frameTex);
    this.bind(p, 3, 'image', this.imageTex);
    gl.uniform1i(gl.getUniformLocation(p, 'maskChannel'), this.maskChannel);
    gl.uniform1i(gl.getUniformLocation(p, 'mode'), blur ? 1 : o.background === 'image' ? 2 : 0);
    gl.uniform1f(gl.getUniformLocation(p, 'imageScale'), this.imageAspect / (w / h));
    gl.uniform1f(gl.getUniformLocation(p, 'beauty'), Math.max(0, Math.min(1, o.beauty / 100)));
    gl.uniform2f(gl.getUniformLocation(p, 'texel'), 1 / w, 1 / h);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  }

  dispose(): void {
    this.gl.getExtension('WEBGL_lose_context')?.loseContext();
  }
}
