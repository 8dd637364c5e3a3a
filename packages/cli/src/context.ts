/**
 * Where the CLI keeps its state and which lab is current, like docker's contexts:
 * `$VXNET_HOME` (default ~/.vxnet) holds `labs/<name>/` and `context.json`.
 * The lab a command acts on: --name/--lab flag, else VXNET_LAB, else the context file.
 */
import { readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeJsonAtomic } from '@vxnet/common';
import { NoCurrentLab } from './errors.js';

export function vxnetHome(): string {
  return process.env.VXNET_HOME || join(homedir(), '.vxnet');
}

export function labsDir(): string {
  return join(vxnetHome(), 'labs');
}

function contextFile(): string {
  return join(vxnetHome(), 'context.json');
}

/** The lab named by the context file, if any. */
export function contextLab(): string | undefined {
  try {
    const ctx = JSON.parse(readFileSync(contextFile(), 'utf8')) as { lab?: unknown };
    return typeof ctx.lab === 'string' ? ctx.lab : undefined;
  } catch {
    return undefined;
  }
}

/** Resolve which lab to act on; throws NoCurrentLab when nothing names one. */
export function resolveLab(explicit: string | undefined): string {
  const name = explicit ?? (process.env.VXNET_LAB || undefined) ?? contextLab();
  if (name === undefined) throw new NoCurrentLab();
  return name;
}

export function setContextLab(name: string): void {
  writeJsonAtomic(contextFile(), { lab: name });
}

/** Forget the current lab if it is `name`. */
export function clearContextLab(name: string): void {
  if (contextLab() === name) rmSync(contextFile(), { force: true });
}
