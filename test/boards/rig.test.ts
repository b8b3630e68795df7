// Rig and board files: hardware as data, checked whole, one-line errors naming the file and key.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkRig, loadRig, loadBoard } from '../../boards/hardware.ts';

const r = suite('rig and board files');

const base = () => ({
  board: 'seeed-mt3620-rdb',
  parts: [{ id: 'left', type: 'hc-sr04' }],
  connections: [['left:TRIG', 'board:H1.4'], ['left:ECHO', 'board:H1.6']],
  rangers: ['left'],
});

r('the shipped rigs load; pins come from the board files (hardware.md)', () => {
  const seeed = loadRig('rover-hcsr04');
  assert.is(seeed.wiring.get('left:TRIG'), 0);
  assert.is(seeed.wiring.get('right:ECHO'), 5, 'H2.4 is GPIO5 on the Seeed RDB');
  const grove = loadRig('rover-grove');
  assert.is(grove.wiring.get('left:SIG'), 0, 'the original rover: GPIO0');
  assert.is(grove.wiring.get('right:SIG'), 4, 'and GPIO4');
  const avnet = loadRig('rover-avnet');
  assert.is(avnet.wiring.get('left:ECHO'), 2, 'click 1 INT = GPIO2');
  assert.is(avnet.wiring.get('left:VCC'), 16, 'click 1 RST = GPIO16');
  assert.is(loadBoard('seeed-mt3620-rdb').pins['LED1.B'], 10);
  assert.is(seeed.chip.coreClockHz, 197_600_000);
});

r('mistakes are one line naming file and key', () => {
  const cases: [any, RegExp][] = [
    [{ ...base(), colour: 'red' }, /rig\.json: unknown key 'colour'/],
    [{ ...base(), board: 'nope' }, /board 'nope': .*nope\/board\.json not found/],
    [{ ...base(), parts: [{ id: 'left', type: 'sonar' }] }, /parts\[0\]\.type 'sonar' is not a known part/],
    [{ ...base(), connections: [['left:TRIG', 'board:H1.4']] }, /part 'left' pin ECHO is not connected \(add \["left:ECHO", "board:<pin>"\]/],
    [{ ...base(), connections: [['left:TRIG', 'board:H9.9'], ['left:ECHO', 'board:H1.6']] }, /connections\[0\]: board seeed-mt3620-rdb has no pin 'H9.9'/],
    [{ ...base(), connections: [['left:TRIG', 'board:H1.4'], ['left:ECHO', 'board:H1.4']] }, /connections\[1\]: GPIO0 \(H1.4\) is already wired to left:TRIG/],
    [{ ...base(), connections: [['left:FOO', 'board:H1.4']] }, /hc-sr04 has no pin 'FOO'/],
    [{ ...base(), rangers: ['right'] }, /rangers\[0\] 'right' is not a ranger part/],
    [{ ...base(), rangers: 'left' }, /key 'rangers' must be an array/],
    [{ ...base(), trace: ['left:VCC'] }, /trace\[0\] 'left:VCC' is not a connected part pin/],
    [{ ...base(), board: 'avnet-mt3620-sk', connections: [['left:TRIG', 'board:click1.PWM'], ['left:ECHO', 'board:click2.CS']] }, /left:ECHO is on GPIO35, which has no edge interrupt on mt3620 \(GPIO0-23 only\)/],
  ];
  for (const [rig, re] of cases) {
    try {
      checkRig(rig, '/x/test.rig.json');
      assert.unreachable(`accepted: ${JSON.stringify(rig)}`);
    } catch (e) {
      const msg = (e as Error).message;
      assert.match(msg, re);
      assert.not.match(msg, /\n/, 'one line');
    }
  }
});

r.run();
