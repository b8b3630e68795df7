// Seeed Grove Ultrasonic Ranger: one SIG pin for trigger and echo. The MCU drives SIG high >= 10 us
// as an output, then turns the pin into an input; the module then drives SIG with the echo pulse
// and lets go. 2-350 cm (shared/reference/hardware.md, "Grove Ultrasonic Ranger").
import type { PartContext, PartPin } from './part.ts';
import { UltrasonicRanger } from './ultrasonic.ts';

export class GroveUltrasonic extends UltrasonicRanger {
  readonly type = 'grove-ultrasonic';
  private readonly sig: PartPin;

  constructor(ctx: PartContext) {
    super(ctx, { minM: 0.02, maxM: 3.5 }, ctx.pin('VCC'));
    this.sig = ctx.pin('SIG');
    this.watchTrigger(this.sig, true);
  }

  protected setEcho(level: number): void {
    this.sig.drive(level);
  }

  protected releaseEcho(): void {
    this.sig.drive(null);
  }

  protected echoDone(): void {
    this.sig.drive(null);
  }
}
