import * as vscode from 'vscode';
import { isCancelled, isModelFormatError } from '../../core/errors';
import type { Ctx } from '../ctx';
import { LocalFileRequiredError } from '../localOnly';

/**
 * Every command goes through here: a bad model file becomes a non-modal error
 * with Show Log; anything else is an internal error with its stack logged.
 */
export function runCommand<A extends unknown[]>(ctx: Ctx, name: string, body: (...args: A) => Promise<unknown>) {
  return async (...args: A): Promise<unknown> => {
    try {
      return await body(...args);
    } catch (e) {
      if (isCancelled(e)) {
        ctx.log.info(`${name}: cancelled`);
        return undefined;
      }
      if (isModelFormatError(e)) {
        ctx.log.warn(`${name}: ${e.describe()} [${e.code}]`);
        void showError(ctx, e.describe());
        return undefined;
      }
      if (e instanceof LocalFileRequiredError) {
        ctx.log.warn(`${name}: ${e.message}`);
        void showError(ctx, e.message);
        return undefined;
      }
      ctx.log.error(`${name}: internal error`, e);
      void showError(ctx, `Parsimony internal error in ${name}: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  };
}

async function showError(ctx: Ctx, message: string): Promise<void> {
  const choice = await vscode.window.showErrorMessage(message, 'Show Log');
  if (choice === 'Show Log') ctx.log.show();
}
