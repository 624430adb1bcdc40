// Errors that cross module and process boundaries carry a stable string code, a retriable flag and a cause.
// Code, not instanceof, is what callers branch on.

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'DECODE_FAILED'
  | 'BUS_UNAVAILABLE'
  | 'BUS_SEND_FAILED'
  | 'BUS_MESSAGE_TOO_LARGE'
  | 'BUS_FORBIDDEN'
  | 'KUBE_UNAVAILABLE'
  | 'KUBE_CONFLICT'
  | 'KUBE_NOT_FOUND'
  | 'KUBE_INVALID'
  | 'KUBE_FORBIDDEN'
  | 'POLICY_LOAD_FAILED'
  | 'POLICY_EVAL_FAILED'
  | 'BPF_LOAD_FAILED'
  | 'BPF_ATTACH_FAILED'
  | 'BPF_POLL_FAILED'
  | 'NATIVE_ERROR'
  | 'INTERNAL';

export class PalisadeError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, opts: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'PalisadeError';
    this.code = code;
    this.retriable = opts.retriable ?? false;
  }
}

export function isRetriable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { retriable?: unknown }).retriable === true;
}

export function errorCode(err: unknown): string {
  if (typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string') {
    return (err as { code: string }).code;
  }
  return 'INTERNAL';
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
