import {
  EARLY_EMPTY_PULL_FRACTION, EARLY_EMPTY_PULLS_LIMIT, PULL_HTTP_MARGIN_MS, PULL_MESSAGE_LIMIT, PULL_TIMEOUT_S,
  RENEW_BEFORE_END_MS, SUBSCRIPTION_REFRESH_MS, SUBSCRIPTION_S, UNSUBSCRIBE_TIMEOUT_MS,
} from '../settings';
import type { OnvifDevice } from './device';
import { CameraEventSource, endFrom, EventsLog, subscriptionFrom, WSN } from './event-source';
import { parseNotifications } from './notifications';
import { SoapError } from './soap';
import { textAt, XmlElement } from './xml';

export type { EventsLog } from './event-source';
// Older importers take the notification model from here; it lives in notifications.ts.
export type { RawNotification } from './notifications';

/**
 * The camera's PullPoint subscription, driven by us rather than by the `onvif` package (whose loop re-subscribes at once
 * after a fault and burns a core on cameras without PullPoint). One subscription at a time, long-poll pulls, renewals
 * well before the end, a fresh subscription after any fault with capped jittered backoff, and online/offline reports.
 *
 * Emits 'notification' (RawNotification), 'offline' (reason: string), 'online', 'subscribed'.
 */
export class PullPointEvents extends CameraEventSource {
  protected readonly label = 'events';
  private earlyEmptyPulls = 0;
  /** The camera stopped answering while we held a subscription, which we kept: resynchronise on it first. */
  private resumeAfterOutage = false;

  private readonly pullTimeoutS: number;
  private readonly pullMarginMs: number;

  /** `pull` shortens the long-poll and its reply margin (tests of a camera that stops answering). */
  constructor(device: OnvifDevice, log: EventsLog, random = Math.random, pull?: { timeoutS: number; marginMs: number }) {
    super(device, log, { random });
    this.pullTimeoutS = pull?.timeoutS ?? PULL_TIMEOUT_S;
    this.pullMarginMs = pull?.marginMs ?? PULL_HTTP_MARGIN_MS;
  }

  protected release(): Promise<void> {
    return this.unsubscribe();
  }

  protected async loop(): Promise<void> {
    while (this.running) {
      this.abort = new AbortController();
      try {
        if (!this.subscription || Date.now() - this.subscription.createdAt > SUBSCRIPTION_REFRESH_MS) {
          await this.unsubscribe();
          await this.subscribe();
        } else if (this.resumeAfterOutage) {
          // Back after an outage on the subscription it kept: ask for the current state (what changed meanwhile) — an
          // answer at once that shows the camera is back; a rebooted camera faults it and the next round subscribes.
          await this.synchronize();
          this.resumeAfterOutage = false;
          this.failures = 0;
          this.markOnline();
        }
        await this.pull();
        if (this.subscription && this.subscription.terminatesAt - Date.now() < RENEW_BEFORE_END_MS) {
          await this.renew();
        }
        this.failures = 0;
        this.markOnline();
      } catch (err) {
        if (!this.running) {
          break;
        }
        await this.recover(err);
      }
    }
  }

  private async subscribe(): Promise<void> {
    const url = this.device.urls.events ?? this.device.sameHost('http://x/onvif/event_service')!;
    let r: XmlElement;
    try {
      r = await this.device.request(url, '<tev:CreatePullPointSubscription>' +
        `<tev:InitialTerminationTime>PT${SUBSCRIPTION_S}S</tev:InitialTerminationTime></tev:CreatePullPointSubscription>`,
      { signal: this.abort?.signal });
    } catch (err) {
      await this.relearnClockAfter(err);
      throw err;
    }
    const subscription = subscriptionFrom(r, this.device);
    if (!subscription) {
      throw new SoapError('bad-reply', 'CreatePullPointSubscription answered no subscription address');
    }
    this.subscription = subscription;
    this.earlyEmptyPulls = 0;
    this.log.debug(`events: subscribed (${this.subscription.address})`);
    this.emit('subscribed');
    this.resumeAfterOutage = false;
    // Ask for the current state of every property now (ONVIF Core 9.6): otherwise a camera already in motion stays silent.
    await this.synchronize().catch((err: Error) => this.log.debug(`events: SetSynchronizationPoint refused (${err.message}); continuing`));
  }

  private synchronize(): Promise<XmlElement> {
    return this.call('<tev:SetSynchronizationPoint/>', 'http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/SetSynchronizationPointRequest');
  }

  private async pull(): Promise<void> {
    const started = Date.now();
    const r = await this.call(`<tev:PullMessages><tev:Timeout>PT${this.pullTimeoutS}S</tev:Timeout>` +
      `<tev:MessageLimit>${PULL_MESSAGE_LIMIT}</tev:MessageLimit></tev:PullMessages>`,
    'http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest', this.pullTimeoutS * 1000 + this.pullMarginMs);
    if (this.subscription && textAt(r, 'TerminationTime')) {
      this.subscription.terminatesAt = endFrom(r);
    }
    const notifications = parseNotifications(r);
    // A pull that comes back empty long before its timeout, again and again, is a subscription that no longer waits:
    // treat it as broken rather than spin.
    if (notifications.length === 0 && Date.now() - started < this.pullTimeoutS * 1000 * EARLY_EMPTY_PULL_FRACTION) {
      if (++this.earlyEmptyPulls >= EARLY_EMPTY_PULLS_LIMIT) {
        throw new SoapError('bad-reply', 'the camera answers pulls at once with nothing in them: subscription looks broken');
      }
    } else {
      this.earlyEmptyPulls = 0;
    }
    for (const n of notifications) {
      this.emit('notification', n);
    }
  }

  private async renew(): Promise<void> {
    await this.call(`<wsnt:Renew><wsnt:TerminationTime>PT${SUBSCRIPTION_S}S</wsnt:TerminationTime></wsnt:Renew>`,
      `${WSN}/SubscriptionManager/RenewRequest`);
    if (this.subscription) {
      this.subscription.terminatesAt = Date.now() + SUBSCRIPTION_S * 1000;
    }
  }

  private async unsubscribe(): Promise<void> {
    if (!this.subscription) {
      return;
    }
    const abort = this.abort;
    this.abort = new AbortController();
    await this.call('<wsnt:Unsubscribe/>', `${WSN}/SubscriptionManager/UnsubscribeRequest`, UNSUBSCRIBE_TIMEOUT_MS).catch(() => undefined);
    this.abort = abort;
    this.subscription = undefined;
  }

  protected keepThroughOutage(): void {
    // Kept while it has time left: a camera whose network dropped still holds it, and pulling on it afterwards resumes
    // without a second subscription (cameras allow few; a new one would sit beside the old until that expires). A camera
    // that rebooted answers the pull with a fault, and the next round subscribes afresh. An expiring one is let go.
    if (this.subscription && this.subscription.terminatesAt - Date.now() < RENEW_BEFORE_END_MS) {
      this.subscription = undefined;
    }
    this.resumeAfterOutage = this.subscription !== undefined;
  }

  protected dropAfterFailure(): Promise<void> {
    // Release the slot if the camera still holds it: cameras allow few subscriptions and ONVIF cannot list them.
    return this.unsubscribe();
  }
}
