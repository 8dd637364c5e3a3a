/** Where the readers of stats and top find /proc and the user names: the host's, or a test's tree. */
export interface ProcSource {
  /** Default /proc. */
  proc: string;
  /** Default /etc/passwd (the engine host's users, as `docker top` names them). */
  passwd: string;
}

export const HOST_PROC: ProcSource = Object.freeze({ proc: '/proc', passwd: '/etc/passwd' });
