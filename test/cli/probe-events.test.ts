import assert from 'node:assert/strict';
import { RawNotification } from '../../src/onvif/notifications';
import { interpret } from '../../src/onvif/topics';
import { notificationLines } from '../../src/cli/probe-events';

const at = new Date(2024, 0, 1, 12, 0, 1); // local time: the lines show this computer's clock

const lines = (n: RawNotification): string[] => notificationLines(n, interpret(n), at);

describe('probe event lines', () => {
  it('prints a known topic with its normalised meaning and its source', () => {
    assert.deepEqual(lines({
      topic: 'tns1:RuleEngine/CellMotionDetector/Motion', operation: 'Changed',
      source: { VideoSourceConfigurationToken: '1' }, data: { IsMotion: 'true' },
    }), ['12:00:01 motion on  tns1:RuleEngine/CellMotionDetector/Motion (VideoSourceConfigurationToken=1)']);
  });

  it('marks a state reported at subscription, and a momentary event as an event', () => {
    assert.deepEqual(lines({ topic: 'tns1:Device/Trigger/DigitalInput', operation: 'Initialized', source: { InputToken: 'A' },
      data: { LogicalState: 'false' } }), ['12:00:01 input off  tns1:Device/Trigger/DigitalInput (InputToken=A) [state at subscription]']);
    assert.deepEqual(lines({ topic: 'tns1:RuleEngine/LineDetector/Crossed', source: {}, data: { ObjectId: '7' } }),
      ['12:00:01 line event tns1:RuleEngine/LineDetector/Crossed']);
  });

  it('prints an unknown topic with its data items, so it can be mapped in the config', () => {
    assert.deepEqual(lines({ topic: 'tns1:Vendor/Thing', operation: 'Changed', source: { Channel: '2' }, data: { State: 'true', Level: '3' } }),
      ['12:00:01 unknown    tns1:Vendor/Thing (Channel=2) data: State=true, Level=3']);
  });

  it('prints one line per meaning when a notification means two things', () => {
    assert.deepEqual(lines({ topic: 'tns1:RuleEngine/TPSmartEventDetector/TPSmartEvent', operation: 'Changed', source: {},
      data: { IsPeople: 'true', IsVehicle: 'false' } }).map((l) => l.slice(9, 20)), ['person on  ', 'vehicle off']);
  });
});
