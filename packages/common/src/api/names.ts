/**
 * The one name rule of vxnet's APIs: network names, container names, endpoint names
 * and aliases, host names. Docker's container-name rule ([a-zA-Z0-9][a-zA-Z0-9_.-]*),
 * capped at 64 characters because every such name is also a DNS name.
 */
export const NAME_MAX_LENGTH = 64;
/** As a JSON-schema `pattern` string. */
export const NAME_PATTERN = `^[A-Za-z0-9][A-Za-z0-9_.-]{0,${NAME_MAX_LENGTH - 1}}$`;
export const NAME_RE = new RegExp(NAME_PATTERN);

/** Why `value` is not a valid `kind` name ("container name", "alias", …), or undefined. */
export function nameProblem(kind: string, value: string): string | undefined {
  if (value.length > NAME_MAX_LENGTH) return `invalid ${kind} "${value}": at most ${NAME_MAX_LENGTH} characters`;
  if (!NAME_RE.test(value)) return `invalid ${kind} "${value}": use letters, digits, '_', '.' and '-', starting with a letter or digit`;
  return undefined;
}
