declare module "hosts/moddable/esp32/deepsleep" {
  /** Enters deep sleep for `ms` milliseconds; never returns. */
  export default function deepSleep(ms: number): never;
}
