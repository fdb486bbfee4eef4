// ESP32 hardware: the relay on a GPIO through ECMA-419 Digital, and timer-wakeup deep sleep
// through a small native function (deepsleep.c). Built only with -p esp32.

import Digital from "embedded:io/digital";
import deepSleep from "hosts/moddable/esp32/deepsleep";
import type { Relay, Sleeper } from "../../../modules/device/hardware.js";

export function makeRelay(pin: number): Relay {
  const io = new Digital({ pin, mode: Digital.Output });
  let on = false;
  io.write(0);
  return {
    get on() {
      return on;
    },
    set(value: boolean) {
      on = value;
      io.write(value ? 1 : 0);
    },
  };
}

export const sleeper: Sleeper = {
  sleep(ms: number): void {
    deepSleep(ms); // does not return: the chip resets on wakeup
  },
};
