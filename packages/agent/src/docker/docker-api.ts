/**
 * The little of dockerd's Engine API the agent reads, over its unix socket with
 * node:http (no client library): JSON GETs and the events stream. No API version in
 * the paths: dockerd then speaks its own, and the fields read here (container Id,
 * Name, NetworkSettings.Networks[*].EndpointID/Aliases, event Type/Action/Actor) are
 * the same from API 1.24 (Docker 1.12) to today.
 */
import http from 'node:http';

/** Raised for a non-2xx answer: `status` is the HTTP status (404: no such container). */
export class DockerApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'DockerApiError';
  }
}

/** One event of `GET /events` (the fields vxnet reads). */
export interface DockerEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** `GET /containers/ID/json`, the fields vxnet reads. */
export interface ContainerInspect {
  Id: string;
  /** `/name`. */
  Name: string;
  NetworkSettings?: {
    Networks?: Record<string, { EndpointID?: string; Aliases?: string[] | null; DNSNames?: string[] | null }>;
  };
}

/** `GET /containers/json`, the fields vxnet reads. */
export interface ContainerSummary {
  Id: string;
  NetworkSettings?: { Networks?: Record<string, { EndpointID?: string }> };
}

/** An open events stream: `done` settles when it ends (resolves) or breaks (rejects); `close` ends it. */
export interface EventStream {
  done: Promise<void>;
  close(): void;
}

export class DockerApi {
  /** `socket`: dockerd's API socket; `timeoutMs`: longest a GET may take (default 10,000). */
  constructor(readonly socket: string, private readonly timeoutMs = 10_000) {}

  /** GET `path`, parsed. Throws DockerApiError for non-2xx answers, Error for transport failures and timeouts. */
  getJson<T>(path: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = http.get({ socketPath: this.socket, path, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) {
            let message = text.trim();
            try {
              message = (JSON.parse(text) as { message?: string }).message ?? message;
            } catch {
              // not JSON: the text as is
            }
            reject(new DockerApiError(status, `dockerd answered ${status} to GET ${path}: ${message}`));
            return;
          }
          try {
            resolve(JSON.parse(text) as T);
          } catch (err) {
            reject(new Error(`dockerd answered GET ${path} with something that is not JSON: ${(err as Error).message}`));
          }
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`dockerd did not answer GET ${path} within ${this.timeoutMs} ms`)));
      req.on('error', reject);
    });
  }

  /**
   * Open `GET /events?filters=…` and call `onEvent` for each event. Resolves once
   * dockerd has answered the request (the stream is open, nothing from then on is
   * missed); rejects if it cannot be opened.
   */
  events(filters: Record<string, string[]>, onEvent: (ev: DockerEvent) => void): Promise<EventStream> {
    const path = `/events?filters=${encodeURIComponent(JSON.stringify(filters))}`;
    return new Promise((resolveOpen, rejectOpen) => {
      let settle: { resolve: () => void; reject: (err: Error) => void } | undefined;
      const done = new Promise<void>((resolve, reject) => {
        settle = { resolve, reject };
      });
      void done.catch(() => undefined);
      const req = http.get({ socketPath: this.socket, path }, (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          res.resume();
          rejectOpen(new DockerApiError(status, `dockerd answered ${status} to GET /events`));
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line === '') continue;
            try {
              onEvent(JSON.parse(line) as DockerEvent);
            } catch {
              // one event we cannot read: the next ones still count
            }
          }
        });
        res.on('end', () => settle?.resolve());
        res.on('error', (err) => settle?.reject(err));
        res.on('close', () => settle?.resolve());
        resolveOpen({ done, close: () => req.destroy() });
      });
      req.on('error', (err) => {
        rejectOpen(err);
        settle?.reject(err);
      });
    });
  }
}
