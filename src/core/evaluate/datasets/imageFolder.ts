import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ModelFormatError } from '../../errors';
import type { Dataset, DatasetOptions, ImageTarget } from './types';

/**
 * An image folder with one subfolder per class (`digits/0/a.png`, `digits/1/b.jpg`,
 * …). Classes are the sorted subfolder names; a sample's label is its folder's
 * index. PNG (pngjs) and JPEG (jpeg-js) files are decoded, converted to grayscale
 * or RGB, resized with bilinear interpolation to the target H×W and scaled to
 * [0, 1]. Samples come class by class, files sorted by name. Layout: H×W×C.
 */
export interface DecodedImage {
  width: number;
  height: number;
  /** RGBA, 8 bits per channel, row-major. */
  rgba: Uint8Array;
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);
const MAX_IMAGE_PIXELS = 50_000_000;

export async function readImageFolderDataset(dir: string, spec: string, options: DatasetOptions = {}): Promise<Dataset> {
  const where = path.basename(dir);
  const entries = await fsp.readdir(dir, { withFileTypes: true });
  const classes = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  if (classes.length === 0) {
    throw new ModelFormatError('invalid-option', `${where}: an image dataset folder needs one subfolder per class (e.g. ${where}/0/a.png, ${where}/1/b.jpg); found none`, { file: dir });
  }
  const files: { file: string; label: number }[] = [];
  const notes: string[] = [];
  let skipped = 0;
  const empty: string[] = [];
  for (const [label, name] of classes.entries()) {
    const names = (await fsp.readdir(path.join(dir, name), { withFileTypes: true }))
      .filter((e) => e.isFile() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
    const images = names.filter((n) => IMAGE_EXTENSIONS.has(path.extname(n).toLowerCase()));
    skipped += names.length - images.length;
    if (images.length === 0) empty.push(name);
    for (const n of images) files.push({ file: path.join(dir, name, n), label });
  }
  if (files.length === 0) {
    throw new ModelFormatError('invalid-option', `${where}: the class folders (${classes.slice(0, 10).join(', ')}) hold no .png or .jpg images`, { file: dir });
  }
  if (skipped > 0) notes.push(`${where}: ignored ${skipped} file${skipped > 1 ? 's' : ''} without a .png/.jpg/.jpeg extension`);
  if (empty.length > 0) notes.push(`${where}: class folder${empty.length > 1 ? 's' : ''} ${empty.join(', ')} hold${empty.length > 1 ? '' : 's'} no images`);
  const limit = options.limit !== undefined ? Math.min(options.limit, files.length) : files.length;

  let target: ImageTarget | undefined = options.image;
  const x: Float32Array[] = [];
  const y = new Int32Array(limit);
  for (let i = 0; i < limit; i++) {
    const { file, label } = files[i]!;
    const rel = path.relative(dir, file);
    const image = await decodeImage(await fsp.readFile(file), rel);
    if (!target) {
      target = { height: image.height, width: image.width, channels: 3 };
      notes.push(`${where}: no model input size known; images decoded at the first image's size ${image.height}×${image.width}, RGB`);
    }
    x.push(imageToTensor(image, target));
    y[i] = label;
  }
  const per = target!.height * target!.width * target!.channels;
  const all = new Float32Array(limit * per);
  x.forEach((v, i) => all.set(v, i * per));
  return { name: spec, count: limit, sampleShape: [target!.height, target!.width, target!.channels], x: all, y, classes, notes };
}

/** Decodes PNG or JPEG bytes (told apart by their magic, not the file name) to RGBA. */
export async function decodeImage(bytes: Uint8Array, where: string): Promise<DecodedImage> {
  const isPng = bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (isPng) {
    const { PNG } = await import('pngjs');
    try {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      checkPixels(png.width, png.height, where);
      return { width: png.width, height: png.height, rgba: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
    } catch (e) {
      if (e instanceof ModelFormatError) throw e;
      throw new ModelFormatError('not-a-model', `${where}: not a readable PNG image (${(e as Error).message})`);
    }
  }
  if (isJpeg) {
    const jpeg = await import('jpeg-js');
    try {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
      checkPixels(img.width, img.height, where);
      return { width: img.width, height: img.height, rgba: img.data };
    } catch (e) {
      if (e instanceof ModelFormatError) throw e;
      throw new ModelFormatError('not-a-model', `${where}: not a readable JPEG image (${(e as Error).message})`);
    }
  }
  throw new ModelFormatError('not-a-model', `${where}: neither a PNG nor a JPEG image (by its first bytes)`);
}

function checkPixels(width: number, height: number, where: string): void {
  if (!(width > 0 && height > 0)) throw new ModelFormatError('not-a-model', `${where}: image has no pixels`);
  if (width * height > MAX_IMAGE_PIXELS) throw new ModelFormatError('too-large', `${where}: ${width}×${height} image is larger than ${MAX_IMAGE_PIXELS} pixels`);
}

/** RGBA → grayscale or RGB in [0, 1] (alpha composited over black), resized to the target. */
export function imageToTensor(image: DecodedImage, target: ImageTarget): Float32Array {
  const { width, height, rgba } = image;
  const c = target.channels;
  const plane = new Float32Array(width * height * c);
  for (let p = 0; p < width * height; p++) {
    const a = rgba[p * 4 + 3]! / 255;
    const r = (rgba[p * 4]! / 255) * a;
    const g = (rgba[p * 4 + 1]! / 255) * a;
    const b = (rgba[p * 4 + 2]! / 255) * a;
    if (c === 1) plane[p] = 0.299 * r + 0.587 * g + 0.114 * b;
    else {
      plane[p * 3] = r;
      plane[p * 3 + 1] = g;
      plane[p * 3 + 2] = b;
    }
  }
  if (height === target.height && width === target.width) return plane;
  return resizeBilinear(plane, height, width, c, target.height, target.width);
}

/**
 * Bilinear resize of an H×W×C image with half-pixel centres (as
 * tf.image.resizeBilinear with halfPixelCenters, PIL and OpenCV do): output
 * pixel (i, j) samples the source at ((i + 0.5)·H/outH − 0.5, (j + 0.5)·W/outW − 0.5),
 * clamped at the borders.
 */
export function resizeBilinear(src: Float32Array, h: number, w: number, c: number, outH: number, outW: number): Float32Array {
  const out = new Float32Array(outH * outW * c);
  const sy = h / outH;
  const sx = w / outW;
  for (let i = 0; i < outH; i++) {
    const fy = Math.min(Math.max((i + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, h - 1);
    const dy = fy - y0;
    for (let j = 0; j < outW; j++) {
      const fx = Math.min(Math.max((j + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, w - 1);
      const dx = fx - x0;
      for (let k = 0; k < c; k++) {
        const a = src[(y0 * w + x0) * c + k]!;
        const b = src[(y0 * w + x1) * c + k]!;
        const d = src[(y1 * w + x0) * c + k]!;
        const e = src[(y1 * w + x1) * c + k]!;
        const top = a + (b - a) * dx;
        const bottom = d + (e - d) * dx;
        out[(i * outW + j) * c + k] = top + (bottom - top) * dy;
      }
    }
  }
  return out;
}
