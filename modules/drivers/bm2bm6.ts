// BM2 and BM6 12 V battery monitors (Leagend and their many rebrands) over BLE, as a central.
//
// Protocol, as published by those who reverse-engineered the vendors' apps: both monitors
// advertise (BM2 as "Battery Monitor", BM6 as "BM6"), and carry service FFF0 with a notify
// characteristic FFF4 and a write characteristic FFF3. Every packet is one 16-byte block of
// AES-128-CBC with a zero IV and a fixed key per model ("leagend" FF FE "1882466" for the BM2,
// "leagend" FF FE "0100009" for the BM6).
//  - BM2: once notifications are on it reports about every second. Plain text: F5, then the
//    voltage in 1/100 V as 12 bits, a 4-bit battery state (0, 1, 2, 4 or 8), the state of
//    charge in percent, then a running counter. No temperature.
//  - BM6: reports after the request D1 55 07 (zero-padded, encrypted) is written to FFF3.
//    Plain text: D1 55 07, a temperature sign byte (1 = below zero; FF marks the echo of the
//    request, not a reading), the temperature in whole degrees C, a state byte, the state of
//    charge in percent, the voltage in 1/100 V (big-endian 16 bits).
// Neither carries a checksum: a packet is taken only when its length is one block and the
// decrypted header and every field are what the protocol allows; anything else is a corrupt
// report (a wrong key, a garbled or cut notification).
//
// A read is connect, discover FFF0/FFF3/FFF4, enable notifications (BM6: write the request),
// take the first report, disconnect: an ESP32 holds only a couple of BLE connections, and a
// gateway watches up to dozens of monitors. One operation runs at a time; every step is
// bounded by a timeout on the host's timer.

import { Aes128, cbcDecrypt, cbcEncrypt } from "./aes128.js";
import { addressText, bleCentral, uuid16, uuid16Of } from "./ble.js";
import type { BleCentral, BleDevice, GattCharacteristic, GattClient, GattService } from "./ble.js";
import type { IoProvider } from "./io.js";
import type { TimerLike } from "../mqtt/io.js";

export type MonitorModel = "BM2" | "BM6";

export const MONITOR_SERVICE = 0xfff0;
export const MONITOR_NOTIFY = 0xfff4;
export const MONITOR_WRITE = 0xfff3;

const key = (tail: string) => Uint8Array.from([..."leagend"].map((c) => c.charCodeAt(0)).concat([0xff, 0xfe], [...tail].map((c) => c.charCodeAt(0))));
/** The published per-model AES-128 keys. */
export const MONITOR_KEYS: Readonly<Record<MonitorModel, Uint8Array>> = { BM2: key("1882466"), BM6: key("0100009") };
export const MONITOR_IV = new Uint8Array(16);
const CIPHERS: Record<MonitorModel, Aes128> = { BM2: new Aes128(MONITOR_KEYS.BM2), BM6: new Aes128(MONITOR_KEYS.BM6) };

/** The BM6's "send the real-time reading" request, before encryption. */
export const BM6_REQUEST = Uint8Array.of(0xd1, 0x55, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
const BM2_STATES = [0, 1, 2, 4, 8];

/** One decoded report. */
export interface MonitorReport {
  model: MonitorModel;
  /** V. */
  voltage: number;
  /** Percent. */
  state_of_charge: number;
  /** The model's raw battery/state code. */
  state: number;
  /** Degrees C; BM6 only. */
  temperature?: number;
}

/** One monitor heard advertising. */
export interface MonitorSighting {
  /** "AA:BB:CC:DD:EE:FF". */
  mac: string;
  model: MonitorModel;
  name: string;
  /** dBm. */
  rssi: number;
}

export type MonitorErrorKind =
  /** Not heard advertising within the scan window: out of range, or gone. */
  | "absent"
  /** No connection, or no report, within its timeout. */
  | "timeout"
  /** The connection dropped before the report came. */
  | "disconnected"
  /** A report that did not decrypt to a valid packet. */
  | "corrupt"
  /** Connected, but FFF0/FFF3/FFF4 are missing. */
  | "unsupported"
  /** The BLE stack is not ready, the driver is closed, or another operation is running. */
  | "radio";

export class MonitorError extends Error {
  readonly kind: MonitorErrorKind;
  constructor(kind: MonitorErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/**
 * Decrypts and decodes one notification. Undefined for a BM6's echo of its request (not a
 * reading); throws MonitorError "corrupt" for anything that is not a valid report.
 */
export function decodeReport(model: MonitorModel, value: ArrayBuffer | Uint8Array): MonitorReport | undefined {
  const data = value instanceof Uint8Array ? value : new Uint8Array(value);
  if (data.length !== 16) throw new MonitorError("corrupt", `${model} report of ${data.length} bytes, not one 16-byte block`);
  const p = cbcDecrypt(CIPHERS[model], MONITOR_IV, data);
  const bad = (why: string) => new MonitorError("corrupt", `${model} report does not decrypt to a reading (${why}): ${hex(p)}`);
  if (model === "BM2") {
    if (p[0] !== 0xf5) throw bad("header");
    const voltage = ((p[1] << 4) | (p[2] >> 4)) / 100;
    const state = p[2] & 0x0f;
    if (!BM2_STATES.includes(state)) throw bad("state");
    if (p[3] > 100) throw bad("state of charge");
    return { model, voltage, state_of_charge: p[3], state };
  }
  if (p[0] !== 0xd1 || p[1] !== 0x55 || p[2] !== 0x07) throw bad("header");
  if (p[3] === 0xff) return undefined;
  if (p[3] > 1) throw bad("temperature sign");
  if (p[6] > 100) throw bad("state of charge");
  return { model, voltage: ((p[7] << 8) | p[8]) / 100, state_of_charge: p[6], state: p[5], temperature: p[3] === 1 ? -p[4] : p[4] };
}

/** The encrypted BM6 request. */
export function bm6Request(): Uint8Array {
  return cbcEncrypt(CIPHERS.BM6, MONITOR_IV, BM6_REQUEST);
}

/** The model a device advertises as, from its name; undefined for anything else. */
export function modelOf(name: string | undefined): MonitorModel | undefined {
  if (name === undefined) return undefined;
  if (name === "Battery Monitor" || name.startsWith("BM2")) return "BM2";
  if (name.startsWith("BM6")) return "BM6";
  return undefined;
}

export interface MonitorOptions {
  /** How long a scan listens, ms. */
  scan_ms?: number;
  /** How long a connection may take, ms. */
  connect_ms?: number;
  /** How long the first report may take once connected, ms. */
  report_ms?: number;
}

/** Monitors listed per scan; more are not looked at (bounded work and memory). */
const MAX_SIGHTED = 64;

interface Sighted extends MonitorSighting {
  device: BleDevice;
}

type Step = "connect" | "services" | "characteristics" | "subscribe" | "report";

interface Read {
  mac: string;
  model: MonitorModel;
  step: Step;
  client?: GattClient;
  notify?: GattCharacteristic;
  write?: GattCharacteristic;
  timeout: unknown;
  resolve(r: MonitorReport): void;
  reject(e: MonitorError): void;
}

interface Scan {
  /** Stop early when this MAC is heard (a read looking for its monitor). */
  want?: string;
  found: Map<string, Sighted>;
  timeout: unknown;
  done(): void;
}

/**
 * The BM2/BM6 central: `new BatteryMonitors({ ble: provider, timer, scan_ms, connect_ms, report_ms })`.
 * `scan()` lists the monitors heard; `read(mac)` reads one. Errors are MonitorErrors.
 */
export class BatteryMonitors {
  readonly #timer: TimerLike;
  readonly #provider: IoProvider;
  #options: Required<MonitorOptions>;
  /** Undefined after a connect was cancelled, until the next operation reopens it. */
  #central?: BleCentral;
  #ready = false;
  #readyWaiter?: () => void;
  #closed = false;
  #busy = false;
  #scan?: Scan;
  #read?: Read;

  constructor(options: { ble: IoProvider; timer: TimerLike } & MonitorOptions) {
    this.#timer = options.timer;
    this.#provider = options.ble;
    this.#options = { scan_ms: 3000, connect_ms: 5000, report_ms: 5000 };
    this.configure(options);
    this.#central = this.#open();
  }

  configure(options: MonitorOptions): void {
    for (const name of ["scan_ms", "connect_ms", "report_ms"] as const) {
      const v = options[name];
      if (v === undefined) continue;
      if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 600_000) throw new RangeError(`${name} must be 1..600000 ms, not ${String(v)}`);
      this.#options[name] = v;
    }
  }

  /** Listens for scan_ms and lists every BM2/BM6 heard (other devices are ignored). */
  scan(): Promise<MonitorSighting[]> {
    return this.#exclusive(async () => {
      const found = await this.#listen();
      return [...found.values()].map(({ mac, model, name, rssi }) => ({ mac, model, name, rssi }));
    });
  }

  /** Finds the monitor advertising, connects and takes one report. */
  read(mac: string): Promise<MonitorReport & { rssi: number }> {
    const wanted = mac.toUpperCase();
    return this.#exclusive(async () => {
      const found = (await this.#listen(wanted)).get(wanted);
      if (!found) throw new MonitorError("absent", `${wanted} not heard advertising within ${this.#options.scan_ms} ms`);
      const report = await this.#connectAndRead(found);
      return { ...report, rssi: found.rssi };
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#finishScan();
    this.#failRead(new MonitorError("radio", "driver closed"));
    this.#central?.close();
  }

  // ---- operations ----

  async #exclusive<T>(op: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new MonitorError("radio", "driver closed");
    if (this.#busy) throw new MonitorError("radio", "another BLE operation is running");
    this.#busy = true;
    try {
      if (!this.#central) {
        try {
          this.#central = this.#open();
        } catch (e) {
          throw new MonitorError("radio", `BLE client did not reopen: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      await this.#whenReady();
      return await op();
    } finally {
      this.#busy = false;
    }
  }

  #whenReady(): Promise<void> {
    if (this.#ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timeout = this.#timer.set(() => {
        this.#readyWaiter = undefined;
        reject(new MonitorError("radio", `BLE stack not ready within ${this.#options.connect_ms} ms`));
      }, this.#options.connect_ms);
      this.#readyWaiter = () => {
        this.#timer.clear(timeout);
        resolve();
      };
    });
  }

  #listen(want?: string): Promise<Map<string, Sighted>> {
    return new Promise((resolve) => {
      const scan: Scan = {
        want, found: new Map(), timeout: undefined,
        done: () => resolve(scan.found),
      };
      scan.timeout = this.#timer.set(() => this.#finishScan(), this.#options.scan_ms);
      this.#scan = scan;
      this.#central!.startScanning({ active: true, duplicates: true });
    });
  }

  #finishScan(): void {
    const scan = this.#scan;
    if (!scan) return;
    this.#scan = undefined;
    this.#timer.clear(scan.timeout);
    this.#central?.stopScanning();
    scan.done();
  }

  #connectAndRead(target: Sighted): Promise<MonitorReport> {
    return new Promise((resolve, reject) => {
      const read: Read = { mac: target.mac, model: target.model, step: "connect", timeout: undefined, resolve, reject };
      this.#read = read;
      this.#arm(read, this.#options.connect_ms);
      this.#central!.connect({ address: target.device.address, addressType: target.device.addressType });
    });
  }

  /** (Re)starts the read's deadline for its current step. */
  #arm(read: Read, ms: number): void {
    this.#timer.clear(read.timeout);
    read.timeout = this.#timer.set(() => {
      if (this.#read !== read) return;
      const what = read.step === "connect" ? "no connection" : read.step === "report" ? "no report" : `no answer to ${read.step} discovery`;
      this.#failRead(new MonitorError("timeout", `${read.mac}: ${what} within ${ms} ms`));
    }, ms);
  }

  #finishRead(report: MonitorReport): void {
    const read = this.#read!;
    this.#endRead(read);
    read.resolve(report);
  }

  #failRead(error: MonitorError): void {
    const read = this.#read;
    if (!read) return;
    this.#endRead(read);
    read.reject(error);
  }

  #endRead(read: Read): void {
    this.#read = undefined;
    this.#timer.clear(read.timeout);
    if (read.client) read.client.close();
    else if (read.step === "connect" && !this.#closed) {
      // The SDK's connect never gives up by itself: only closing the client cancels it. The
      // next operation opens a new one (the SDK allows one client at a time).
      this.#central?.close();
      this.#central = undefined;
    }
  }

  #open(): BleCentral {
    this.#ready = false;
    const current = (): boolean => this.#central === central;
    const central: BleCentral = bleCentral(this.#provider, {
      onReady: () => {
        if (!current()) return;
        this.#ready = true;
        const waiter = this.#readyWaiter;
        this.#readyWaiter = undefined;
        waiter?.();
      },
      onDiscovered: (device) => current() && this.#discovered(device),
      onConnected: (client) => {
        const read = this.#read;
        if (!current() || !read || read.step !== "connect" || addressText(client.address) !== read.mac) {
          // A connection nobody waits for any more (its read timed out): let it go.
          client.close();
          return;
        }
        read.client = client;
        read.step = "services";
        this.#arm(read, this.#options.report_ms);
        client.discoverPrimaryService(uuid16(MONITOR_SERVICE));
      },
      onDisconnected: (client) => {
        const read = this.#read;
        if (current() && read?.client && addressText(client.address) === read.mac) {
          read.client = undefined;
          this.#failRead(new MonitorError("disconnected", `${read.mac}: connection lost during ${read.step}`));
        }
      },
      onServices: (services) => {
        const read = this.#step("services");
        if (!read) return;
        const service = services.find((s: GattService) => uuid16Of(s.uuid) === MONITOR_SERVICE);
        if (!service) return this.#failRead(new MonitorError("unsupported", `${read.mac}: no service FFF0`));
        read.step = "characteristics";
        service.discoverAllCharacteristics();
      },
      onCharacteristics: (characteristics) => {
        const read = this.#step("characteristics");
        if (!read) return;
        read.notify = characteristics.find((c) => uuid16Of(c.uuid) === MONITOR_NOTIFY);
        read.write = characteristics.find((c) => uuid16Of(c.uuid) === MONITOR_WRITE);
        if (!read.notify || !read.write) return this.#failRead(new MonitorError("unsupported", `${read.mac}: no characteristics FFF3/FFF4`));
        read.step = "subscribe";
        read.notify.enableNotifications();
      },
      onCharacteristicNotificationEnabled: (c) => {
        const read = this.#step("subscribe");
        if (!read || c.handle !== read.notify!.handle) return;
        read.step = "report";
        if (read.model === "BM6") read.write!.writeWithoutResponse(bm6Request().buffer as ArrayBuffer);
      },
      onCharacteristicNotification: (c, value) => {
        const read = this.#step("report");
        if (!read || c.handle !== read.notify!.handle) return;
        let report: MonitorReport | undefined;
        try {
          report = decodeReport(read.model, value);
        } catch (e) {
          return this.#failRead(e instanceof MonitorError ? e : new MonitorError("corrupt", String(e)));
        }
        if (report) this.#finishRead(report);
      },
    });
    return central;
  }

  /** The running read if it is at this step on the current client. */
  #step(step: Step): Read | undefined {
    const read = this.#read;
    return read && read.step === step && read.client ? read : undefined;
  }

  #discovered(device: BleDevice): void {
    const scan = this.#scan;
    if (!scan) return;
    const ad = device.scanResponse;
    const name = ad?.completeName ?? ad?.shortName;
    const model = modelOf(name);
    if (!model || !name) return;
    const mac = addressText(device.address);
    // The latest advert of each, for its RSSI and the address to connect to.
    if (scan.found.size < MAX_SIGHTED || scan.found.has(mac)) scan.found.set(mac, { mac, model, name, rssi: device.rssi, device });
    if (scan.want === mac) this.#finishScan();
  }
}
