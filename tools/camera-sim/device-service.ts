// ONVIF Device service (ver10 tds) operations of a simulated camera.
import { child, children, escapeXml } from '../../src/onvif/xml';
import { CameraContext, SoapCall, SoapHandler, SoapReply, cameraNow } from './context';
import { NS, SoapFault } from './soap';
import { mediaServiceCapabilities } from './media-service';
import { eventServiceCapabilities } from './events-service';

const ONVIF_VERSION = { major: 2, minor: 60 };

function xaddr(camera: CameraContext, path: string): string {
  return escapeXml(camera.baseUrl + path);
}

function dateTimeXml(element: string, ms: number): string {
  const d = new Date(ms);
  return `<tt:${element}><tt:Time><tt:Hour>${d.getUTCHours()}</tt:Hour><tt:Minute>${d.getUTCMinutes()}</tt:Minute>` +
    `<tt:Second>${d.getUTCSeconds()}</tt:Second></tt:Time><tt:Date><tt:Year>${d.getUTCFullYear()}</tt:Year>` +
    `<tt:Month>${d.getUTCMonth() + 1}</tt:Month><tt:Day>${d.getUTCDate()}</tt:Day></tt:Date></tt:${element}>`;
}

function getSystemDateAndTime({ camera }: SoapCall): SoapReply {
  const now = cameraNow(camera);
  // A camera whose clock is off evidently is not NTP-synchronised; the simulated ones live in UTC.
  const type = camera.clockSkewMs === 0 ? 'NTP' : 'Manual';
  return { body: '<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>' +
    `<tt:DateTimeType>${type}</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>` +
    '<tt:TimeZone><tt:TZ>GMT0</tt:TZ></tt:TimeZone>' + dateTimeXml('UTCDateTime', now) + dateTimeXml('LocalDateTime', now) +
    '</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>' };
}

// ONVIF Core 8.3.6 SetSystemDateAndTime: Manual type with UTCDateTime sets the clock; NTP would leave it to the NTP client.
function setSystemDateAndTime({ camera, request }: SoapCall): SoapReply {
  const op = request.operation;
  const utc = child(op, 'UTCDateTime');
  const n = (parent: string, name: string): number => Number(child(child(utc, parent), name)?.text);
  const ms = Date.UTC(n('Date', 'Year'), n('Date', 'Month') - 1, n('Date', 'Day'), n('Time', 'Hour'), n('Time', 'Minute'), n('Time', 'Second'));
  if (child(op, 'DateTimeType')?.text.trim() !== 'Manual' || !Number.isFinite(ms)) {
    throw new SoapFault('Sender', ['ter:InvalidArgVal', 'ter:InvalidDateTime'], 'Manual time with a valid UTCDateTime expected');
  }
  camera.setClock(ms);
  return { body: '<tds:SetSystemDateAndTimeResponse/>' };
}

const CATEGORIES = ['All', 'Analytics', 'Device', 'Events', 'Imaging', 'Media', 'PTZ'];

function getCapabilities({ camera, request }: SoapCall): SoapReply {
  const requested = children(request.operation, 'Category').map((c) => c.text.trim());
  const wanted = requested.length === 0 ? ['All'] : requested;
  for (const c of wanted) {
    if (!CATEGORIES.includes(c) || c === 'PTZ' || c === 'Analytics') {
      throw new SoapFault('Receiver', ['ter:ActionNotSupported', 'ter:NoSuchService'], `No ${c} service`);
    }
  }
  const has = (c: string): boolean => wanted.includes('All') || wanted.includes(c);
  const p = camera.personality;
  let caps = '';
  if (has('Device')) {
    caps += `<tt:Device><tt:XAddr>${xaddr(camera, p.paths.device)}</tt:XAddr>` +
      '<tt:Network><tt:IPFilter>false</tt:IPFilter><tt:ZeroConfiguration>false</tt:ZeroConfiguration>' +
      '<tt:IPVersion6>false</tt:IPVersion6><tt:DynDNS>false</tt:DynDNS></tt:Network>' +
      '<tt:System><tt:DiscoveryResolve>false</tt:DiscoveryResolve><tt:DiscoveryBye>true</tt:DiscoveryBye>' +
      '<tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup>' +
      '<tt:SystemLogging>false</tt:SystemLogging><tt:FirmwareUpgrade>false</tt:FirmwareUpgrade>' +
      `<tt:SupportedVersions><tt:Major>${ONVIF_VERSION.major}</tt:Major><tt:Minor>${ONVIF_VERSION.minor}</tt:Minor>` +
      '</tt:SupportedVersions></tt:System>' +
      '<tt:IO><tt:InputConnectors>1</tt:InputConnectors><tt:RelayOutputs>1</tt:RelayOutputs></tt:IO>' +
      '<tt:Security><tt:TLS1.1>false</tt:TLS1.1><tt:TLS1.2>false</tt:TLS1.2>' +
      '<tt:OnboardKeyGeneration>false</tt:OnboardKeyGeneration><tt:AccessPolicyConfig>false</tt:AccessPolicyConfig>' +
      '<tt:X.509Token>false</tt:X.509Token><tt:SAMLToken>false</tt:SAMLToken>' +
      '<tt:KerberosToken>false</tt:KerberosToken><tt:RELToken>false</tt:RELToken></tt:Security></tt:Device>';
  }
  if (has('Events')) {
    caps += `<tt:Events><tt:XAddr>${xaddr(camera, p.paths.events)}</tt:XAddr>` +
      '<tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>' +
      `<tt:WSPullPointSupport>${p.advertisesPullPoint}</tt:WSPullPointSupport>` +
      '<tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport>' +
      '</tt:Events>';
  }
  if (has('Imaging')) {
    caps += `<tt:Imaging><tt:XAddr>${xaddr(camera, p.paths.imaging)}</tt:XAddr></tt:Imaging>`;
  }
  if (has('Media')) {
    caps += `<tt:Media><tt:XAddr>${xaddr(camera, p.paths.media)}</tt:XAddr><tt:StreamingCapabilities>` +
      '<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP>' +
      '</tt:StreamingCapabilities></tt:Media>';
  }
  return { body: `<tds:GetCapabilitiesResponse><tds:Capabilities>${caps}</tds:Capabilities></tds:GetCapabilitiesResponse>` };
}

export function deviceServiceCapabilities(): string {
  return '<tds:Capabilities><tds:Network IPFilter="false" ZeroConfiguration="false" IPVersion6="false" DynDNS="false"/>' +
    '<tds:Security TLS1.0="false" TLS1.1="false" TLS1.2="false" OnboardKeyGeneration="false" ' +
    'AccessPolicyConfig="false" DefaultAccessPolicy="false" Dot1X="false" RemoteUserHandling="false" ' +
    'X.509Token="false" SAMLToken="false" KerberosToken="false" UsernameToken="true" HttpDigest="true" RELToken="false"/>' +
    '<tds:System DiscoveryResolve="false" DiscoveryBye="true" RemoteDiscovery="false" SystemBackup="false" ' +
    'SystemLogging="false" FirmwareUpgrade="false"/></tds:Capabilities>';
}

function getServices({ camera, request }: SoapCall): SoapReply {
  const include = (child(request.operation, 'IncludeCapability')?.text ?? 'false').trim() === 'true';
  const p = camera.personality;
  const version = `<tds:Version><tt:Major>${ONVIF_VERSION.major}</tt:Major><tt:Minor>${ONVIF_VERSION.minor}</tt:Minor></tds:Version>`;
  const services: [string, string, () => string][] = [
    [NS.tds, p.paths.device, deviceServiceCapabilities],
    [NS.trt, p.paths.media, () => mediaServiceCapabilities()],
    [NS.tev, p.paths.events, () => eventServiceCapabilities(camera)],
    [NS.timg, p.paths.imaging, () => '<timg:Capabilities ImageStabilization="false"/>'],
  ];
  const body = services.map(([ns, path, caps]) => `<tds:Service><tds:Namespace>${ns}</tds:Namespace>` +
    `<tds:XAddr>${xaddr(camera, path)}</tds:XAddr>` +
    (include ? `<tds:Capabilities>${caps()}</tds:Capabilities>` : '') + `${version}</tds:Service>`).join('');
  return { body: `<tds:GetServicesResponse>${body}</tds:GetServicesResponse>` };
}

function getServiceCapabilities(): SoapReply {
  return { body: `<tds:GetServiceCapabilitiesResponse>${deviceServiceCapabilities()}</tds:GetServiceCapabilitiesResponse>` };
}

function getDeviceInformation({ camera }: SoapCall): SoapReply {
  const i = camera.info;
  return { body: '<tds:GetDeviceInformationResponse>' +
    `<tds:Manufacturer>${escapeXml(i.manufacturer)}</tds:Manufacturer><tds:Model>${escapeXml(i.model)}</tds:Model>` +
    `<tds:FirmwareVersion>${escapeXml(i.firmware)}</tds:FirmwareVersion>` +
    `<tds:SerialNumber>${escapeXml(i.serial)}</tds:SerialNumber><tds:HardwareId>${escapeXml(i.hardwareId)}</tds:HardwareId>` +
    '</tds:GetDeviceInformationResponse>' };
}

function getScopes({ camera }: SoapCall): SoapReply {
  const scopes: [string, string][] = [
    ['Fixed', 'onvif://www.onvif.org/type/video_encoder'],
    ['Fixed', 'onvif://www.onvif.org/type/audio_encoder'],
    ['Fixed', 'onvif://www.onvif.org/Profile/Streaming'],
    ['Fixed', 'onvif://www.onvif.org/Profile/T'],
    ['Fixed', `onvif://www.onvif.org/hardware/${encodeURIComponent(camera.info.model)}`],
    ['Configurable', `onvif://www.onvif.org/name/${encodeURIComponent(camera.name)}`],
    ['Configurable', 'onvif://www.onvif.org/location/city/courtyard'],
  ];
  const body = scopes.map(([def, item]) =>
    `<tds:Scopes><tt:ScopeDef>${def}</tt:ScopeDef><tt:ScopeItem>${escapeXml(item)}</tt:ScopeItem></tds:Scopes>`).join('');
  return { body: `<tds:GetScopesResponse>${body}</tds:GetScopesResponse>` };
}

function getNetworkInterfaces({ camera }: SoapCall): SoapReply {
  return { body: '<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="eth0">' +
    '<tt:Enabled>true</tt:Enabled><tt:Info><tt:Name>eth0</tt:Name>' +
    `<tt:HwAddress>${camera.info.mac}</tt:HwAddress><tt:MTU>1500</tt:MTU></tt:Info>` +
    '<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config><tt:Manual><tt:Address>127.0.0.1</tt:Address>' +
    '<tt:PrefixLength>8</tt:PrefixLength></tt:Manual><tt:DHCP>false</tt:DHCP></tt:Config></tt:IPv4>' +
    '</tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>' };
}

/** Operations by local name; `preAuth` = ONVIF Core access class PRE_AUTH (answered without credentials). */
export const DEVICE_OPERATIONS: Record<string, { handler: SoapHandler; preAuth: boolean }> = {
  GetSystemDateAndTime: { handler: getSystemDateAndTime, preAuth: true },
  GetCapabilities: { handler: getCapabilities, preAuth: true },
  GetServices: { handler: getServices, preAuth: true },
  GetServiceCapabilities: { handler: getServiceCapabilities, preAuth: true },
  GetDeviceInformation: { handler: getDeviceInformation, preAuth: false },
  GetScopes: { handler: getScopes, preAuth: false },
  GetNetworkInterfaces: { handler: getNetworkInterfaces, preAuth: false },
  SetSystemDateAndTime: { handler: setSystemDateAndTime, preAuth: false },
};
