// Event topic shapes (ONVIF standard ones and vendor ones) used by the personalities.
//
// Where the shapes come from (public captures / parsers, read with the search tools, none copied):
// - Hikvision PullMessages capture (tokens VideoSourceToken/VideoAnalyticsToken/MyMotionDetectorRule,
//   MotionAlarm Source=VideoSource_1, FieldDetector with Key ObjectId, TamperDetector IsTamper):
//   jimm98y/SharpOnvif src/SharpOnvifServer/Events/OnvifEvents.cs (comment block at the end of the file).
// - Reolink PullPointTest capture (CellMotion tokens "000", MyRuleDetector/* with Source=000 and State):
//   richard-austin/security-cam README.md; Visitor shape: home-assistant/core homeassistant/components/onvif/parsers.py.
// - LineDetector/Crossed (VideoSourceConfigurationToken, VideoAnalyticsConfigurationToken, Rule; Data ObjectId)
//   and DigitalInput (InputToken; LogicalState): home-assistant/core tests/components/onvif/test_parsers.py, parsers.py.
// - Axis topics and values (0/1 booleans, tns1:Device/tnsaxis:IO/Port port/state, ObjectAnalytics Device1ScenarioN
//   active, VMD Camera1ProfileANY active, namespaces declared on the NotificationMessage, ".../TopicExpression/Simple"
//   dialect, microsecond UtcTime, empty tt:Key, ProducerReference): Kane610/axis tests/event_fixtures.py.
// - Axis tns1:VideoSource/tnsaxis:Tampering (stateless; Source channel xsd:int, Data tampering xsd:int):
//   dtrammer/AxisActionEventLib README.md and Axis event listings found with the code search.

export interface ItemSpec {
  name: string;
  type: string;   // for the MessageDescription in GetEventProperties
  value: string;
}

export interface TopicSpec {
  topic: string;                 // exactly as sent in wsnt:Topic
  property: boolean;             // IsProperty: stateful, initialized on subscribe
  source: ItemSpec[];
  key?: ItemSpec[];
  data: { name: string; type: string };
  /** Data value for a state ("on") or, for stateless topics, for the `count`-th occurrence. */
  value: (on: boolean, count: number) => string;
}

const trueFalse = (on: boolean): string => (on ? 'true' : 'false');
export const oneZero = (on: boolean): string => (on ? '1' : '0');

const TOKEN = 'tt:ReferenceToken';
const BOOL = 'xs:boolean';

interface RuleTokens { videoSourceConfig: string; analytics: string; rule: string }

function ruleSource(t: RuleTokens): ItemSpec[] {
  return [
    { name: 'VideoSourceConfigurationToken', type: TOKEN, value: t.videoSourceConfig },
    { name: 'VideoAnalyticsConfigurationToken', type: TOKEN, value: t.analytics },
    { name: 'Rule', type: 'xs:string', value: t.rule },
  ];
}

export function cellMotion(t: RuleTokens): TopicSpec {
  return { topic: 'tns1:RuleEngine/CellMotionDetector/Motion', property: true, source: ruleSource(t),
    data: { name: 'IsMotion', type: BOOL }, value: trueFalse };
}

export function motionAlarm(source: string, value = trueFalse): TopicSpec {
  return { topic: 'tns1:VideoSource/MotionAlarm', property: true, source: [{ name: 'Source', type: TOKEN, value: source }],
    data: { name: 'State', type: BOOL }, value };
}

export function digitalInput(inputToken: string): TopicSpec {
  return { topic: 'tns1:Device/Trigger/DigitalInput', property: true,
    source: [{ name: 'InputToken', type: TOKEN, value: inputToken }],
    data: { name: 'LogicalState', type: BOOL }, value: trueFalse };
}

export function lineCrossed(t: RuleTokens): TopicSpec {
  return { topic: 'tns1:RuleEngine/LineDetector/Crossed', property: false, source: ruleSource(t),
    data: { name: 'ObjectId', type: 'xs:integer' }, value: (_on, count) => String(count) };
}

export function fieldDetector(t: RuleTokens): TopicSpec {
  return { topic: 'tns1:RuleEngine/FieldDetector/ObjectsInside', property: true, source: ruleSource(t),
    key: [{ name: 'ObjectId', type: 'xs:integer', value: '0' }],
    data: { name: 'IsInside', type: BOOL }, value: trueFalse };
}

export function tamperDetector(t: RuleTokens): TopicSpec {
  return { topic: 'tns1:RuleEngine/TamperDetector/Tamper', property: true, source: ruleSource(t),
    data: { name: 'IsTamper', type: BOOL }, value: trueFalse };
}

/** Reolink's tns1:RuleEngine/MyRuleDetector/<name> (Source=channel "000", Data State). */
export function reolinkRule(name: string): TopicSpec {
  return { topic: `tns1:RuleEngine/MyRuleDetector/${name}`, property: true,
    source: [{ name: 'Source', type: TOKEN, value: '000' }], data: { name: 'State', type: BOOL }, value: trueFalse };
}

export function imageTooDark(source: string): TopicSpec {
  return { topic: 'tns1:VideoSource/ImageTooDark/ImagingService', property: true,
    source: [{ name: 'Source', type: TOKEN, value: source }], data: { name: 'State', type: BOOL }, value: trueFalse };
}

export function axisIoPort(port: string): TopicSpec {
  return { topic: 'tns1:Device/tnsaxis:IO/Port', property: true, source: [{ name: 'port', type: 'xs:int', value: port }],
    data: { name: 'state', type: BOOL }, value: oneZero };
}

export function axisApplication(path: string): TopicSpec {
  return { topic: `tnsaxis:CameraApplicationPlatform/${path}`, property: true, source: [],
    data: { name: 'active', type: BOOL }, value: oneZero };
}

export function axisTampering(): TopicSpec {
  return { topic: 'tns1:VideoSource/tnsaxis:Tampering', property: false,
    source: [{ name: 'channel', type: 'xs:int', value: '1' }], data: { name: 'tampering', type: 'xs:int' },
    value: () => '1' };
}
