import assert from 'node:assert/strict';
import { normaliseTopic, parseNotifications, RawNotification } from '../../src/onvif/notifications';
import { interpret } from '../../src/onvif/topics';
import { parseXml } from '../../src/onvif/xml';

const n = (topic: string, data: Record<string, string>, operation = 'Changed'): RawNotification => ({ topic, data, operation, source: {} });

describe('topics', () => {
  it('knows motion from the generic and the Hikvision-style topics', () => {
    assert.deepEqual(interpret(n('tns1:VideoSource/MotionAlarm', { State: 'true' })).map((e) => [e.kind, e.active]), [['motion', true]]);
    assert.deepEqual(interpret(n('tns1:RuleEngine/CellMotionDetector/Motion', { IsMotion: 'false' })).map((e) => [e.kind, e.active]), [['motion', false]]);
  });

  it('reads a digital input as a doorbell-class input and marks initial states', () => {
    const [e] = interpret(n('tns1:Device/Trigger/DigitalInput', { LogicalState: 'true' }, 'Initialized'));
    assert.equal(e.kind, 'input');
    assert.equal(e.active, true);
    assert.equal(e.initial, true);
  });

  it('treats a line crossing as momentary', () => {
    const [e] = interpret(n('tns1:RuleEngine/LineDetector/Crossed', { ObjectId: '7' }));
    assert.deepEqual([e.kind, e.active, e.momentary], ['line', true, true]);
  });

  it('splits a TP-Link smart event into person and vehicle', () => {
    const kinds = interpret(n('tns1:RuleEngine/TPSmartEventDetector/TPSmartEvent', { IsPeople: 'true', IsVehicle: 'false' }));
    assert.deepEqual(kinds.map((e) => [e.kind, e.active]), [['person', true], ['vehicle', false]]);
  });

  it('recognises image tamper topics under any service', () => {
    assert.equal(interpret(n('tns1:VideoSource/ImageTooDark/AnalyticsService', { State: 'true' }))[0].kind, 'tamper');
  });

  it('lets a user mapping re-purpose a topic', () => {
    const mapped = interpret(n('tns1:VideoSource/Alarm', { Alarm: 'Ring' }), [{ topic: 'tns1:VideoSource/Alarm', item: 'Alarm', value: 'Ring', kind: 'visitor' }]);
    assert.deepEqual(mapped.map((e) => [e.kind, e.active]), [['visitor', true]]);
    assert.deepEqual(interpret(n('tns1:VideoSource/Alarm', { Alarm: 'Other' }), [{ topic: 'tns1:VideoSource/Alarm', item: 'Alarm', value: 'Ring', kind: 'visitor' }])
      .map((e) => e.active), [false]);
  });

  it('returns nothing for unknown topics', () => {
    assert.deepEqual(interpret(n('tns1:Monitoring/ProcessorUsage', { Value: '30' })), []);
  });

  it('normalises prefixes bound to the ONVIF topic namespace and strips "//." quirks', () => {
    const ns = new Map([['tns', 'http://www.onvif.org/ver10/topics'], ['tnsaxis', 'http://www.axis.com/2009/event/topics']]);
    assert.equal(normaliseTopic('tns:VideoSource/MotionAlarm//.', ns), 'tns1:VideoSource/MotionAlarm');
    assert.equal(normaliseTopic('tnsaxis:CameraApplicationPlatform/VMD', ns), 'tnsaxis:CameraApplicationPlatform/VMD');
  });

  it('parses a PullMessagesResponse into notifications', () => {
    const reply = parseXml(`<tev:PullMessagesResponse xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tns1="http://www.onvif.org/ver10/topics">
      <tev:CurrentTime>2026-11-25T05:00:00Z</tev:CurrentTime><tev:TerminationTime>2026-11-25T05:10:00Z</tev:TerminationTime>
      <wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">tns1:RuleEngine/CellMotionDetector/Motion</wsnt:Topic>
        <wsnt:Message><tt:Message UtcTime="2026-11-25T05:00:00Z" PropertyOperation="Changed">
          <tt:Source><tt:SimpleItem Name="VideoSourceConfigurationToken" Value="VideoSourceToken"/><tt:SimpleItem Name="Rule" Value="MyMotionDetectorRule"/></tt:Source>
          <tt:Data><tt:SimpleItem Name="IsMotion" Value="true"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>
    </tev:PullMessagesResponse>`);
    const [msg] = parseNotifications(reply);
    assert.equal(msg.topic, 'tns1:RuleEngine/CellMotionDetector/Motion');
    assert.equal(msg.operation, 'Changed');
    assert.deepEqual(msg.data, { IsMotion: 'true' });
    assert.equal(msg.source.Rule, 'MyMotionDetectorRule');
  });
});
