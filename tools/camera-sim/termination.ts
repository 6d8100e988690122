// When a subscription (pull point or push) ends: the rules both event services apply to requested termination times.
import { parseTermination } from './clock';
import { CameraContext, cameraNow } from './context';
import { SoapFault } from './soap';

const DEFAULT_TERMINATION_MS = 60_000;      // when InitialTerminationTime/Renew TerminationTime is absent
const MAX_TERMINATION_MS = 24 * 3600_000;   // longer requests are clamped, as firmwares do

/** Real-clock termination instant from an xs:duration or camera-clock xs:dateTime (absent: the default). */
export function terminationFrom(camera: CameraContext, text: string | undefined, faultName: string): number {
  const now = cameraNow(camera);
  const at = text === undefined || text.trim() === '' ? now + DEFAULT_TERMINATION_MS : parseTermination(text, now);
  if (at === undefined || at <= now) {
    throw new SoapFault('Sender', [`wsnt:${faultName}`], 'Unacceptable termination time');
  }
  return Math.min(at, now + MAX_TERMINATION_MS) - camera.clockSkewMs;
}
