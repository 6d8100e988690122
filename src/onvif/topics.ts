import type { RawNotification } from './notifications';

/** What an ONVIF event means, whatever the vendor called it. */
export const EVENT_KINDS = ['motion', 'person', 'vehicle', 'animal', 'face', 'field', 'line', 'input', 'visitor', 'relay', 'tamper'] as const;
export type EventKind = typeof EVENT_KINDS[number];

export interface CameraEvent {
  kind: EventKind;
  /** On or off; momentary events (a line crossed) are always on and never sent off. */
  active: boolean;
  momentary: boolean;
  topic: string;
  /** Which input, rule or video source it came from, e.g. "InputToken=1" (for the UI and the event history). */
  source: string;
  /** A current state reported after subscribing (PropertyOperation "Initialized"), not a change. */
  initial: boolean;
}

/** A user's own mapping from the config: this topic (and, optionally, this data item with this value) means that kind. */
export interface TopicMapping {
  topic: string;
  item?: string;
  value?: string;
  kind: EventKind;
}

interface TopicRule {
  topic: string;
  kind: EventKind;
  /** The data item that carries the state; the first present one is used. */
  items: string[];
  momentary?: boolean;
}

// Topics and data items seen from real cameras. Sources: home-assistant/core homeassistant/components/onvif/parsers.py
// (now the onvif_parsers package), which names the vendor of each; ONVIF Core / Analytics specs for the tns1: ones.
const RULES: TopicRule[] = [
  // Generic Profile S / T, Dahua, Axis, Hanwha, Uniview.
  { topic: 'tns1:VideoSource/MotionAlarm', kind: 'motion', items: ['State'] },
  // Hikvision, Reolink, TP-Link, many OEMs ("many cameras send only true": callers hold motion for a while).
  { topic: 'tns1:RuleEngine/CellMotionDetector/Motion', kind: 'motion', items: ['IsMotion'] },
  { topic: 'tns1:RuleEngine/MotionRegionDetector/Motion', kind: 'motion', items: ['State', 'IsMotion'] },
  // Intrusion / field detection (Hikvision, Dahua, Hanwha).
  { topic: 'tns1:RuleEngine/FieldDetector/ObjectsInside', kind: 'field', items: ['IsInside'] },
  // Line crossing: ONVIF Analytics LineDetector carries only an ObjectId, so each message is one crossing.
  { topic: 'tns1:RuleEngine/LineDetector/Crossed', kind: 'line', items: ['ObjectId'], momentary: true },
  // Reolink AI detections and its doorbell's visitor button.
  { topic: 'tns1:RuleEngine/MyRuleDetector/PeopleDetect', kind: 'person', items: ['State'] },
  { topic: 'tns1:RuleEngine/MyRuleDetector/VehicleDetect', kind: 'vehicle', items: ['State'] },
  { topic: 'tns1:RuleEngine/MyRuleDetector/DogCatDetect', kind: 'animal', items: ['State'] },
  { topic: 'tns1:RuleEngine/MyRuleDetector/FaceDetect', kind: 'face', items: ['State'] },
  { topic: 'tns1:RuleEngine/MyRuleDetector/Visitor', kind: 'visitor', items: ['State'] },
  // TP-Link Tapo / VIGI.
  { topic: 'tns1:RuleEngine/PeopleDetector/People', kind: 'person', items: ['IsPeople'] },
  { topic: 'tns1:RuleEngine/TPSmartEventDetector/TPSmartEvent', kind: 'person', items: ['IsPeople'] },
  { topic: 'tns1:RuleEngine/TPSmartEventDetector/TPSmartEvent', kind: 'vehicle', items: ['IsVehicle'] },
  // Uniview human shape detection.
  { topic: 'tns1:UserAlarm/IVA/HumanShapeDetect', kind: 'person', items: ['State'] },
  // Digital inputs (a wired bell button) and relays: ONVIF Core DeviceIO.
  { topic: 'tns1:Device/Trigger/DigitalInput', kind: 'input', items: ['LogicalState'] },
  { topic: 'tns1:Device/Trigger/Relay', kind: 'relay', items: ['LogicalState'] },
  { topic: 'tns1:RuleEngine/TamperDetector/Tamper', kind: 'tamper', items: ['IsTamper', 'State'] },
  // Axis (Kane610/axis tests/event_fixtures.py): I/O ports carry `state` 1/0, VMD profiles and Object Analytics scenarios
  // carry `active`; Object Analytics scenarios detect humans unless the installer changed them. Tampering is stateless.
  { topic: 'tns1:Device/tnsaxis:IO/Port', kind: 'input', items: ['state'] },
  { topic: 'tnsaxis:CameraApplicationPlatform/VMD/*', kind: 'motion', items: ['active'] },
  { topic: 'tnsaxis:CameraApplicationPlatform/ObjectAnalytics/*', kind: 'person', items: ['active'] },
  { topic: 'tns1:VideoSource/tnsaxis:Tampering', kind: 'tamper', items: ['tampering'], momentary: true },
];

/** A rule topic matches exactly, or by prefix when it ends in `/*` (vendor rules named by the installer). */
function matches(ruleTopic: string, topic: string): boolean {
  return ruleTopic.endsWith('/*') ? topic.startsWith(ruleTopic.slice(0, -1)) : ruleTopic === topic;
}

// Image problems live under several services (VideoSource/, AnalyticsService/, ImagingService/, RecordingService/).
const TAMPER_IMAGE = /^tns1:(?:VideoSource|AnalyticsService|ImagingService|RecordingService)\/(?:ImageTooBlurry|ImageTooDark|ImageTooBright|GlobalSceneChange)(?:\/|$)/;

const TRUE = /^(true|1|active|on|yes)$/i;

function sourceOf(n: RawNotification): string {
  return Object.entries(n.source).map(([k, v]) => `${k}=${v}`).join(',');
}

function event(n: RawNotification, kind: EventKind, active: boolean, momentary = false): CameraEvent {
  return { kind, active, momentary, topic: n.topic, source: sourceOf(n), initial: n.operation === 'Initialized' };
}

/**
 * The meanings of one notification (a TP-Link smart event can be a person and a vehicle at once). The user's mappings
 * come first, so they can re-purpose a topic the table knows. Empty when the topic means nothing we know.
 */
export function interpret(n: RawNotification, mappings: TopicMapping[] = []): CameraEvent[] {
  const mine = mappings.filter((m) => m.topic === n.topic);
  if (mine.length) {
    return mine.flatMap((m) => {
      if (!m.item) {
        return [event(n, m.kind, true, true)];
      }
      const value = n.data[m.item];
      if (value === undefined) {
        return [];
      }
      return [event(n, m.kind, m.value === undefined ? TRUE.test(value) : value === m.value)];
    });
  }
  const out: CameraEvent[] = [];
  for (const rule of RULES) {
    if (!matches(rule.topic, n.topic)) {
      continue;
    }
    const item = rule.items.find((i) => n.data[i] !== undefined);
    if (item === undefined) {
      continue;
    }
    out.push(event(n, rule.kind, rule.momentary ? true : TRUE.test(n.data[item]), rule.momentary));
  }
  if (out.length === 0 && TAMPER_IMAGE.test(n.topic)) {
    const value = n.data.State ?? Object.values(n.data)[0];
    if (value !== undefined) {
      out.push(event(n, 'tamper', TRUE.test(value)));
    }
  }
  return out;
}

/** The kinds a camera can report, judged from the topics it lists in GetEventProperties (data items are not known there). */
export function kindsOffered(topics: string[]): Set<EventKind> {
  const kinds = new Set<EventKind>();
  for (const topic of topics) {
    RULES.filter((r) => matches(r.topic, topic)).forEach((r) => kinds.add(r.kind));
    if (TAMPER_IMAGE.test(topic)) {
      kinds.add('tamper');
    }
  }
  return kinds;
}
