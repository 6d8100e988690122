// ONVIF Events service (tev + WS-BaseNotification) operations: properties, pull points, long-poll pulls.
import { child, escapeXml, find } from '../../src/onvif/xml';
import { CameraContext, SoapCall, SoapHandler, SoapReply, cameraNow } from './context';
import { isoUtc, parseDuration } from './clock';
import { Subscription } from './events';
import { parseTopicFilter, renderTopicSet } from './messages';
import { pushSubscriptionOf, renewPush, subscribe, synchronizePush, unsubscribePush } from './push';
import { terminationFrom } from './termination';
import { SoapFault, invalidArgVal } from './soap';

export const MAX_SUBSCRIPTIONS = 10;        // real cameras cap pull points (one reports MaxPullPoints 8: eyetowers/gonvif#1)
export const QUEUE_LIMIT = 100;             // per subscription; oldest dropped beyond it
const MAX_PULL_WAIT_MS = 10 * 60_000;       // bound on a long-poll whatever Timeout says
const DEFAULT_MESSAGE_LIMIT = 100;
const MAX_MESSAGE_LIMIT = 1024;

const AXIS_EVENT_NS = 'http://www.axis.com/2009/event';
const TEV = 'http://www.onvif.org/ver10/events/wsdl';
const BW2 = 'http://docs.oasis-open.org/wsn/bw-2';

export function eventServiceCapabilities(camera: CameraContext): string {
  return `<tev:Capabilities WSSubscriptionPolicySupport="false" WSPullPointSupport="${camera.personality.advertisesPullPoint}" ` +
    'WSPausableSubscriptionManagerInterfaceSupport="false" MaxNotificationProducers="0" ' +
    `MaxPullPoints="${camera.pullPoints.maxSubscriptions}" PersistentNotificationStorage="false"/>`;
}

function getServiceCapabilities({ camera }: SoapCall): SoapReply {
  return { body: `<tev:GetServiceCapabilitiesResponse>${eventServiceCapabilities(camera)}</tev:GetServiceCapabilitiesResponse>`,
    action: `${TEV}/EventPortType/GetServiceCapabilitiesResponse` };
}

function getEventProperties({ camera }: SoapCall): SoapReply {
  return {
    body: '<tev:GetEventPropertiesResponse>' +
      '<tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml</tev:TopicNamespaceLocation>' +
      '<wsnt:FixedTopicSet>true</wsnt:FixedTopicSet>' + renderTopicSet(camera.personality) +
      '<wsnt:TopicExpressionDialect>http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet</wsnt:TopicExpressionDialect>' +
      '<wsnt:TopicExpressionDialect>http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete</wsnt:TopicExpressionDialect>' +
      '<tev:MessageContentFilterDialect>http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter</tev:MessageContentFilterDialect>' +
      '<tev:MessageContentSchemaLocation>http://www.onvif.org/onvif/ver10/schema/onvif.xsd</tev:MessageContentSchemaLocation>' +
      '</tev:GetEventPropertiesResponse>',
    action: `${TEV}/EventPortType/GetEventPropertiesResponse`,
  };
}

function times(camera: CameraContext, sub: Subscription, prefix: string): string {
  return `<${prefix}:CurrentTime>${isoUtc(cameraNow(camera))}</${prefix}:CurrentTime>` +
    `<${prefix}:TerminationTime>${isoUtc(sub.terminationAt + camera.clockSkewMs)}</${prefix}:TerminationTime>`;
}

function createPullPointSubscription({ camera, request }: SoapCall): SoapReply {
  const op = request.operation;
  const terminationAt = terminationFrom(camera, child(op, 'InitialTerminationTime')?.text,
    'UnacceptableInitialTerminationTimeFault');
  const expression = find(child(op, 'Filter'), 'TopicExpression')?.text;
  const filter = expression ? parseTopicFilter(expression) : undefined;
  const p = camera.personality;
  const createdAt = cameraNow(camera);
  const sub = camera.pullPoints.create((id) => p.subscriptionPath(id, createdAt), terminationAt, filter,
    camera.initializedStates());
  if (!sub) {
    // No fault is defined for "too many pull points" (onvif/specs#592); WS-BaseNotification's is the closest.
    throw new SoapFault('Receiver', ['wsntw:UnableToCreatePullPointFault'],
      `Maximum number of pull points (${camera.pullPoints.maxSubscriptions}) reached`);
  }
  const reference = p.subscriptionStyle === 'reference'
    ? `<wsa:ReferenceParameters><dom0:SubscriptionId xmlns:dom0="${AXIS_EVENT_NS}">${sub.id}</dom0:SubscriptionId>` +
      '</wsa:ReferenceParameters>'
    : '';
  return {
    body: '<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>' +
      `<wsa:Address>${escapeXml(camera.baseUrl + sub.path)}</wsa:Address>${reference}</tev:SubscriptionReference>` +
      `${times(camera, sub, 'wsnt')}</tev:CreatePullPointSubscriptionResponse>`,
    action: `${TEV}/EventPortType/CreatePullPointSubscriptionResponse`,
  };
}

/** The subscription a request addresses, by URL or (Axis) by the echoed reference parameter. */
function subscriptionOf({ camera, request, url }: SoapCall): Subscription {
  const p = camera.personality;
  let sub: Subscription | undefined;
  if (p.subscriptionStyle === 'reference') {
    const id = find(request.header, 'SubscriptionId')?.text.trim();
    if (!id) {
      // Without the echoed reference parameter Axis cannot tell pull points apart and rejects the call.
      throw new SoapFault('Sender', ['ter:InvalidArgs'], 'SubscriptionId reference parameter missing');
    }
    sub = /^\d+$/.test(id) ? camera.pullPoints.byId(Number(id)) : undefined;
  } else {
    sub = camera.pullPoints.byPath(url.pathname + url.search);
  }
  if (!sub) {
    throw p.unknownSubscriptionFault();
  }
  return sub;
}

async function pullMessages(call: SoapCall): Promise<SoapReply> {
  const { camera, request } = call;
  const sub = subscriptionOf(call);
  const timeoutText = child(request.operation, 'Timeout')?.text;
  const waitMs = timeoutText === undefined ? undefined : parseDuration(timeoutText);
  if (waitMs === undefined) {
    throw invalidArgVal('InvalidTimeout', 'PullMessages Timeout missing or not an xs:duration');
  }
  const limitText = child(request.operation, 'MessageLimit')?.text;
  const limit = limitText === undefined ? DEFAULT_MESSAGE_LIMIT : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1) {
    throw invalidArgVal('InvalidMessageLimit', 'PullMessages MessageLimit must be a positive integer');
  }
  const result = await camera.pullPoints.pull(sub, Math.min(waitMs, MAX_PULL_WAIT_MS),
    Math.min(limit, MAX_MESSAGE_LIMIT), call.signal);
  if (result.kind === 'gone') {
    throw camera.personality.unknownSubscriptionFault();
  }
  return {
    body: `<tev:PullMessagesResponse>${times(camera, sub, 'tev')}${result.messages.map((m) => m.xml).join('')}` +
      '</tev:PullMessagesResponse>',
    action: `${TEV}/PullPointSubscription/PullMessagesResponse`,
  };
}

function renew(call: SoapCall): SoapReply {
  const push = pushSubscriptionOf(call);
  if (push) {
    return renewPush(call, push);
  }
  const { camera, request } = call;
  const sub = subscriptionOf(call);
  const at = terminationFrom(camera, child(request.operation, 'TerminationTime')?.text,
    'UnacceptableTerminationTimeFault');
  camera.pullPoints.renew(sub, at);
  return {
    body: `<wsnt:RenewResponse><wsnt:TerminationTime>${isoUtc(sub.terminationAt + camera.clockSkewMs)}</wsnt:TerminationTime>` +
      `<wsnt:CurrentTime>${isoUtc(cameraNow(camera))}</wsnt:CurrentTime></wsnt:RenewResponse>`,
    action: `${BW2}/SubscriptionManager/RenewResponse`,
  };
}

function unsubscribe(call: SoapCall): SoapReply {
  const push = pushSubscriptionOf(call);
  if (push) {
    return unsubscribePush(call, push);
  }
  call.camera.pullPoints.unsubscribe(subscriptionOf(call));
  return { body: '<wsnt:UnsubscribeResponse/>', action: `${BW2}/SubscriptionManager/UnsubscribeResponse` };
}

function setSynchronizationPoint(call: SoapCall): SoapReply {
  const push = pushSubscriptionOf(call);
  if (push) {
    return synchronizePush(call, push);
  }
  const sub = subscriptionOf(call);
  call.camera.pullPoints.requeue(sub, call.camera.initializedStates());
  return { body: '<tev:SetSynchronizationPointResponse/>',
    action: `${TEV}/PullPointSubscription/SetSynchronizationPointResponse` };
}

export const EVENT_OPERATIONS: Record<string, { handler: SoapHandler; preAuth: boolean }> = {
  GetServiceCapabilities: { handler: getServiceCapabilities, preAuth: false },
  GetEventProperties: { handler: getEventProperties, preAuth: false },
  CreatePullPointSubscription: { handler: createPullPointSubscription, preAuth: false },
  PullMessages: { handler: pullMessages, preAuth: false },
  SetSynchronizationPoint: { handler: setSynchronizationPoint, preAuth: false },
};

/** WS-BaseNotification operations (wsnt namespace): Subscribe (push, push.ts) and the subscription manager's. */
export const SUBSCRIPTION_MANAGER_OPERATIONS: Record<string, { handler: SoapHandler; preAuth: boolean }> = {
  Subscribe: { handler: subscribe, preAuth: false },
  Renew: { handler: renew, preAuth: false },
  Unsubscribe: { handler: unsubscribe, preAuth: false },
};
