// The SOAP pipeline of a simulated camera: parse, pick the operation, authenticate, answer (or fault).
import { IncomingMessage, ServerResponse } from 'node:http';
import { XmlError, parseXml } from '../../src/onvif/xml';
import { DigestAuthority, UsernameTokenVerifier } from './auth';
import { CameraContext, SoapHandler, cameraNow } from './context';
import { DEVICE_OPERATIONS } from './device-service';
import { EVENT_OPERATIONS, SUBSCRIPTION_MANAGER_OPERATIONS } from './events-service';
import { MEDIA_OPERATIONS } from './media-service';
import {
  NS, SoapFault, SoapRequest, actionNotSupported, dissect, envelope, faultEnvelope, notAuthorized, wellFormed,
} from './soap';

type OperationTable = Record<string, { handler: SoapHandler; preAuth: boolean }>;

const SERVICES: Record<string, OperationTable> = {
  [NS.tds]: DEVICE_OPERATIONS,
  [NS.trt]: MEDIA_OPERATIONS,
  [NS.tev]: EVENT_OPERATIONS,
  [NS.wsnt]: SUBSCRIPTION_MANAGER_OPERATIONS,
};

export type SoapAuthMode = 'wsse' | 'digest' | 'any';

export interface SoapEndpointOptions {
  camera: CameraContext;
  mode: SoapAuthMode;
  usernameToken: UsernameTokenVerifier;
  digest: DigestAuthority;
  onAuthFailure: () => void;
}

const SOAP_CONTENT_TYPE = 'application/soap+xml; charset=utf-8';

type AuthOutcome = { ok: true } | { ok: false; status: 400 | 401; stale?: boolean; counted: boolean };

function authenticate(opts: SoapEndpointOptions, req: IncomingMessage, request: SoapRequest): AuthOutcome {
  const authorization = req.headers.authorization;
  const digest = authorization ? opts.digest.verify('POST', req.url ?? '', authorization) : undefined;
  const hasSecurity = request.header?.children.some((c) => c.name === 'Security') ?? false;
  const checkToken = (): AuthOutcome => (opts.usernameToken.verify(request.header, cameraNow(opts.camera)).ok
    ? { ok: true } : { ok: false, status: 400, counted: true });
  // Digest outcome for a request that carried (or did not carry) an Authorization header.
  const challenge = (): AuthOutcome => ({ ok: false, status: 401, stale: digest === 'stale', counted: digest === 'bad' });
  switch (opts.mode) {
  case 'wsse':
    return checkToken();
  case 'digest':
    return digest === 'ok' ? { ok: true } : challenge();
  case 'any':
    if (digest === 'ok') {
      return { ok: true };
    }
    return hasSecurity ? checkToken() : challenge();
  }
}

function send(res: ServerResponse, status: number, xml: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': SOAP_CONTENT_TYPE, ...extra });
  res.end(xml);
}

export async function handleSoap(opts: SoapEndpointOptions, req: IncomingMessage, res: ServerResponse, body: Buffer,
  signal: AbortSignal): Promise<void> {
  const style = opts.camera.personality.envelope;
  const sendFault = (fault: SoapFault, extra?: Record<string, string>, status = fault.httpStatus): void =>
    send(res, status, faultEnvelope(style, fault), extra);
  if (req.method !== 'POST') {
    res.writeHead(405, { Allow: 'POST', 'Content-Type': 'text/plain' });
    res.end('SOAP endpoints take POST');
    return;
  }
  let request: SoapRequest;
  try {
    request = dissect(parseXml(body.toString('utf8')));
  } catch (err) {
    sendFault(err instanceof SoapFault ? err : wellFormed(err instanceof XmlError ? err.message : 'unreadable request'));
    return;
  }
  const operation = SERVICES[request.namespace]?.[request.operation.name];
  if (!operation) {
    sendFault(actionNotSupported());
    return;
  }
  if (!operation.preAuth) {
    const outcome = authenticate(opts, req, request);
    if (!outcome.ok) {
      if (outcome.counted) {
        opts.onAuthFailure();
      }
      const extra: Record<string, string> = outcome.status === 401
        ? { 'WWW-Authenticate': opts.digest.challenge(outcome.stale === true) } : {};
      sendFault(notAuthorized(), extra, outcome.status);
      return;
    }
  }
  if (opts.camera.faults.has(request.operation.name)) {
    sendFault(new SoapFault('Receiver', ['ter:Action'], `simulated fault in ${request.operation.name}`));
    return;
  }
  const url = new URL(req.url ?? '/', opts.camera.baseUrl);
  try {
    const reply = await operation.handler({ camera: opts.camera, request, url, signal });
    if (!signal.aborted) {
      send(res, 200, envelope(style, reply.body, reply.action));
    }
  } catch (err) {
    if (err instanceof SoapFault) {
      sendFault(err);
    } else {
      sendFault(new SoapFault('Receiver', ['ter:Action'], `internal error: ${(err as Error).message}`));
    }
  }
}
