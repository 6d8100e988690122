/**
 * What went wrong with a request to a camera (SOAP or a plain HTTP GET), in words the user can act on:
 * - unreachable: no connection, or it dropped; timeout: no answer within the bound; cancelled: the caller gave up;
 * - auth: the camera refused the credentials; fault: a SOAP fault; http: an HTTP status other than success;
 * - bad-reply: an answer that is not what was asked for; too-large: an answer over the size bound.
 */
export type RequestErrorKind = 'unreachable' | 'timeout' | 'cancelled' | 'auth' | 'fault' | 'http' | 'bad-reply' | 'too-large';

/** A failed request to a camera. The message says what happened without naming the camera: the caller adds that. */
export class RequestError extends Error {
  constructor(readonly kind: RequestErrorKind, message: string, readonly faultCode?: string) {
    super(message);
  }
}
