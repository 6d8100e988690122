// ONVIF Media service (ver10 trt) operations: profiles, stream and snapshot URIs.
import { child, escapeXml } from '../../src/onvif/xml';
import { CameraContext, SoapCall, SoapHandler, SoapReply } from './context';
import { ProfileName } from './personalities';
import { SoapFault } from './soap';
import { AUDIO_ENCODER } from './stream-profiles';

const PROFILE_NAMES: ProfileName[] = ['main', 'sub'];

export function mediaServiceCapabilities(): string {
  return '<trt:Capabilities SnapshotUri="true" Rotation="false" VideoSourceMode="false" OSD="false">' +
    '<trt:ProfileCapabilities MaximumNumberOfProfiles="2"/>' +
    '<trt:StreamingCapabilities RTPMulticast="false" RTP_TCP="true" RTP_RTSP_TCP="true" NonAggregateControl="false"/>' +
    '</trt:Capabilities>';
}

const MULTICAST = '<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address>' +
  '</tt:Address><tt:Port>0</tt:Port><tt:TTL>1</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>';

/** One trt:Profiles element; the numbers come from the media side's PROFILES (camera.streams). */
function profileXml(camera: CameraContext, which: ProfileName, element: string): string {
  const p = camera.personality;
  const ident = p.profiles[which];
  const s = camera.streams[which];
  const main = camera.streams.main;
  const n = which === 'main' ? 1 : 2;
  const audio = camera.audio
    ? '<tt:AudioSourceConfiguration token="AudioSourceConfigToken"><tt:Name>AudioSourceConfig</tt:Name>' +
      '<tt:UseCount>2</tt:UseCount><tt:SourceToken>AudioSource_1</tt:SourceToken></tt:AudioSourceConfiguration>'
    : '';
  const audioEncoder = camera.audio
    ? `<tt:AudioEncoderConfiguration token="AudioEncoderToken_${n}"><tt:Name>AudioEncoder_${n}</tt:Name>` +
      `<tt:UseCount>1</tt:UseCount><tt:Encoding>${AUDIO_ENCODER.encoding}</tt:Encoding>` +
      `<tt:Bitrate>${AUDIO_ENCODER.bitrateKbps}</tt:Bitrate><tt:SampleRate>${AUDIO_ENCODER.sampleRateKHz}</tt:SampleRate>` +
      `${MULTICAST}<tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:AudioEncoderConfiguration>`
    : '';
  return `<${element} token="${escapeXml(ident.token)}" fixed="true"><tt:Name>${escapeXml(ident.name)}</tt:Name>` +
    `<tt:VideoSourceConfiguration token="${escapeXml(p.videoSourceConfigToken)}"><tt:Name>VideoSourceConfig</tt:Name>` +
    `<tt:UseCount>2</tt:UseCount><tt:SourceToken>${escapeXml(p.videoSourceToken)}</tt:SourceToken>` +
    `<tt:Bounds x="0" y="0" width="${main.width}" height="${main.height}"/></tt:VideoSourceConfiguration>` +
    audio +
    `<tt:VideoEncoderConfiguration token="VideoEncoderToken_${n}"><tt:Name>VideoEncoder_${n}</tt:Name>` +
    '<tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>' +
    `<tt:Resolution><tt:Width>${s.width}</tt:Width><tt:Height>${s.height}</tt:Height></tt:Resolution>` +
    '<tt:Quality>3</tt:Quality>' +
    `<tt:RateControl><tt:FrameRateLimit>${s.fps}</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval>` +
    `<tt:BitrateLimit>${s.bitrateKbps}</tt:BitrateLimit></tt:RateControl>` +
    `<tt:H264><tt:GovLength>${s.gopFrames}</tt:GovLength><tt:H264Profile>${s.h264Profile}</tt:H264Profile></tt:H264>` +
    `${MULTICAST}<tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration>` +
    audioEncoder + `</${element}>`;
}

function profileByToken(camera: CameraContext, token: string | undefined): ProfileName {
  const found = PROFILE_NAMES.find((n) => camera.personality.profiles[n].token === token?.trim());
  if (!found) {
    throw new SoapFault('Sender', ['ter:InvalidArgVal', 'ter:NoProfile'], 'The requested profile token does not exist');
  }
  return found;
}

function getProfiles({ camera }: SoapCall): SoapReply {
  const profiles = PROFILE_NAMES.map((n) => profileXml(camera, n, 'trt:Profiles')).join('');
  return { body: `<trt:GetProfilesResponse>${profiles}</trt:GetProfilesResponse>` };
}

function getProfile({ camera, request }: SoapCall): SoapReply {
  const which = profileByToken(camera, child(request.operation, 'ProfileToken')?.text);
  return { body: `<trt:GetProfileResponse>${profileXml(camera, which, 'trt:Profile')}</trt:GetProfileResponse>` };
}

function getVideoSources({ camera }: SoapCall): SoapReply {
  const main = camera.streams.main;
  return { body: `<trt:GetVideoSourcesResponse><trt:VideoSources token="${escapeXml(camera.personality.videoSourceToken)}">` +
    `<tt:Framerate>${main.fps}</tt:Framerate><tt:Resolution><tt:Width>${main.width}</tt:Width>` +
    `<tt:Height>${main.height}</tt:Height></tt:Resolution></trt:VideoSources></trt:GetVideoSourcesResponse>` };
}

function mediaUri(element: string, uri: string): string {
  return `<${element}><trt:MediaUri><tt:Uri>${escapeXml(uri)}</tt:Uri>` +
    '<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>' +
    `<tt:Timeout>PT60S</tt:Timeout></trt:MediaUri></${element}>`;
}

function getStreamUri({ camera, request }: SoapCall): SoapReply {
  const which = profileByToken(camera, child(request.operation, 'ProfileToken')?.text);
  return { body: mediaUri('trt:GetStreamUriResponse', camera.streamUri(which)) };
}

function getSnapshotUri({ camera, request }: SoapCall): SoapReply {
  const which = profileByToken(camera, child(request.operation, 'ProfileToken')?.text);
  return { body: mediaUri('trt:GetSnapshotUriResponse', camera.baseUrl + camera.personality.snapshotPath(which)) };
}

function getServiceCapabilities(): SoapReply {
  return { body: `<trt:GetServiceCapabilitiesResponse>${mediaServiceCapabilities()}</trt:GetServiceCapabilitiesResponse>` };
}

export const MEDIA_OPERATIONS: Record<string, { handler: SoapHandler; preAuth: boolean }> = {
  GetProfiles: { handler: getProfiles, preAuth: false },
  GetProfile: { handler: getProfile, preAuth: false },
  GetVideoSources: { handler: getVideoSources, preAuth: false },
  GetStreamUri: { handler: getStreamUri, preAuth: false },
  GetSnapshotUri: { handler: getSnapshotUri, preAuth: false },
  GetServiceCapabilities: { handler: getServiceCapabilities, preAuth: false },
};
