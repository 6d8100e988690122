import { XMLParser } from 'fast-xml-parser';

/** A parsed XML element: local name (namespace prefix dropped), prefix, attributes, children, text. */
export interface XmlElement {
  name: string;
  prefix: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

export class XmlError extends Error {}

// SOAP 1.2 part 1 §5: "A SOAP message MUST NOT contain a Document Type Declaration", so refusing any DTD
// costs nothing with real cameras and removes entity expansion (billion laughs, external entities) outright.
const FORBIDDEN = /<!(DOCTYPE|ENTITY)/i;

// Tags ('<') in one document. The largest real replies (an Axis GetEventProperties) have a few thousand; a reply of
// nothing but empty elements up to the 2 MiB cap has half a million, which takes over a second of blocked event loop
// and ~150 MB to parse here (several times that on a Raspberry Pi). Counted before parsing, so refusing is cheap.
const MAX_TAGS = 100_000;

/** Whether `text` has more than `max` '<' characters, without counting further than that. */
function tooManyTags(text: string, max: number): boolean {
  let count = 0;
  for (let i = text.indexOf('<'); i >= 0; i = text.indexOf('<', i + 1)) {
    if (++count > max) {
      return true;
    }
  }
  return false;
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
  // Written out rather than left to the default: deeper input is refused before convert() recurses through it.
  maxNestedTags: 100,
});

type RawNode = Record<string, unknown>;

function split(qname: string): { prefix: string; name: string } {
  const i = qname.indexOf(':');
  return i < 0 ? { prefix: '', name: qname } : { prefix: qname.slice(0, i), name: qname.slice(i + 1) };
}

function convert(raw: RawNode): XmlElement | string | undefined {
  if ('#text' in raw) {
    return String(raw['#text']);
  }
  const tag = Object.keys(raw).find((k) => k !== ':@');
  if (tag === undefined || tag.startsWith('?')) {
    return undefined;
  }
  const { prefix, name } = split(tag);
  const attrs: Record<string, string> = {};
  const rawAttrs = raw[':@'] as Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(rawAttrs ?? {})) {
    attrs[k] = String(v);
  }
  const el: XmlElement = { name, prefix, attrs, children: [], text: '' };
  for (const child of (raw[tag] as RawNode[]) ?? []) {
    const c = convert(child);
    if (typeof c === 'string') {
      el.text += c;
    } else if (c) {
      el.children.push(c);
    }
  }
  return el;
}

/**
 * Parses one XML document and returns its root element. Throws XmlError on a DTD, on malformed input, on more than
 * MAX_TAGS tags, and on nesting deeper than maxNestedTags (101 levels).
 */
export function parseXml(text: string): XmlElement {
  if (FORBIDDEN.test(text)) {
    throw new XmlError('XML with a DOCTYPE or ENTITY declaration is refused (SOAP forbids DTDs)');
  }
  if (tooManyTags(text, MAX_TAGS)) {
    throw new XmlError(`XML with more than ${MAX_TAGS} tags is refused`);
  }
  let raw: RawNode[];
  try {
    // Validation on: mismatched tags are an error, not a silently different tree.
    raw = parser.parse(text, true) as RawNode[];
  } catch (err) {
    throw new XmlError(`malformed XML: ${(err as Error).message.split('\n')[0]}`);
  }
  for (const node of raw) {
    const el = convert(node);
    if (el && typeof el !== 'string') {
      return el;
    }
  }
  throw new XmlError('no XML element found');
}

/** First direct child with this local name. */
export function child(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.name === name);
}

/** All direct children with this local name. */
export function children(el: XmlElement | undefined, name: string): XmlElement[] {
  return el ? el.children.filter((c) => c.name === name) : [];
}

/** Follows a path of local names through first matches: path(env, 'Body', 'GetProfilesResponse'). */
export function path(el: XmlElement | undefined, ...names: string[]): XmlElement | undefined {
  let cur = el;
  for (const n of names) {
    cur = child(cur, n);
  }
  return cur;
}

/** Text of the element at the path, or undefined when absent. */
export function textAt(el: XmlElement | undefined, ...names: string[]): string | undefined {
  return path(el, ...names)?.text;
}

/** First descendant (depth-first) with this local name. */
export function find(el: XmlElement | undefined, name: string): XmlElement | undefined {
  if (!el) {
    return undefined;
  }
  for (const c of el.children) {
    if (c.name === name) {
      return c;
    }
    const deep = find(c, name);
    if (deep) {
      return deep;
    }
  }
  return undefined;
}

/** Escapes text for use inside an XML element or attribute. */
export function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '\'': '&apos;', '"': '&quot;' }[ch] as string));
}

/** Writes an element back as XML with its original prefixes and attributes (to echo WS-Addressing reference parameters). */
export function serializeXml(el: XmlElement): string {
  const tag = el.prefix ? `${el.prefix}:${el.name}` : el.name;
  const attrs = Object.entries(el.attrs).map(([k, v]) => ` ${k}="${escapeXml(v)}"`).join('');
  const inner = escapeXml(el.text) + el.children.map(serializeXml).join('');
  return `<${tag}${attrs}>${inner}</${tag}>`;
}

/** Every namespace declaration in the document, prefix → URI (the first one wins: enough to resolve topic prefixes). */
export function namespaces(el: XmlElement, into: Map<string, string> = new Map()): Map<string, string> {
  for (const [k, v] of Object.entries(el.attrs)) {
    if (k.startsWith('xmlns:') && !into.has(k.slice(6))) {
      into.set(k.slice(6), v);
    }
  }
  el.children.forEach((c) => namespaces(c, into));
  return into;
}
