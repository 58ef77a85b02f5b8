// Types of the progress modules. Kept out of the .js files so the copies shipped
// in the WordPress plugin stay small; the .js files refer to them in JSDoc only.

/** What the WordPress plugin hands out: a short-lived stream token from POST /api/stream-tokens. */
export interface StreamToken {
  token: string;
  /** unix seconds */
  expires_at: number;
  /** the sessions the token is scoped to; "*" for all. Absent means "trust it for all". */
  sessions?: string[];
}

export type TrackerStatus = 'connecting' | 'live' | 'reconnecting' | 'offline';

/** One SSE frame's JSON: `type` plus the snapshot fields of DESIGN.md; a `job` frame
 * carries `job` (its session id is `job.session_id`). */
export interface ProgressData {
  type: string;
  session_id: string;
  status?: string;
  /** Opaque: compared only for equality, never parsed or ordered. */
  last_event_id?: string | number | null;
  updated_at?: string | null;
  job?: JobSummary;
  [field: string]: any;
}

/** A job as the all-sessions stream's `job` frames and GET /api/jobs carry it (no items). */
export interface JobSummary {
  job_id: string;
  session_id: string;
  kind: string;
  status: string;
  counts?: Record<string, number>;
  progress?: { percentage?: number; phase?: string | null; done?: number; total?: number } | null;
  [field: string]: any;
}

export type ProgressCallback = (data: ProgressData) => void;

/** The part of the browser's EventSource the tracker uses. */
export interface EventSourceLike {
  readyState: number;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: { data: string; lastEventId: string }) => void) | null;
  onerror: ((event: any) => void) | null;
  close(): void;
}

export interface EventTargetLike {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

export interface TrackerOptions {
  /** The sidecar's multiplexed stream, e.g. https://sidecar.example/api/progress/stream (required). */
  streamUrl: string;
  /** Asked for a token (with the watched session ids) before connecting, and again when the
   * token expired, is within `tokenMarginSeconds` of expiry, or does not cover a new session.
   * null: no token is sent. */
  getToken: ((sessionIds: string[]) => Promise<StreamToken>) | null;
  /** Connection state changes: connecting → live; reconnecting / offline on trouble. */
  onStatus: (status: TrackerStatus) => void;
  EventSource: new (url: string) => EventSourceLike;
  /** Used by fetchStatus(). */
  fetch: typeof fetch;
  setTimeout: (fn: () => void, ms: number) => any;
  clearTimeout: (handle: any) => void;
  /** Milliseconds, like Date.now. */
  now: () => number;
  /** [0, 1), like Math.random; drives the backoff jitter. */
  random: () => number;
  /** `onLine === false` means offline. */
  navigator: { onLine?: boolean } | undefined;
  /** Where `online`/`offline` events fire (window). */
  onlineEvents: EventTargetLike | undefined;
  /** How long session changes are gathered before the stream is reopened (default 30). */
  debounceMs: number;
  /** Reconnect delay after the first failure; doubles per failure up to backoffMaxMs (500 / 10000). */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** After this many failures in a row the status is `offline` (4). */
  offlineAfterFailures: number;
  /** A token this close to expiry is replaced before connecting (30). */
  tokenMarginSeconds: number;
}

export interface Watch {
  onProgress: ProgressCallback;
  onComplete: ProgressCallback;
  onError: ProgressCallback;
}

/** What the tracker remembers of one session. */
export interface Seen {
  /** The latest event ids delivered (a snapshot adds its last_event_id), oldest dropped first. */
  ids: Set<string>;
  /** The highest percentage delivered: no later frame is delivered with less. */
  percentage: number;
  /** After a snapshot on a resumed stream: skip the replayed events it holds, up to this id. */
  until: { id: string; at: number } | null;
}

export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
  retry: number | null;
}

export type ViewState = 'starting' | 'running' | 'complete' | 'error' | 'cancelled';

/** What createProgressView().update() reads; a ProgressData frame fits. */
export interface Snapshot {
  status?: string;
  type?: string;
  percentage?: number | null;
  phase?: string | null;
  done?: number | null;
  total?: number | null;
  rate?: number | null;
  /** "posts/s", "files/s", "MB/s"; absent: the `unit` label per second. */
  rate_unit?: string | null;
  eta_seconds?: number | null;
  message?: string | null;
}
