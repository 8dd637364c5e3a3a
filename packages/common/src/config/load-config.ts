/**
 * The one configuration loader of the daemons, after fastify's options handling: a
 * daemon declares a schema (per key: type, default, VXNET_* variable, flag, doc line,
 * validator) and the loader
 *
 *   - merges defaults < config file < environment < flags, key by key;
 *   - refuses unknown keys in the file and unknown flags;
 *   - checks every value and throws one ConfigInvalid listing every problem, each
 *     naming the key, the value and where it came from;
 *   - returns the result frozen (lists included).
 *
 * The file is `--config FILE` (it must exist), else `/etc/vxnet/<daemon>.json` if it
 * exists. A missing default file means "defaults"; an unreadable one is an error, never
 * taken as empty: a daemon started with half its settings is worse than one refused.
 *
 * Environment and flag values are text; how text becomes a value is fixed by the
 * key's type (see `fromText`), so a key reads the same from `VXNET_X` and `--x`.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigInvalid } from '../errors.js';

/** The JSON type of a key, named after its TypeScript type. */
export type SettingType<T> = [T] extends [boolean] ? 'boolean'
  : [T] extends [number] ? 'integer'
  : [T] extends [readonly string[]] ? 'string[]'
  : [T] extends [string] ? 'string'
  : [T] extends [string | null] ? 'string|null'
  : never;

/** One key of a daemon's configuration. */
export interface Setting<T, C> {
  /**
   * The value's type. In the file it is the JSON type; from text (environment, flag):
   * `integer` a whole number; `boolean` true/false/1/0 (a flag alone means true);
   * `string[]` comma-separated, "" being the empty list; `string|null` "" being null.
   */
  type: SettingType<T>;
  /**
   * The value when no source sets the key. A function is called once, only then, with
   * the keys set by a source and the defaults of the keys declared before this one:
   * for defaults that derive from another key or are detected on the host.
   */
  default: T | ((resolved: Readonly<Partial<C>>) => T);
  /** Environment variable, `VXNET_…`. */
  env: `VXNET_${string}`;
  /** Flag name without the dashes, kebab-case: `state-dir` is `--state-dir`. */
  flag: string;
  /** One line for `--help`. */
  doc: string;
  /**
   * Why the value is unacceptable ("must be …"), or undefined when it is fine. Called
   * only with a value of the right type; `config` is the whole merged configuration,
   * for rules that relate keys (a key that failed its type check holds its default).
   */
  validate?: (value: T, config: Readonly<C>) => string | undefined;
}

/** A daemon's configuration schema: every key of C, in the order `--help` lists them. */
export type ConfigSchema<C> = { readonly [K in keyof C]-?: Setting<C[K], C> };

export interface LoadConfigOptions {
  /** Environment to read VXNET_* from; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** File read when `--config` is not given (absent: defaults); `/etc/vxnet/<daemon>.json` by default. */
  defaultFile?: string;
}

/** What a daemon's command line asks for. */
export type ConfigRequest<C> =
  | { action: 'run' | 'print-config'; config: Readonly<C>; /** The file read, or null. */ file: string | null }
  | { action: 'help'; usage: string };

/** Flags of the loader itself, beside one flag per key. */
const OWN_FLAGS = {
  config: { type: 'string', doc: 'read settings from FILE (JSON) instead of /etc/vxnet/<daemon>.json' },
  'print-config': { type: 'boolean', doc: 'print the effective configuration as JSON and exit' },
  help: { type: 'boolean', doc: 'print this help and exit' },
} as const;

/**
 * Read the configuration of `daemon` ("agent", "engine", "controller") from argv, the
 * environment and its file. Throws ConfigInvalid listing every problem.
 */
export function loadConfig<C>(daemon: string, schema: ConfigSchema<C>, argv: readonly string[], opts: LoadConfigOptions = {}): ConfigRequest<C> {
  const env = opts.env ?? process.env;
  const settings = Object.entries(schema) as Array<[keyof C & string, Setting<unknown, C>]>;
  const byFlag = new Map(settings.map(([key, s]) => [s.flag, key]));
  const problems: string[] = [];

  // 1. flags (read first: --config names the file, --help needs nothing else)
  const flagText = new Map<keyof C & string, { text: string | true; flag: string }>();
  const own: { config?: string; 'print-config'?: true; help?: true } = {};
  // Not strict: parseArgs would stop at the first unknown flag; we list them all.
  const options = Object.fromEntries([
    ...Object.entries(OWN_FLAGS).map(([flag, f]) => [flag, { type: f.type }] as const),
    ...settings.map(([, s]) => [s.flag, { type: s.type === 'boolean' ? 'boolean' : 'string' }] as const),
  ]);
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  let valueOfUnknown = -1; // index of the argument after an unknown flag: its value, not a stray argument
  for (const tok of tokens) {
    if (tok.kind === 'positional') {
      if (tok.index !== valueOfUnknown) problems.push(`unexpected argument "${tok.value}" (settings are given as --flag VALUE)`);
      continue;
    }
    if (tok.kind !== 'option') continue;
    const ownFlag = Object.hasOwn(OWN_FLAGS, tok.name) ? OWN_FLAGS[tok.name as keyof typeof OWN_FLAGS] : undefined;
    const key = byFlag.get(tok.name);
    const type = ownFlag?.type ?? (key !== undefined ? (schema[key].type === 'boolean' ? 'boolean' : 'string') : undefined);
    if (type === undefined || !tok.rawName.startsWith('--')) {
      problems.push(`unknown flag ${tok.rawName} (vxnet-${daemon} --help lists the flags)`);
      if (!tok.inlineValue) valueOfUnknown = tok.index + 1;
      continue;
    }
    const text = optionText(tok, type, problems);
    if (text === undefined) continue;
    if (ownFlag) (own as Record<string, unknown>)[tok.name] = text;
    else flagText.set(key as keyof C & string, { text, flag: tok.rawName });
  }
  if (own.help) return { action: 'help', usage: usage(daemon, schema) };

  // 2. the file
  const explicit = own.config;
  const path = explicit ?? opts.defaultFile ?? `/etc/vxnet/${daemon}.json`;
  const fromFile = readConfigFile(path, explicit !== undefined, problems);
  const known = new Set(settings.map(([key]) => key as string));
  for (const k of Object.keys(fromFile ?? {})) {
    if (!known.has(k)) problems.push(`unknown key "${k}" in ${path} (known keys: ${[...known].join(', ')})`);
  }

  // 3. merge: flag > environment > file, converted and type-checked; defaults after
  const cfg: Partial<Record<keyof C, unknown>> = {};
  const source = new Map<keyof C, string>(); // flag, $VARIABLE, file path or 'default'
  const badType = new Set<keyof C>();
  for (const [key, s] of settings) {
    const flag = flagText.get(key);
    const envText = env[s.env];
    let value: unknown;
    let from: string;
    if (flag !== undefined) {
      from = flag.flag;
      value = flag.text === true ? true : fromText(s.type, flag.text);
    } else if (envText !== undefined) {
      from = `$${s.env}`;
      value = fromText(s.type, envText);
    } else if (fromFile && Object.hasOwn(fromFile, key)) {
      from = path;
      value = fromFile[key];
    } else {
      continue;
    }
    source.set(key, from);
    const typeProblem = checkType(s.type, value);
    if (typeProblem) {
      problems.push(`${key}: ${typeProblem}, got ${show(value)} (from ${from})`);
      badType.add(key);
      continue;
    }
    cfg[key] = value;
  }
  for (const [key, s] of settings) {
    if (Object.hasOwn(cfg, key)) continue;
    // a copy: the result is frozen, the schema's default must not be
    cfg[key] = typeof s.default === 'function' ? (s.default as (r: Partial<C>) => unknown)(cfg as Partial<C>) : structuredClone(s.default);
    if (!badType.has(key)) source.set(key, 'default');
  }

  // 4. validate (in schema order, which is also the order --print-config shows)
  const config = Object.fromEntries(settings.map(([key]) => [key, cfg[key]])) as C;
  for (const [key, s] of settings) {
    if (badType.has(key) || !s.validate) continue;
    const why = s.validate(config[key], config);
    if (why !== undefined) problems.push(`${key}: ${why}, got ${show(config[key])} (from ${source.get(key) === 'default' ? 'the default' : source.get(key)})`);
  }
  if (problems.length > 0) throw new ConfigInvalid(daemon, problems.join('; '));
  return { action: own['print-config'] ? 'print-config' : 'run', config: deepFreeze(config), file: fromFile === undefined ? null : path };
}

/**
 * The configuration a daemon's entry point runs with: `--help` and `--print-config`
 * write to `out` and give undefined (the caller exits 0); otherwise the configuration.
 * Throws ConfigInvalid like loadConfig.
 */
export function daemonConfig<C>(daemon: string, schema: ConfigSchema<C>, argv: readonly string[], opts: LoadConfigOptions & { out?: (text: string) => void } = {}): Readonly<C> | undefined {
  const req = loadConfig(daemon, schema, argv, opts);
  if (req.action === 'run') return req.config;
  const out = opts.out ?? ((text: string) => process.stdout.write(text));
  out(req.action === 'help' ? req.usage : formatConfig(req.config));
  return undefined;
}

/** The configuration as a config file holds it: JSON, one key per line. */
export function formatConfig(config: object): string {
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** `--help`: every flag, its variable, its default and its doc line. */
export function usage<C>(daemon: string, schema: ConfigSchema<C>): string {
  const lines = [`usage: vxnet-${daemon} [--config FILE] [--print-config] [--FLAG VALUE ...]`, '', 'Settings (defaults < config file < environment < flags):'];
  for (const [key, s] of Object.entries(schema) as Array<[string, Setting<unknown, C>]>) {
    const arg = s.type === 'boolean' ? '' : s.type === 'string[]' ? ' A,B,...' : ' VALUE';
    const dflt = typeof s.default === 'function' ? '' : `; default ${show(s.default)}`;
    lines.push(`  --${s.flag}${arg}`, `      ${s.doc} (key "${key}", $${s.env}${dflt})`);
  }
  lines.push('', 'Other flags:');
  for (const [flag, f] of Object.entries(OWN_FLAGS)) lines.push(`  --${flag}${f.type === 'string' ? ' FILE' : ''}`, `      ${f.doc}`);
  return `${lines.join('\n')}\n`;
}

/** The text of one parsed option; undefined (and a problem) when it is malformed. */
function optionText(tok: { rawName: string; value?: string | undefined; inlineValue?: boolean | undefined }, type: 'string' | 'boolean', problems: string[]): string | true | undefined {
  if (type === 'boolean') {
    if (tok.value !== undefined) {
      problems.push(`flag ${tok.rawName} takes no value, got "${tok.value}"`);
      return undefined;
    }
    return true;
  }
  // parseArgs (strict: false) takes the next argument as the value even when it is a
  // flag; the strict parser refuses that, and so do we.
  if (tok.value === undefined || (!tok.inlineValue && tok.value.startsWith('--'))) {
    problems.push(`flag ${tok.rawName} needs a value`);
    return undefined;
  }
  return tok.value;
}

/** Environment or flag text as a value of `type`; left as text when it does not convert (checkType says why). */
function fromText(type: string, text: string): unknown {
  switch (type) {
    case 'integer':
      return /^-?[0-9]+$/.test(text.trim()) ? Number(text) : text;
    case 'boolean':
      return { true: true, '1': true, false: false, '0': false }[text.trim().toLowerCase()] ?? text;
    case 'string[]':
      return text.split(',').map((s) => s.trim()).filter(Boolean);
    case 'string|null':
      return text === '' ? null : text;
    default:
      return text;
  }
}

function checkType(type: string, v: unknown): string | undefined {
  switch (type) {
    case 'integer':
      return Number.isSafeInteger(v) ? undefined : 'expected a whole number';
    case 'boolean':
      return typeof v === 'boolean' ? undefined : 'expected true or false';
    case 'string[]':
      return Array.isArray(v) && v.every((x) => typeof x === 'string') ? undefined : 'expected a list of strings';
    case 'string|null':
      return v === null || typeof v === 'string' ? undefined : 'expected a string or null';
    default:
      return typeof v === 'string' ? undefined : 'expected a string';
  }
}

/**
 * The keys of the config file; undefined when there is none to read. A missing
 * explicit file, an unreadable file and a file that is not a JSON object are problems.
 */
function readConfigFile(path: string, explicit: boolean, problems: string[]): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' && !explicit) return undefined;
    problems.push(`could not read config file ${path}: ${e.code === 'ENOENT' ? 'it does not exist' : e.message}`);
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    problems.push(`could not read config file ${path}: invalid JSON (${(err as Error).message})`);
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    problems.push(`could not read config file ${path}: it must hold a JSON object of settings, got ${show(parsed)}`);
    return undefined;
  }
  return parsed as Record<string, unknown>;
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function deepFreeze<T>(o: T): Readonly<T> {
  for (const v of Object.values(o as object)) if (v !== null && typeof v === 'object') deepFreeze(v);
  return Object.freeze(o);
}
