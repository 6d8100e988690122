// Shared steps of the simulator tests: credentials, pull-point subscription, bounded waiting.
import { child, find } from '../../../src/onvif/xml';
import type { SimCamera } from '../../../tools/camera-sim';
import { Credentials, SoapResult, ops, soap } from './soap-client';

export function credsOf(cam: SimCamera, offsetMs = 0): Credentials {
  return { username: cam.username, password: cam.password, offsetMs };
}

export function eventsUrl(cam: SimCamera, path = '/onvif/event_service'): string {
  return `http://127.0.0.1:${cam.port}${path}`;
}

export interface PullPoint {
  address: string;
  header: string;        // echoed reference parameters (Axis), else ''
  create: SoapResult;
}

/** CreatePullPointSubscription and what a client must send back to reach it. */
export async function subscribe(cam: SimCamera, termination = 'PT60S', filter?: string): Promise<PullPoint> {
  const create = await soap(`${cam.deviceUrl.replace(/\/onvif\/.*$/, '')}/onvif/events_service`,
    ops.createPullPoint(termination, filter), { auth: credsOf(cam) });
  if (create.status !== 200) {
    throw new Error(`CreatePullPointSubscription failed ${create.status}: ${create.text.slice(0, 300)}`);
  }
  const ref = child(create.payload, 'SubscriptionReference');
  const address = child(ref, 'Address')?.text.trim() ?? '';
  const id = find(child(ref, 'ReferenceParameters'), 'SubscriptionId');
  const header = id ? `<dom0:SubscriptionId xmlns:dom0="http://www.axis.com/2009/event">${id.text}</dom0:SubscriptionId>` : '';
  return { address, header, create };
}

export function pull(cam: SimCamera, pp: PullPoint, timeout: string, limit: number): Promise<SoapResult> {
  return soap(pp.address, ops.pull(timeout, limit), { auth: credsOf(cam), header: pp.header });
}

export { until } from '../../e2e/rig/wait';

/** Camera clock minus ours, read the way a client does: GetSystemDateAndTime (pre-auth). */
export async function clockOffset(cam: SimCamera): Promise<number> {
  const res = await soap(cam.deviceUrl, '<tds:GetSystemDateAndTime/>');
  const utc = find(res.payload, 'UTCDateTime');
  const n = (a: string, b: string): number => Number(find(find(utc, a), b)?.text);
  const cameraMs = Date.UTC(n('Date', 'Year'), n('Date', 'Month') - 1, n('Date', 'Day'), n('Time', 'Hour'),
    n('Time', 'Minute'), n('Time', 'Second'));
  return cameraMs - Date.now();
}
