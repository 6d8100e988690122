// Renders wsnt:NotificationMessage elements and the GetEventProperties TopicSet from topic specs.
import { escapeXml } from '../../src/onvif/xml';
import { isoUtc } from './clock';
import { Personality } from './personalities';
import { ItemSpec, TopicSpec } from './topics';

export interface RenderedMessage {
  topic: string;
  xml: string;
}

function simpleItems(element: string, items: ItemSpec[] | undefined, keepEmpty: boolean): string {
  if (!items || items.length === 0) {
    return keepEmpty ? `<tt:${element}></tt:${element}>` : '';
  }
  const inner = items.map((i) => `<tt:SimpleItem Name="${escapeXml(i.name)}" Value="${escapeXml(i.value)}"/>`).join('');
  return `<tt:${element}>${inner}</tt:${element}>`;
}

/**
 * One NotificationMessage as the personality's firmware writes it. `operation` is undefined for stateless
 * topics, which carry no PropertyOperation attribute.
 */
export function renderNotification(p: Personality, spec: TopicSpec, value: string,
  operation: 'Initialized' | 'Changed' | undefined, cameraMs: number): RenderedMessage {
  const m = p.message;
  const nsDecls = Object.entries(m.inlineNamespaces ?? {}).map(([k, v]) => ` xmlns:${k}="${v}"`).join('');
  const producer = m.producerReference
    ? `<wsnt:ProducerReference><wsa5:Address>uri://${p.vendor}-sim/ProducerReference</wsa5:Address></wsnt:ProducerReference>`
    : '';
  const op = operation ? ` PropertyOperation="${operation}"` : '';
  const data = `<tt:Data><tt:SimpleItem Name="${escapeXml(spec.data.name)}" Value="${escapeXml(value)}"/></tt:Data>`;
  const xml = `<wsnt:NotificationMessage${nsDecls}>` +
    `<wsnt:Topic Dialect="${m.dialect}">${escapeXml(spec.topic)}</wsnt:Topic>${producer}` +
    `<wsnt:Message><tt:Message UtcTime="${isoUtc(cameraMs, m.timeFractionDigits)}"${op}>` +
    simpleItems('Source', spec.source, m.emptyKey === true) +
    simpleItems('Key', spec.key, m.emptyKey === true) +
    data + '</tt:Message></wsnt:Message></wsnt:NotificationMessage>';
  return { topic: spec.topic, xml };
}

function descriptions(element: string, items: ItemSpec[] | undefined): string {
  if (!items || items.length === 0) {
    return '';
  }
  const inner = items.map((i) => `<tt:SimpleItemDescription Name="${i.name}" Type="${i.type}"/>`).join('');
  return `<tt:${element}>${inner}</tt:${element}>`;
}

interface TopicNode {
  children: Map<string, TopicNode>;
  spec?: TopicSpec;
}

/**
 * The wstop:TopicSet: one element per topic segment, the first (and vendor-extension) segments carry their
 * namespace prefix, inner ones are unqualified, leaves hold the MessageDescription (ONVIF Core "Topic set" example).
 */
export function renderTopicSet(p: Personality): string {
  const root: TopicNode = { children: new Map() };
  for (const spec of p.topics) {
    let node = root;
    for (const segment of spec.topic.split('/')) {
      let next = node.children.get(segment);
      if (!next) {
        next = { children: new Map() };
        node.children.set(segment, next);
      }
      node = next;
    }
    node.spec = spec;
  }
  const render = (name: string, node: TopicNode): string => {
    const inner = [...node.children].map(([n, c]) => render(n, c)).join('');
    if (!node.spec) {
      return `<${name}>${inner}</${name}>`;
    }
    const s = node.spec;
    const description = `<tt:MessageDescription IsProperty="${s.property}">` +
      descriptions('Source', s.source) + descriptions('Key', s.key) +
      descriptions('Data', [{ ...s.data, value: '' }]) + '</tt:MessageDescription>';
    return `<${name} wstop:topic="true">${description}${inner}</${name}>`;
  };
  return `<wstop:TopicSet>${[...root.children].map(([n, c]) => render(n, c)).join('')}</wstop:TopicSet>`;
}

/** Topic with every segment's namespace prefix removed: tns1:Device/tnsaxis:IO/Port -> Device/IO/Port. */
export function plainTopic(topic: string): string {
  return topic.split('/').map((s) => s.slice(s.indexOf(':') + 1).trim()).filter((s) => s !== '').join('/');
}

/**
 * A ConcreteSet topic filter: alternatives separated by '|', each either an exact topic or a subtree ending
 * in '//.'. Prefixes are compared loosely (clients bind them to their own namespaces).
 */
export type TopicFilter = (topic: string) => boolean;

export function parseTopicFilter(expression: string): TopicFilter | undefined {
  const alternatives = expression.split('|').map((s) => s.trim()).filter((s) => s !== '');
  if (alternatives.length === 0) {
    return undefined;
  }
  const matchers = alternatives.map((alt) => {
    const subtree = alt.endsWith('//.');
    const base = plainTopic(subtree ? alt.slice(0, -3) : alt);
    return (topic: string): boolean => {
      const t = plainTopic(topic);
      return subtree ? t === base || t.startsWith(`${base}/`) : t === base;
    };
  });
  return (topic) => matchers.some((m) => m(topic));
}
