// What makes each simulated vendor look like the real thing: identity, tokens, paths, topics and quirks.
// Tokens that are not cited below are illustrative: clients must take them from the responses, never assume them.
import { Vendor } from './types';
import { EnvelopeStyle, SoapFault } from './soap';
import { isoUtc } from './clock';
import {
  TopicSpec, axisApplication, axisIoPort, axisTampering, cellMotion, digitalInput, fieldDetector, imageTooDark,
  lineCrossed, motionAlarm, oneZero, reolinkRule, tamperDetector,
} from './topics';

export type SimAction = 'motion' | 'doorbell' | 'line' | 'person' | 'tamper';
export type ProfileName = 'main' | 'sub';

export interface Personality {
  vendor: Vendor;
  manufacturer: string;
  model: string;
  firmware: string;
  hardwareId: string;
  macPrefix: string;
  serial: (index: number, mac: string) => string;
  realm: (serial: string) => string;
  envelope: EnvelopeStyle;
  paths: { device: string; media: string; events: string; imaging: string };
  profiles: Record<ProfileName, { token: string; name: string }>;
  videoSourceToken: string;
  videoSourceConfigToken: string;
  snapshotPath: (profile: ProfileName) => string;
  /** 'path': every subscription has its own URL; 'reference': one URL plus a wsa:ReferenceParameters id (Axis). */
  subscriptionStyle: 'path' | 'reference';
  subscriptionPath: (id: number, createdCameraMs: number) => string;
  /** Real Axis/Bosch firmwares claim WSPullPointSupport=false in GetCapabilities and still serve pull points. */
  advertisesPullPoint: boolean;
  unknownSubscriptionFault: () => SoapFault;
  topics: TopicSpec[];                 // every topic the camera lists in GetEventProperties, in that order
  actions: Record<SimAction, string[]>; // topics each simulated action sets (first = the SimEvent's topic)
  message: {
    dialect: string;
    timeFractionDigits: number;
    inlineNamespaces?: Record<string, string>; // declared on each NotificationMessage (Axis)
    producerReference?: boolean;
    emptyKey?: boolean;
  };
}

const CONCRETE_SET = 'http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet';
const AXIS_NS = 'http://www.axis.com/2009/event/topics';

// Hikvision answers an unknown/expired pull point with wsrf-r:ResourceUnknownFault (spupuz/VibeNVR#290, DS-2CD2347G3).
const resourceUnknown = (): SoapFault =>
  new SoapFault('Sender', ['wsrf-r:ResourceUnknownFault'], 'The subscription does not exist');
// Other firmwares put it under the ONVIF error namespace: "SOAP-ENV:Sender->ter:ResourceUnknownFault" (eyetowers/gonvif#1).
const terResourceUnknown = (): SoapFault =>
  new SoapFault('Sender', ['ter:ResourceUnknownFault'], 'Unknown Pullpoint');

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

const hikRule = { videoSourceConfig: 'VideoSourceToken', analytics: 'VideoAnalyticsToken' };

const hikvision: Personality = {
  vendor: 'hikvision',
  manufacturer: 'HIKVISION',
  model: 'DS-2CD2347G2-LU',
  firmware: 'V5.7.3 build 220112',
  hardwareId: '88',
  macPrefix: 'bc:ad:28',
  serial: (i) => `DS-2CD2347G2-LU20220101AAWRJ${pad(10000000 + i, 9)}`,
  realm: (serial) => `IP Camera(${serial.slice(-5)})`,
  // Envelope prefixes/namespaces as in the Hikvision capture (jimm98y/SharpOnvif OnvifEvents.cs).
  envelope: { prefix: 'env', extraNamespaces: {
    tnshik: 'http://www.hikvision.com/2011/event/topics',
    hikwsd: 'http://www.onvifext.com/onvif/ext/ver10/wsdl',
    hikxsd: 'http://www.onvifext.com/onvif/ext/ver10/schema',
  } },
  paths: { device: '/onvif/device_service', media: '/onvif/Media', events: '/onvif/Events', imaging: '/onvif/Imaging' },
  profiles: { main: { token: 'Profile_1', name: 'mainStream' }, sub: { token: 'Profile_2', name: 'subStream' } },
  videoSourceToken: 'VideoSource_1',
  videoSourceConfigToken: 'VideoSourceToken',
  snapshotPath: (p) => `/onvif-http/snapshot?${p === 'main' ? 'Profile_1' : 'Profile_2'}`,
  subscriptionStyle: 'path',
  // "http://camera-ip/onvif/Events/PullSubManager_..." (spupuz/VibeNVR#290).
  subscriptionPath: (id, at) => `/onvif/Events/PullSubManager_${isoUtc(at)}_${id}`,
  advertisesPullPoint: true,
  unknownSubscriptionFault: resourceUnknown,
  topics: [
    motionAlarm('VideoSource_1'),
    cellMotion({ ...hikRule, rule: 'MyMotionDetectorRule' }),
    imageTooDark('VideoSourceToken'),
    fieldDetector({ ...hikRule, rule: 'MyFieldDetector1' }),
    lineCrossed({ ...hikRule, rule: 'MyLineDetectorRule' }),
    tamperDetector({ ...hikRule, rule: 'MyTamperDetectorRule' }),
    digitalInput('AlarmIn_1'),
  ],
  actions: {
    motion: ['tns1:RuleEngine/CellMotionDetector/Motion', 'tns1:VideoSource/MotionAlarm'],
    doorbell: ['tns1:Device/Trigger/DigitalInput'],
    line: ['tns1:RuleEngine/LineDetector/Crossed'],
    person: ['tns1:RuleEngine/FieldDetector/ObjectsInside'], // intrusion detection, Hikvision's human/vehicle filter
    tamper: ['tns1:RuleEngine/TamperDetector/Tamper'],
  },
  message: { dialect: CONCRETE_SET, timeFractionDigits: 0 },
};

const dahuaRule = { videoSourceConfig: 'VideoSourceConfigToken0', analytics: 'VideoAnalyticsConfigToken0' };

const dahua: Personality = {
  vendor: 'dahua',
  manufacturer: 'Dahua',
  model: 'IPC-HDW2431T-AS-S2',
  firmware: '2.800.0000000.14.R, Build Date 2021-05-19',
  hardwareId: '1.00',
  macPrefix: '3c:ef:8c',
  serial: (i) => `7K0${pad(3000000 + i, 7)}PAZ${pad(i, 3)}`,
  realm: (serial) => `Login to ${serial}`,
  envelope: { prefix: 's', extraNamespaces: {} },
  paths: { device: '/onvif/device_service', media: '/onvif/media_service', events: '/onvif/event_service',
    imaging: '/onvif/imaging_service' },
  // MediaProfile000/001 as in public Dahua GetProfiles fixtures (e.g. RiftValleySoftware RVS_ONVIF comments).
  profiles: { main: { token: 'MediaProfile000', name: 'MainStream' }, sub: { token: 'MediaProfile001', name: 'SubStream' } },
  videoSourceToken: '000',
  videoSourceConfigToken: 'VideoSourceConfigToken0',
  snapshotPath: (p) => `/onvifsnapshot/media_service/snapshot?channel=1&subtype=${p === 'main' ? 0 : 1}`,
  subscriptionStyle: 'path',
  subscriptionPath: (id) => `/onvif/Subscription?Idx=${id}`,
  advertisesPullPoint: true,
  unknownSubscriptionFault: resourceUnknown,
  topics: [
    motionAlarm('000'),
    fieldDetector({ ...dahuaRule, rule: 'IVSRule1' }),
    lineCrossed({ ...dahuaRule, rule: 'IVSRule2' }),
    // The topic a VMS filtered on against a Dahua DH-P20T1 (edgexfoundry/device-onvif-camera#167).
    tamperDetector({ ...dahuaRule, rule: 'TamperRule' }),
    digitalInput('000'),
  ],
  actions: {
    motion: ['tns1:VideoSource/MotionAlarm'],
    doorbell: ['tns1:Device/Trigger/DigitalInput'],
    line: ['tns1:RuleEngine/LineDetector/Crossed'],
    person: ['tns1:RuleEngine/FieldDetector/ObjectsInside'], // ONVIF standard topic; Dahua's exact human shape unverified
    tamper: ['tns1:RuleEngine/TamperDetector/Tamper'],
  },
  message: { dialect: CONCRETE_SET, timeFractionDigits: 0 },
};

const axis: Personality = {
  vendor: 'axis',
  manufacturer: 'AXIS',
  model: 'M3106-L Mk II',
  firmware: '10.12.114',
  hardwareId: '7A3',
  macPrefix: 'ac:cc:8e',
  serial: (_i, mac) => mac.replace(/:/g, '').toUpperCase(), // Axis serial numbers are the MAC address
  realm: (serial) => `AXIS_${serial}`,
  envelope: { prefix: 'SOAP-ENV', extraNamespaces: { tnsaxis: AXIS_NS } },
  paths: { device: '/onvif/device_service', media: '/onvif/services', events: '/onvif/services', imaging: '/onvif/services' },
  profiles: { main: { token: 'profile_1_h264', name: 'profile_1 h264' }, sub: { token: 'profile_2_h264', name: 'profile_2 h264' } },
  videoSourceToken: '0',
  videoSourceConfigToken: '0',
  snapshotPath: (p) => `/axis-cgi/jpg/image.cgi?resolution=${p === 'main' ? '1920x1080' : '640x360'}`,
  // One address for every pull point plus <dom0:SubscriptionId xmlns:dom0="http://www.axis.com/2009/event">, which
  // clients must echo as a SOAP header (handled by public clients, e.g. Network Optix's onvif_resource.cpp).
  subscriptionStyle: 'reference',
  subscriptionPath: () => '/onvif/services',
  advertisesPullPoint: false,
  unknownSubscriptionFault: resourceUnknown,
  topics: [
    motionAlarm('0', oneZero),
    axisApplication('VMD/Camera1ProfileANY'),
    axisApplication('ObjectAnalytics/Device1Scenario1'),
    lineCrossed({ videoSourceConfig: '0', analytics: 'VideoAnalyticsConfiguration_0', rule: 'Line1' }),
    axisTampering(),
    axisIoPort('1'),
  ],
  actions: {
    motion: ['tns1:VideoSource/MotionAlarm', 'tnsaxis:CameraApplicationPlatform/VMD/Camera1ProfileANY'],
    doorbell: ['tns1:Device/tnsaxis:IO/Port'],
    line: ['tns1:RuleEngine/LineDetector/Crossed'],
    person: ['tnsaxis:CameraApplicationPlatform/ObjectAnalytics/Device1Scenario1'],
    tamper: ['tns1:VideoSource/tnsaxis:Tampering'],
  },
  message: {
    dialect: 'http://docs.oasis-open.org/wsn/t-1/TopicExpression/Simple',
    timeFractionDigits: 6,
    inlineNamespaces: { tns1: 'http://www.onvif.org/ver10/topics', tnsaxis: AXIS_NS,
      wsnt: 'http://docs.oasis-open.org/wsn/b-2', wsa5: 'http://www.w3.org/2005/08/addressing' },
    producerReference: true,
    emptyKey: true,
  },
};

const reolink: Personality = {
  vendor: 'reolink',
  manufacturer: 'Reolink',
  model: 'Reolink Video Doorbell PoE',
  firmware: 'v3.0.0.1889_23031701',
  hardwareId: 'DB_566128M5MP_P',
  macPrefix: 'ec:71:db',
  serial: (i) => `952700${pad(1000000 + i, 10)}`,
  realm: () => 'Reolink',
  envelope: { prefix: 'SOAP-ENV', extraNamespaces: {} },
  paths: { device: '/onvif/device_service', media: '/onvif/media_service', events: '/onvif/event_service',
    imaging: '/onvif/imaging_service' },
  profiles: { main: { token: '000', name: 'mainStream' }, sub: { token: '001', name: 'subStream' } },
  videoSourceToken: '000',
  videoSourceConfigToken: '000',
  snapshotPath: (p) => `/cgi-bin/api.cgi?cmd=onvifSnapPic&channel=0${p === 'sub' ? '&stream=sub' : ''}`,
  subscriptionStyle: 'path',
  subscriptionPath: (id) => `/onvif/Subscription?Idx=${id}`,
  advertisesPullPoint: true,
  unknownSubscriptionFault: resourceUnknown,
  // Topic list and order as the PullPointTest capture in richard-austin/security-cam README.md shows them.
  topics: [
    cellMotion({ videoSourceConfig: '000', analytics: '000', rule: '000' }),
    reolinkRule('FaceDetect'),
    reolinkRule('PeopleDetect'),
    reolinkRule('VehicleDetect'),
    reolinkRule('DogCatDetect'),
    motionAlarm('000'),
    reolinkRule('Visitor'),
    reolinkRule('Package'),
    lineCrossed({ videoSourceConfig: '000', analytics: '000', rule: 'crossline' }),
  ],
  actions: {
    motion: ['tns1:RuleEngine/CellMotionDetector/Motion', 'tns1:VideoSource/MotionAlarm'],
    doorbell: ['tns1:RuleEngine/MyRuleDetector/Visitor'],
    line: ['tns1:RuleEngine/LineDetector/Crossed'],
    person: ['tns1:RuleEngine/MyRuleDetector/PeopleDetect'],
    tamper: [], // Reolink publishes no tamper topic over ONVIF
  },
  message: { dialect: CONCRETE_SET, timeFractionDigits: 0 },
};

const genericRule = { videoSourceConfig: 'VideoSourceConfig_1', analytics: 'VideoAnalyticsConfig_1' };

const generic: Personality = {
  vendor: 'generic',
  manufacturer: 'Generic',
  model: 'ONVIF Camera',
  firmware: '1.0.0',
  hardwareId: 'GEN-1',
  macPrefix: '02:00:5e',
  serial: (i) => `GEN${pad(i + 1, 8)}`,
  realm: () => 'ONVIF Camera',
  envelope: { prefix: 's', extraNamespaces: {} },
  paths: { device: '/onvif/device_service', media: '/onvif/media_service', events: '/onvif/events_service',
    imaging: '/onvif/imaging_service' },
  profiles: { main: { token: 'profile_main', name: 'Main' }, sub: { token: 'profile_sub', name: 'Sub' } },
  videoSourceToken: 'VideoSource_1',
  videoSourceConfigToken: 'VideoSourceConfig_1',
  snapshotPath: (p) => `/snapshot/${p}.jpg`,
  subscriptionStyle: 'path',
  subscriptionPath: (id) => `/onvif/events/sub_pull_session_${id}`, // address shape from eyetowers/gonvif#1
  advertisesPullPoint: true,
  unknownSubscriptionFault: terResourceUnknown,
  topics: [
    motionAlarm('VideoSource_1'),
    fieldDetector({ ...genericRule, rule: 'FieldDetector1' }),
    lineCrossed({ ...genericRule, rule: 'LineDetector1' }),
    tamperDetector({ ...genericRule, rule: 'TamperDetector1' }),
    digitalInput('DigitalInput_1'),
  ],
  actions: {
    motion: ['tns1:VideoSource/MotionAlarm'],
    doorbell: ['tns1:Device/Trigger/DigitalInput'],
    line: ['tns1:RuleEngine/LineDetector/Crossed'],
    person: ['tns1:RuleEngine/FieldDetector/ObjectsInside'],
    tamper: ['tns1:RuleEngine/TamperDetector/Tamper'],
  },
  message: { dialect: CONCRETE_SET, timeFractionDigits: 0 },
};

export const PERSONALITIES: Record<Vendor, Personality> = { hikvision, dahua, axis, reolink, generic };

export function topicSpec(p: Personality, topic: string): TopicSpec {
  const spec = p.topics.find((t) => t.topic === topic);
  if (!spec) {
    throw new Error(`personality ${p.vendor} lists no topic ${topic}`);
  }
  return spec;
}
