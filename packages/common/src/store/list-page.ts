/** Checks shared by every Store's paged list (ListOptions). */
import { InvalidArgument } from '../errors.js';
import type { ListOptions } from './store.js';

/** Throws InvalidArgument unless `limit` is absent or a positive integer. */
export function checkListOptions(options: ListOptions | undefined): void {
  const limit = options?.limit;
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    throw new InvalidArgument(`list limit must be a positive integer, got ${String(limit)}`);
  }
}
