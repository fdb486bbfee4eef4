declare module "hosts/moddable/esp32/deepsleep" {
  /** Enters deep sleep for `ms` milliseconds; never returns (the chip restarts on wakeup). */
  export default function deepSleep(ms: number): never;
  /** How many 32-bit words of RTC slow memory are retained. */
  export function retainedWords(): number;
  /** A retained word (0 .. 2^32 - 1). */
  export function getRetained(index: number): number;
  export function setRetained(index: number, value: number): void;
}
