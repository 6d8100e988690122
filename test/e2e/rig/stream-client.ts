// The controller side of a HomeKit live stream, for tests: reads what a CameraRTPStreamManagement service offers,
// negotiates a session the way the Home app does (SetupEndpoints write + read, then SelectedRTPStreamConfiguration
// START / RECONFIGURE / END), receives the SRTP video and audio on UDP sockets it owns on 127.0.0.1, authenticates and
// decrypts every packet itself (RFC 3711), reassembles H.264 access units to time the first decodable keyframe, and
// sends SRTCP receiver reports from the same sockets every 0.5 s as iOS does (an accessory may stop a stream without them).
// This file is the client (capabilities, SetupEndpoints, opening a session); the pieces it uses are modules of their own:
// tlv8, stream-capabilities, srtp, h264-assembler, srtp-receiver, stream-session, stream-clock.
import { randomBytes } from 'node:crypto';
import type { CharacteristicRef, HapClient } from './hap-client';
import { ServiceType, ServiceView } from './hap-model';
import { randomSrtpKeys } from './srtp';
import type { SrtpKeys } from './srtp';
import { SrtpReceiver } from './srtp-receiver';
import type { ReceiverOptions } from './srtp-receiver';
import { Chr, decodeStreamingStatus, decodeSupportedAudio, decodeSupportedRtp, decodeSupportedVideo, SetupStatus, SrtpSuite } from './stream-capabilities';
import type { StreamCapabilities } from './stream-capabilities';
import { streamNow } from './stream-clock';
import { decodeSetupAnswer, StreamSession } from './stream-session';
import type { WriteResult } from './stream-session';
import { encodeTlv, u16le } from './tlv8';

// The rig's stream pieces, one module each; importers take them from here (or from the rig's index).
export * from './tlv8';
export * from './stream-capabilities';
export * from './srtp';
export * from './h264-assembler';
export * from './srtp-receiver';
export * from './stream-session';
export * from './stream-clock';

export interface SetupOptions {
  /** Our keys (random by default). */
  videoKeys?: SrtpKeys;
  audioKeys?: SrtpKeys;
  receiver?: ReceiverOptions;
}

/** The characteristics of one CameraRTPStreamManagement service. */
export interface StreamManagementRefs {
  serviceIid: number;
  supportedVideo: CharacteristicRef;
  supportedAudio: CharacteristicRef;
  supportedRtp: CharacteristicRef;
  setupEndpoints: CharacteristicRef;
  selected: CharacteristicRef;
  streamingStatus: CharacteristicRef;
  active?: CharacteristicRef;
}

/** A HomeKit controller's view of one camera stream (one CameraRTPStreamManagement service of an accessory). */
export class CameraStreamClient {
  private cachedCapabilities: StreamCapabilities | undefined;

  private constructor(readonly hap: HapClient, readonly aid: number, readonly refs: StreamManagementRefs) {}

  /** Find the accessory's stream-management services (ordered by iid) and use the one at streamIndex (default 0). */
  static async open(hap: HapClient, aid: number, options: { streamIndex?: number } = {}): Promise<CameraStreamClient> {
    const list = await hap.accessories();
    const accessory = list.byAid(aid);
    if (!accessory) {
      throw new Error(`no accessory with aid ${aid}; there are ${list.all.map((a) => a.aid).join(', ')}`);
    }
    const services = accessory.servicesOfType(ServiceType.CameraRTPStreamManagement).sort((a, b) => a.iid - b.iid);
    const index = options.streamIndex ?? 0;
    const service = services[index];
    if (!service) {
      throw new Error(`accessory ${aid} has ${services.length} CameraRTPStreamManagement service(s), no index ${index}`);
    }
    const ref = (s: ServiceView, type: string): CharacteristicRef => ({ aid, iid: s.requireCharacteristic(type).iid });
    const active = service.characteristic(Chr.Active);
    return new CameraStreamClient(hap, aid, {
      serviceIid: service.iid,
      supportedVideo: ref(service, Chr.SupportedVideo),
      supportedAudio: ref(service, Chr.SupportedAudio),
      supportedRtp: ref(service, Chr.SupportedRtp),
      setupEndpoints: ref(service, Chr.SetupEndpoints),
      selected: ref(service, Chr.Selected),
      streamingStatus: ref(service, Chr.StreamingStatus),
      active: active ? { aid, iid: active.iid } : undefined,
    });
  }

  /** What the service offers (read once, then cached; refresh to read again). */
  async capabilities(refresh = false): Promise<StreamCapabilities> {
    if (this.cachedCapabilities && !refresh) {
      return this.cachedCapabilities;
    }
    const r = this.refs;
    const values = await this.hap.read([r.supportedVideo, r.supportedAudio, r.supportedRtp]);
    const value = (ref: CharacteristicRef): unknown => values.get(`${ref.aid}.${ref.iid}`);
    const audio = decodeSupportedAudio(value(r.supportedAudio));
    this.cachedCapabilities = {
      video: decodeSupportedVideo(value(r.supportedVideo)),
      audio: audio.codecs,
      comfortNoise: audio.comfortNoise,
      cryptoSuites: decodeSupportedRtp(value(r.supportedRtp)),
    };
    return this.cachedCapabilities;
  }

  /** StreamingStatus: 0 available, 1 in use, 2 unavailable. */
  async streamingStatus(): Promise<number> {
    return decodeStreamingStatus(await this.hap.readValue(this.refs.streamingStatus));
  }

  /**
   * Bind our video and audio ports on the controller's own address (127.0.0.1, or ::1 for an IPv6 controller), write
   * SetupEndpoints as iOS does (new session id, that address with its version (0 IPv4, 1 IPv6) and the ports, AES_CM_128_HMAC_SHA1_80 key + salt per medium), read the answer back. A busy/error answer still returns a
   * session (check `ok` / `answer.status`); a rejected write throws.
   */
  async setup(options: SetupOptions = {}): Promise<StreamSession> {
    const videoKeys = options.videoKeys ?? randomSrtpKeys();
    const audioKeys = options.audioKeys ?? randomSrtpKeys();
    const host = this.hap.host;
    const video = await SrtpReceiver.bind('video', videoKeys, options.receiver, host);
    const audio = await SrtpReceiver.bind('audio', audioKeys, options.receiver, host).catch((err: Error) => {
      video.close();
      throw err;
    });
    try {
      const sessionId = randomBytes(16);
      const srtp = (keys: SrtpKeys): Buffer => encodeTlv([[1, SrtpSuite.AesCm128HmacSha1_80], [2, keys.key], [3, keys.salt]]);
      const request = encodeTlv([
        [1, sessionId],
        [3, encodeTlv([[1, host.includes(':') ? 1 : 0], [2, Buffer.from(host)], [3, u16le(video.port)], [4, u16le(audio.port)]])],
        [4, srtp(videoKeys)],
        [5, srtp(audioKeys)],
      ]).toString('base64');
      const sentAt = streamNow();
      const written = await this.hap.writeWithStatus(this.refs.setupEndpoints, request);
      if (written.status !== 0) {
        throw new Error(`SetupEndpoints write refused with HAP status ${written.status}`);
      }
      // Like iOS: write, then read the answer back (HAP-NodeJS does not put it in a write response).
      const raw = await this.hap.readValue(this.refs.setupEndpoints);
      const answeredAt = streamNow();
      const answer = decodeSetupAnswer(raw);
      if (answer.status === SetupStatus.Success && !answer.sessionId.equals(sessionId)) {
        throw new Error(`SetupEndpoints answered for session ${answer.sessionId.toString('hex')}, not ours (${sessionId.toString('hex')})`);
      }
      if (answer.status === SetupStatus.Success) {
        video.setAccessory(answer.videoSrtp, { address: answer.address ?? host, port: answer.videoPort ?? 0 });
        audio.setAccessory(answer.audioSrtp, { address: answer.address ?? host, port: answer.audioPort ?? 0 });
      }
      return new StreamSession(this, sessionId, video, audio, answer, { sentAt, answeredAt });
    } catch (err) {
      video.close();
      audio.close();
      throw err;
    }
  }

  /** @internal SelectedRTPStreamConfiguration write with timing; throws on a non-zero status unless allowFailure. */
  async writeSelected(value: Buffer, command: number, allowFailure = false): Promise<WriteResult> {
    const sentAt = streamNow();
    const { status } = await this.hap.writeWithStatus(this.refs.selected, value.toString('base64'));
    const result = { command, status, sentAt, answeredAt: streamNow() };
    if (status !== 0 && !allowFailure) {
      throw new Error(`SelectedRTPStreamConfiguration command ${command} refused with HAP status ${status}`);
    }
    return result;
  }
}
