// The air around a BLE central: peripherals (battery monitors, a neighbour's phone...) that
// advertise while in range, take connections, expose GATT services, take writes and send
// notifications; and `provider`, a BLEClient class with the shape of Moddable's (the subset
// in modules/drivers/ble.ts) for the driver to subclass, with the radio it opens on. Every event reaches the central after
// `latencyMs` on the host's timer, as the SDK delivers them from its BLE task; while
// scanning, every peripheral in range is heard once per `advertIntervalMs`.
//
// Like the SDK's, connect() to a peripheral that does not answer stays pending until the
// client is closed; a connection ends by client.close() or by the peripheral dropping it,
// both reported by onDisconnected.

import type { TimerLike } from "../mqtt/io.js";
import type { BleAdvertisement, BleCentral, BleDevice, GattCharacteristic, GattClient, GattService } from "../drivers/ble.js";
import { uuid16, uuid16Of } from "../drivers/ble.js";

export interface AdvertisingData {
  name?: string;
  /** 16-bit service UUIDs advertised. */
  services?: number[];
}

export interface PeripheralService {
  uuid: number;
  characteristics: number[];
}

/** A peripheral's side of one connection. */
export interface PeripheralLink {
  readonly open: boolean;
  /** Sends a notification (delivered only if the central enabled them on that characteristic). */
  notify(characteristic: number, value: Uint8Array): void;
  /** Drops the connection (link loss): the central sees onDisconnected. */
  drop(): void;
}

export interface EmulatedPeripheral {
  /** "AA:BB:CC:DD:EE:FF". */
  readonly address: string;
  /** What a scan hears now (and its RSSI), or undefined while out of range or silent. */
  advertising(): { rssi: number; data: AdvertisingData } | undefined;
  /** Whether it takes a connection now. */
  connectable(): boolean;
  readonly services: readonly PeripheralService[];
  connected?(link: PeripheralLink): void;
  subscribed?(link: PeripheralLink, characteristic: number): void;
  written?(link: PeripheralLink, characteristic: number, value: Uint8Array): void;
  disconnected?(link: PeripheralLink): void;
}

export interface RadioOptions {
  advertIntervalMs?: number;
  latencyMs?: number;
  /** Peripherals in the air at most (add() refuses more). */
  maxPeripherals?: number;
  /** Connections a central holds at once (the ESP32's BLE client allows 2); more connects are ignored. */
  maxConnections?: number;
}

/** The address as the SDK stores it: 6 bytes, least significant first. */
function addressBytes(text: string): ArrayBuffer {
  return Uint8Array.from(text.split(":").reverse().map((h) => parseInt(h, 16))).buffer;
}

function sameAddress(a: ArrayBuffer, text: string): boolean {
  const x = new Uint8Array(a), y = new Uint8Array(addressBytes(text));
  return x.length === 6 && x.every((b, i) => b === y[i]);
}

export class EmulatedBleRadio {
  readonly #timer: TimerLike;
  readonly #advertMs: number;
  readonly #latency: number;
  readonly #maxPeripherals: number;
  readonly #maxConnections: number;
  readonly #peripherals: EmulatedPeripheral[] = [];
  /**
   * The bus for a driver: the BLEClient class, one for every radio (a class per radio would
   * cost a fleet kilobytes each), and this radio, which the class finds in its options.
   */
  readonly provider: { io: new (options: Record<string, unknown>) => BleCentral; radio: EmulatedBleRadio };

  constructor(timer: TimerLike, options: RadioOptions = {}) {
    this.#timer = timer;
    this.#advertMs = options.advertIntervalMs ?? 100;
    this.#latency = options.latencyMs ?? 5;
    this.#maxPeripherals = options.maxPeripherals ?? 64;
    this.#maxConnections = options.maxConnections ?? 2;
    this.provider = { io: EmulatedBLEClient as unknown as new (options: Record<string, unknown>) => BleCentral, radio: this };
  }

  /** A client instance opened on this air (EmulatedBLEClient's constructor). */
  static attach(self: object, options: Record<string, unknown> | undefined): void {
    const radio = options?.radio;
    if (!(radio instanceof EmulatedBleRadio)) throw new TypeError("an emulated BLE client needs its radio in its options: { ...radio.provider }");
    radio.#attach(self as Central);
  }

  /** Puts a peripheral in the air; false when the air is full or its address is taken. */
  add(p: EmulatedPeripheral): boolean {
    if (this.#peripherals.length >= this.#maxPeripherals || this.#peripherals.some((q) => q.address === p.address)) return false;
    this.#peripherals.push(p);
    return true;
  }

  remove(p: EmulatedPeripheral): void {
    const i = this.#peripherals.indexOf(p);
    if (i >= 0) this.#peripherals.splice(i, 1);
  }

  get peripherals(): readonly EmulatedPeripheral[] {
    return this.#peripherals;
  }

  /** Gives a new client instance its methods: the SDK's BLEClient is used by subclassing. */
  #attach(self: Central): void {
    const timer = this.#timer;
    const later = (f: () => void) => timer.set(() => { if (!closed) f(); }, this.#latency);
    let closed = false;
    let scanning: unknown;
    let nextConnection = 1;
    const links = new Set<Link>();

    const heard = () => {
      scanning = timer.set(heard, this.#advertMs);
      for (const p of this.#peripherals.slice()) {
        if (scanning === undefined || closed) return;
        const advert = p.advertising();
        if (!advert) continue;
        const scanResponse: BleAdvertisement = {
          completeName: advert.data.name,
          completeUUID16List: advert.data.services?.map(uuid16),
        };
        const device: BleDevice = { address: addressBytes(p.address), addressType: 0, rssi: advert.rssi, scanResponse };
        self.onDiscovered(device);
      }
    };

    const open = (p: EmulatedPeripheral) => {
      let handle = 0;
      const connection = nextConnection++;
      const subscribed = new Set<number>();
      const characteristics = new Map<number, GattCharacteristic>();
      const link: Link = {
        open: true,
        notify: (uuid, value) => {
          const copy = value.slice().buffer as ArrayBuffer;
          later(() => {
            const c = characteristics.get(uuid);
            if (link.open && c && subscribed.has(uuid)) self.onCharacteristicNotification(c, copy);
          });
        },
        drop: () => end(),
      };
      const end = () => {
        if (!link.open) return;
        link.open = false;
        links.delete(link);
        p.disconnected?.(link);
        later(() => self.onDisconnected({ address: client.address, connection }));
      };
      const service = (s: PeripheralService): GattService => {
        const svc: GattService = {
          uuid: uuid16(s.uuid),
          discoverAllCharacteristics: () => later(() => {
            if (!link.open) return;
            const list = s.characteristics.map((uuid) => {
              let c = characteristics.get(uuid);
              if (!c) {
                c = {
                  uuid: uuid16(uuid), service: svc, handle: ++handle,
                  enableNotifications: () => later(() => {
                    if (!link.open) return;
                    subscribed.add(uuid);
                    self.onCharacteristicNotificationEnabled(c!);
                    p.subscribed?.(link, uuid);
                  }),
                  writeWithoutResponse: (value: ArrayBuffer) => {
                    const copy = new Uint8Array(value.slice(0));
                    later(() => { if (link.open) p.written?.(link, uuid, copy); });
                  },
                };
                characteristics.set(uuid, c);
              }
              return c;
            });
            self.onCharacteristics(list);
          }),
        };
        return svc;
      };
      const client: GattClient = {
        connection,
        address: addressBytes(p.address),
        discoverPrimaryService: (uuid) => later(() => {
          if (link.open) self.onServices(p.services.filter((s) => s.uuid === uuid16Of(uuid)).map(service));
        }),
        close: () => end(),
      };
      links.add(link);
      p.connected?.(link);
      self.onConnected(client);
    };

    Object.assign(self, {
      startScanning: () => {
        if (closed || scanning !== undefined) return;
        scanning = timer.set(heard, 0);
      },
      stopScanning: () => {
        timer.clear(scanning);
        scanning = undefined;
      },
      connect: (device: { address: ArrayBuffer }) => {
        if (closed || links.size >= this.#maxConnections) return;
        later(() => {
          const p = this.#peripherals.find((q) => sameAddress(device.address, q.address));
          if (p?.connectable()) open(p);
        });
      },
      close: () => {
        if (closed) return;
        timer.clear(scanning);
        scanning = undefined;
        closed = true;
        for (const link of [...links]) link.drop();
      },
    });
    later(() => self.onReady());
  }
}

/** The BLEClient class of the emulated air: the driver subclasses it, as the SDK's. */
class EmulatedBLEClient {
  constructor(options?: Record<string, unknown>) {
    EmulatedBleRadio.attach(this, options);
  }
}

interface Link extends PeripheralLink {
  open: boolean;
}

/** A client instance as the driver's subclass completes it. */
type Central = BleCentral & {
  onReady(): void;
  onDiscovered(device: BleDevice): void;
  onConnected(client: GattClient): void;
  onDisconnected(client: { address: ArrayBuffer; connection?: number }): void;
  onServices(services: GattService[]): void;
  onCharacteristics(characteristics: GattCharacteristic[]): void;
  onCharacteristicNotificationEnabled(c: GattCharacteristic): void;
  onCharacteristicNotification(c: GattCharacteristic, value: ArrayBuffer): void;
};
