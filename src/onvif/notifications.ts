// The ONVIF notification model and its parser: what a PullMessagesResponse or a pushed Notify carries, with topics in
// one comparable form. Used by both event sources (PullPoint and push), the topic table and the device layer.
import { child, children, find, namespaces, textAt, XmlElement } from './xml';

/** One ONVIF notification, topic normalised to the `tns1:` prefix of the ONVIF topic namespace. */
export interface RawNotification {
  topic: string;
  /** Initialized (current state, after subscribing), Changed, or Deleted; absent for plain events. */
  operation?: string;
  utcTime?: string;
  source: Record<string, string>;
  data: Record<string, string>;
}

/** Namespaces whose topics the table names with a fixed prefix, whatever prefix the camera declared for them. */
const TOPIC_PREFIXES: Record<string, string> = {
  'http://www.onvif.org/ver10/topics': 'tns1',
  'http://www.axis.com/2009/event/topics': 'tnsaxis',
};

/** Cameras write topics with their own prefixes and quirks ("//." suffixes); rewrite them to one comparable form. */
export function normaliseTopic(raw: string, ns: Map<string, string>): string {
  return raw.trim().replace(/[/.]+$/, '').split('/').map((segment) => {
    const i = segment.indexOf(':');
    const fixed = i > 0 ? TOPIC_PREFIXES[ns.get(segment.slice(0, i)) ?? ''] : undefined;
    return fixed ? `${fixed}:${segment.slice(i + 1)}` : segment;
  }).join('/');
}

function simpleItems(el: XmlElement | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of children(el, 'SimpleItem')) {
    if (item.attrs.Name !== undefined) {
      out[item.attrs.Name] = item.attrs.Value ?? '';
    }
  }
  return out;
}

/** The notifications in a PullMessagesResponse or a Notify. */
export function parseNotifications(reply: XmlElement): RawNotification[] {
  const ns = namespaces(reply);
  return children(reply, 'NotificationMessage').map((n) => {
    const message = child(child(n, 'Message'), 'Message') ?? find(n, 'Message');
    return {
      topic: normaliseTopic(textAt(n, 'Topic') ?? '', ns),
      operation: message?.attrs.PropertyOperation,
      utcTime: message?.attrs.UtcTime,
      source: simpleItems(child(message, 'Source')),
      data: simpleItems(child(message, 'Data')),
    };
  }).filter((n) => n.topic);
}
