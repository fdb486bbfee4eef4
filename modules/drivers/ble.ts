// The part of Moddable's BLE central (`bleclient`, `gatt`, `btutils` in
// modules/network/ble of the SDK) that our drivers use, so a board's host can pass the SDK's
// BLEClient class and the emulators (modules/emulators/ble.ts) the same shape.
//
// As in the SDK, the client is used by subclassing: events arrive as calls of the on...
// methods (the SDK's preloaded prototypes are frozen, so assigning them on an instance would
// fail). `bleCentral(provider, events)` makes that subclass and forwards every event.
// Addresses and UUIDs are ArrayBuffers stored little-endian as the SDK's `Bytes` are; an
// address's toString() is "AA:BB:CC:DD:EE:FF".

import type { IoProvider } from "./io.js";

/** btutils `Bytes`: an ArrayBuffer whose toString() is the MAC (6 bytes) or the UUID. */
export type BleBytes = ArrayBuffer;

/** btutils `Advertisement`: the fields of the advertising and scan response data we read. */
export interface BleAdvertisement {
  readonly completeName?: string;
  readonly shortName?: string;
  readonly completeUUID16List?: BleBytes[];
  readonly incompleteUUID16List?: BleBytes[];
}

/** What onDiscovered gives; passed back to connect(). */
export interface BleDevice {
  readonly address: BleBytes;
  readonly addressType: number;
  readonly rssi: number;
  readonly scanResponse: BleAdvertisement;
}

/** gatt `Client`: a connection to one peripheral. */
export interface GattClient {
  readonly connection: number;
  readonly address: BleBytes;
  /** Answered by onServices (all services, or the one with this UUID). */
  discoverPrimaryService(uuid: BleBytes): void;
  /** Disconnects; onDisconnected follows. */
  close(): void;
}

/** gatt `Service`. */
export interface GattService {
  readonly uuid: BleBytes;
  /** Answered by onCharacteristics. */
  discoverAllCharacteristics(): void;
}

/** gatt `Characteristic`. */
export interface GattCharacteristic {
  readonly uuid: BleBytes;
  readonly service: GattService;
  readonly handle: number;
  /** Answered by onCharacteristicNotificationEnabled; then values arrive by onCharacteristicNotification. */
  enableNotifications(): void;
  writeWithoutResponse(value: ArrayBuffer): void;
}

/** The events of a BLEClient that our drivers handle. */
export interface BleCentralEvents {
  onReady(): void;
  onDiscovered(device: BleDevice): void;
  onConnected(client: GattClient): void;
  onDisconnected(client: { readonly address: BleBytes; readonly connection?: number }): void;
  onServices(services: GattService[]): void;
  onCharacteristics(characteristics: GattCharacteristic[]): void;
  onCharacteristicNotificationEnabled(characteristic: GattCharacteristic): void;
  /** The value as an ArrayBuffer (the characteristic has no `type`). */
  onCharacteristicNotification(characteristic: GattCharacteristic, value: ArrayBuffer): void;
}

/** The BLEClient methods our drivers call. */
export interface BleCentral {
  startScanning(params?: { active?: boolean; duplicates?: boolean; interval?: number; window?: number }): void;
  stopScanning(): void;
  connect(device: { address: BleBytes; addressType: number }): void;
  /** Ends scanning and every connection; no event follows. */
  close(): void;
}

/**
 * Opens the provider's BLEClient class with every event forwarded to `events`. The SDK's
 * constructor takes no options and ignores the ones given.
 */
export function bleCentral(provider: IoProvider, events: BleCentralEvents): BleCentral {
  return new (centralOf(provider.io))({ ...provider }, events);
}

type CentralClass = new (options: Record<string, unknown>, events: BleCentralEvents) => BleCentral;

/** The subclass of each BLEClient class, made once: a class per central would cost a fleet kilobytes each. */
const centrals = new WeakMap<object, CentralClass>();

function centralOf(io: unknown): CentralClass {
  const Base = io as new (options: Record<string, unknown>) => BleCentral;
  let Central = centrals.get(Base);
  if (!Central) {
    Central = class extends Base {
      // Set once super() returns: the SDK delivers every event later, from its BLE task.
      #events: BleCentralEvents;
      constructor(options: Record<string, unknown>, events: BleCentralEvents) {
        super(options);
        this.#events = events;
      }
      onReady() { this.#events.onReady(); }
      onDiscovered(device: BleDevice) { this.#events.onDiscovered(device); }
      onConnected(client: GattClient) { this.#events.onConnected(client); }
      onDisconnected(client: { address: BleBytes; connection?: number }) { this.#events.onDisconnected(client); }
      onServices(services: GattService[]) { this.#events.onServices(services); }
      onCharacteristics(characteristics: GattCharacteristic[]) { this.#events.onCharacteristics(characteristics); }
      onCharacteristicNotificationEnabled(c: GattCharacteristic) { this.#events.onCharacteristicNotificationEnabled(c); }
      onCharacteristicNotification(c: GattCharacteristic, value: ArrayBuffer) { this.#events.onCharacteristicNotification(c, value); }
    };
    centrals.set(Base, Central);
  }
  return Central;
}

/** A 16-bit UUID as btutils' uuid`FFF0` makes it: two bytes, little-endian. */
export function uuid16(value: number): ArrayBuffer {
  return Uint8Array.of(value & 0xff, (value >> 8) & 0xff).buffer;
}

/**
 * The 16-bit value of a UUID given as 2 bytes, or as 16 bytes on the Bluetooth base UUID
 * (0000xxxx-0000-1000-8000-00805F9B34FB, little-endian), as stacks differ; else undefined.
 */
export function uuid16Of(uuid: ArrayBuffer): number | undefined {
  const b = new Uint8Array(uuid);
  if (b.length === 2) return b[0] | (b[1] << 8);
  const BASE = [0xfb, 0x34, 0x9b, 0x5f, 0x80, 0x00, 0x00, 0x80, 0x00, 0x10, 0x00, 0x00];
  if (b.length !== 16 || b[14] !== 0 || b[15] !== 0 || BASE.some((x, i) => b[i] !== x)) return undefined;
  return b[12] | (b[13] << 8);
}

/** "AA:BB:CC:DD:EE:FF" for a 6-byte little-endian address (what btutils' Bytes.toString gives). */
export function addressText(address: ArrayBuffer): string {
  const b = new Uint8Array(address);
  const parts: string[] = [];
  for (let i = b.length - 1; i >= 0; i--) parts.push(b[i].toString(16).toUpperCase().padStart(2, "0"));
  return parts.join(":");
}
