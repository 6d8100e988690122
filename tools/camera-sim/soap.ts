// SOAP 1.2 envelope/fault rendering and request dissection for the simulated cameras.
import { XmlElement, child, escapeXml } from '../../src/onvif/xml';

export const NS = {
  env: 'http://www.w3.org/2003/05/soap-envelope',
  tt: 'http://www.onvif.org/ver10/schema',
  tds: 'http://www.onvif.org/ver10/device/wsdl',
  trt: 'http://www.onvif.org/ver10/media/wsdl',
  tev: 'http://www.onvif.org/ver10/events/wsdl',
  timg: 'http://www.onvif.org/ver20/imaging/wsdl',
  wsnt: 'http://docs.oasis-open.org/wsn/b-2',
  wsntw: 'http://docs.oasis-open.org/wsn/bw-2',
  wstop: 'http://docs.oasis-open.org/wsn/t-1',
  wsa: 'http://www.w3.org/2005/08/addressing',
  'wsrf-r': 'http://docs.oasis-open.org/wsrf/r-2',
  ter: 'http://www.onvif.org/ver10/error',
  tns1: 'http://www.onvif.org/ver10/topics',
  xs: 'http://www.w3.org/2001/XMLSchema',
} as const;

/** A SOAP fault to answer with. Subcodes are qualified names whose prefixes the envelope declares. */
export class SoapFault extends Error {
  constructor(
    readonly code: 'Sender' | 'Receiver' | 'VersionMismatch',
    readonly subcodes: string[],
    readonly reason: string,
  ) {
    super(reason);
  }

  // SOAP 1.2 Part 2 §7.5.2.2 (HTTP binding): env:Sender faults travel as 400, every other fault as 500.
  get httpStatus(): number {
    return this.code === 'Sender' ? 400 : 500;
  }
}

// ONVIF Core Specification, "Generic faults" table: env:Sender/ter:NotAuthorized "Sender not Authorized", and
// env:Receiver/ter:ActionNotSupported for optional operations a device does not implement.
export const notAuthorized = (): SoapFault => new SoapFault('Sender', ['ter:NotAuthorized'], 'Sender not Authorized');
export const actionNotSupported = (): SoapFault =>
  new SoapFault('Receiver', ['ter:ActionNotSupported'], 'Optional Action Not Implemented');
export const wellFormed = (detail: string): SoapFault =>
  new SoapFault('Sender', ['ter:WellFormed'], `XML Well-formed violation: ${detail}`);
export const invalidArgVal = (sub: string, reason: string): SoapFault =>
  new SoapFault('Sender', ['ter:InvalidArgVal', `ter:${sub}`], reason);

export interface EnvelopeStyle {
  prefix: string;                        // env / s / SOAP-ENV: clients must not care, so personalities differ
  extraNamespaces: Record<string, string>;
}

function namespaceDecls(style: EnvelopeStyle): string {
  const all: Record<string, string> = { ...NS, ...style.extraNamespaces };
  delete (all as Record<string, string>).env;
  const decls = [`xmlns:${style.prefix}="${NS.env}"`];
  for (const [p, uri] of Object.entries(all)) {
    decls.push(`xmlns:${p}="${uri}"`);
  }
  return decls.join(' ');
}

/** A full response document around `body`; `action` becomes the wsa:Action header (events responses carry one). */
export function envelope(style: EnvelopeStyle, body: string, action?: string): string {
  const p = style.prefix;
  const header = action ? `<${p}:Header><wsa:Action>${escapeXml(action)}</wsa:Action></${p}:Header>` : '';
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${p}:Envelope ${namespaceDecls(style)}>${header}` +
    `<${p}:Body>${body}</${p}:Body></${p}:Envelope>`;
}

export function faultEnvelope(style: EnvelopeStyle, fault: SoapFault): string {
  const p = style.prefix;
  let sub = '';
  for (let i = fault.subcodes.length - 1; i >= 0; i--) {
    sub = `<${p}:Subcode><${p}:Value>${fault.subcodes[i]}</${p}:Value>${sub}</${p}:Subcode>`;
  }
  const body = `<${p}:Fault><${p}:Code><${p}:Value>${p}:${fault.code}</${p}:Value>${sub}</${p}:Code>` +
    `<${p}:Reason><${p}:Text xml:lang="en">${escapeXml(fault.reason)}</${p}:Text></${p}:Reason></${p}:Fault>`;
  return envelope(style, body);
}

/** The request's envelope parts: header (may be absent), operation element and its namespace URI. */
export interface SoapRequest {
  envelope: XmlElement;
  header: XmlElement | undefined;
  operation: XmlElement;
  namespace: string;
}

/** Resolves a prefix against the declarations on a chain of elements (innermost last). */
export function resolvePrefix(chain: XmlElement[], prefix: string): string | undefined {
  const attr = prefix ? `xmlns:${prefix}` : 'xmlns';
  for (let i = chain.length - 1; i >= 0; i--) {
    const uri = chain[i].attrs[attr];
    if (uri !== undefined) {
      return uri;
    }
  }
  return undefined;
}

export function dissect(root: XmlElement): SoapRequest {
  if (root.name !== 'Envelope') {
    throw wellFormed('the document is not a SOAP envelope');
  }
  if (resolvePrefix([root], root.prefix) !== NS.env) {
    // SOAP 1.2 Part 1 §5.4.7: an envelope in another namespace (SOAP 1.1) gets env:VersionMismatch.
    throw new SoapFault('VersionMismatch', [], 'Only SOAP 1.2 envelopes are understood');
  }
  const body = child(root, 'Body');
  const operation = body?.children[0];
  if (!body || !operation) {
    throw wellFormed('empty SOAP Body');
  }
  const namespace = resolvePrefix([root, body, operation], operation.prefix) ?? '';
  return { envelope: root, header: child(root, 'Header'), operation, namespace };
}
