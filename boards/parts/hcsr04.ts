// HC-SR04: 4 pins (VCC, TRIG, ECHO, GND). Triggered by a >= 10 us TRIG pulse; answers on ECHO.
// Range 2-400 cm (shared/reference/hardware.md). Physics in ultrasonic.ts.
import type { PartContext, PartPin } from './part.ts';
import { UltrasonicRanger } from './ultrasonic.ts';

export class HcSr04 extends UltrasonicRanger {
  readonly type = 'hc-sr04';
  private readonly echo: PartPin;

  constructor(ctx: PartContext) {
    super(ctx, { minM: 0.02, maxM: 4.0 }, ctx.pin('VCC'));
    this.echo = ctx.pin('ECHO');
    this.echo.drive(0);
    this.watchTrigger(ctx.pin('TRIG'), false);
  }

  protected setEcho(level: number): void {
    this.echo.drive(level);
  }

  protected releaseEcho(): void {
    this.echo.drive(0);
  }
}
