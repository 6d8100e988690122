// A deliberately raw SOAP/HTTP client for the simulator tests: builds envelopes by hand, signs them with
// src/onvif/wsse.ts, and exposes status, headers and the parsed envelope.
import { createHash, randomBytes } from 'node:crypto';
import { Agent, IncomingHttpHeaders, request } from 'node:http';
import { XmlElement, child, find, parseXml } from '../../../src/onvif/xml';
import { securityHeader } from '../../../src/onvif/wsse';

export const NS_DECLS = 'xmlns:s="http://www.w3.org/2003/05/soap-envelope" ' +
  'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" ' +
  'xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" ' +
  'xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:wsa="http://www.w3.org/2005/08/addressing"';

export interface Credentials {
  username: string;
  password: string;
  offsetMs?: number;      // camera clock minus ours, for wsu:Created
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  reusedSocket: boolean;
}

export interface SoapResult extends HttpResult {
  text: string;
  envelope: XmlElement;
  /** First element of the Body (the response or the Fault). */
  payload: XmlElement;
}

export function httpRequest(url: string, options: { method?: string; headers?: Record<string, string>;
  body?: string | Buffer; agent?: Agent; timeoutMs?: number } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks),
          reusedSocket: req.reusedSocket }));
        res.on('error', reject);
      });
    req.setTimeout(options.timeoutMs ?? 30_000, () => req.destroy(new Error('test request timed out')));
    req.on('error', reject);
    req.end(options.body);
  });
}

export function envelope(body: string, header = ''): string {
  return `<?xml version="1.0" encoding="UTF-8"?><s:Envelope ${NS_DECLS}>` +
    (header ? `<s:Header>${header}</s:Header>` : '') + `<s:Body>${body}</s:Body></s:Envelope>`;
}

export async function soap(url: string, body: string, options: { auth?: Credentials; header?: string;
  httpHeaders?: Record<string, string>; agent?: Agent; rawEnvelope?: string } = {}): Promise<SoapResult> {
  const security = options.auth
    ? securityHeader(options.auth.username, options.auth.password, options.auth.offsetMs ?? 0) : '';
  const text = options.rawEnvelope ?? envelope(body, security + (options.header ?? ''));
  const res = await httpRequest(url, { method: 'POST', body: text, agent: options.agent,
    headers: { 'Content-Type': 'application/soap+xml; charset=utf-8', ...options.httpHeaders } });
  const responseText = res.body.toString('utf8');
  const env = parseXml(responseText);
  const payload = child(child(env, 'Body'), 'Fault') ?? child(env, 'Body')?.children[0];
  if (!payload) {
    throw new Error(`no SOAP body in response ${res.status}: ${responseText.slice(0, 200)}`);
  }
  return { ...res, text: responseText, envelope: env, payload };
}

/** The subcode values of a SOAP fault, outermost first (e.g. ['ter:NotAuthorized']). */
export function faultSubcodes(fault: XmlElement): string[] {
  const out: string[] = [];
  let sub = child(child(fault, 'Code'), 'Subcode');
  while (sub) {
    out.push(child(sub, 'Value')?.text.trim() ?? '');
    sub = child(sub, 'Subcode');
  }
  return out;
}

export function faultCode(fault: XmlElement): string {
  return child(child(fault, 'Code'), 'Value')?.text.trim() ?? '';
}

/** Notification messages of a PullMessagesResponse as { topic, op, source, data }. */
export interface Notification {
  topic: string;
  operation: string | undefined;
  source: Record<string, string>;
  data: Record<string, string>;
}

export function notifications(pullResponse: XmlElement): Notification[] {
  return pullResponse.children.filter((c) => c.name === 'NotificationMessage').map((n) => {
    const msg = find(child(n, 'Message'), 'Message');
    const items = (el: XmlElement | undefined): Record<string, string> =>
      Object.fromEntries((el?.children ?? []).filter((c) => c.name === 'SimpleItem').map((c) => [c.attrs.Name, c.attrs.Value]));
    return { topic: child(n, 'Topic')?.text.trim() ?? '', operation: msg?.attrs.PropertyOperation,
      source: items(child(msg, 'Source')), data: items(child(msg, 'Data')) };
  });
}

/** An RFC 7616 MD5/qop=auth Authorization header for a challenge (test-side digest client). */
export function digestAuthorization(challenge: string, method: string, uri: string, creds: Credentials, nc = 1): string {
  const params: Record<string, string> = {};
  for (const m of challenge.matchAll(/(\w+)="?([^",]*)"?/g)) {
    params[m[1]] = m[2];
  }
  const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
  const cnonce = randomBytes(8).toString('hex');
  const ncText = nc.toString(16).padStart(8, '0');
  const ha1 = md5(`${creds.username}:${params.realm}:${creds.password}`);
  const ha2 = md5(`${method}:${uri}`);
  const response = md5(`${ha1}:${params.nonce}:${ncText}:${cnonce}:auth:${ha2}`);
  return `Digest username="${creds.username}", realm="${params.realm}", nonce="${params.nonce}", uri="${uri}", ` +
    `algorithm=MD5, qop=auth, nc=${ncText}, cnonce="${cnonce}", response="${response}", opaque="${params.opaque}"`;
}

/** Body builders for the operations the tests use. */
export const ops = {
  createPullPoint: (termination = 'PT60S', filter?: string): string =>
    '<tev:CreatePullPointSubscription>' +
    (filter ? `<tev:Filter><wsnt:TopicExpression Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">${filter}</wsnt:TopicExpression></tev:Filter>` : '') +
    `<tev:InitialTerminationTime>${termination}</tev:InitialTerminationTime></tev:CreatePullPointSubscription>`,
  pull: (timeout: string, limit: number): string =>
    `<tev:PullMessages><tev:Timeout>${timeout}</tev:Timeout><tev:MessageLimit>${limit}</tev:MessageLimit></tev:PullMessages>`,
  renew: (termination = 'PT60S'): string => `<wsnt:Renew><wsnt:TerminationTime>${termination}</wsnt:TerminationTime></wsnt:Renew>`,
  unsubscribe: '<wsnt:Unsubscribe/>',
  sync: '<tev:SetSynchronizationPoint/>',
};
