// The station's Wi-Fi link as a bus: its signal strength comes from the `rssi()` option the
// simulation gives (on a board the host reads the radio's RSSI).

export class EmulatedWifi {
  readonly #rssi: () => number;

  constructor(options: Record<string, unknown>) {
    this.#rssi = options.rssi as () => number;
  }

  get rssi(): number {
    return this.#rssi();
  }
}
