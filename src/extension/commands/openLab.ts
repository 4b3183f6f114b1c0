import type { Ctx } from '../ctx';
import { requireLocalFile } from '../localOnly';
import { LabPanel } from '../lab/labPanel';
import { pickModel } from './pickModel';

/** Open Compression Lab: one panel per model; opening it again reveals it. */
export const openLab = (ctx: Ctx) => async (arg?: unknown) => {
  const uri = await pickModel(ctx, arg);
  if (!uri) return undefined;
  requireLocalFile(uri, 'The Compression Lab');
  return LabPanel.createOrShow(ctx, uri);
};
