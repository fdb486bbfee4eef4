// The battery-hawk drivers against their emulators: the portable AES-128 against the FIPS-197
// and SP 800-38A vectors; the BM2/BM6 codec against published captures (the BM2's from the
// reverse-engineering write-up, BM6 packets encrypted by a reference AES); and the BLE
// central on the emulated air, faults included: a monitor that disappears and returns,
// garbled and cut reports, a connection dropped mid-read, a monitor that never reports and
// one that never takes the connection, each a typed error after which the next read works.

import { Aes128, cbcDecrypt, cbcEncrypt } from "../../modules/drivers/aes128.js";
import { BatteryMonitors, MonitorError, bm6Request, decodeReport, modelOf } from "../../modules/drivers/bm2bm6.js";
import { addressText, uuid16Of } from "../../modules/drivers/ble.js";
import { EmulatedBleRadio } from "../../modules/emulators/ble.js";
import { EmulatedBatteryMonitor } from "../../modules/emulators/bm2bm6.js";
import type { MonitorPhysics } from "../../modules/emulators/bm2bm6.js";
import { ManualClock, check } from "./suite.js";
import type { DriverSuite } from "./suite.js";

const bytes = (hex: string) => Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

const BM2_MAC = "A4:C1:38:00:00:01";
const BM6_MAC = "A4:C1:38:00:00:02";

function rig() {
  const clock = new ManualClock();
  const radio = new EmulatedBleRadio(clock.timer);
  const physics: Record<string, MonitorPhysics | undefined> = {
    [BM2_MAC]: { voltage: 12.64, state_of_charge: 81.4, temperature: 19, rssi: -61, state: 0 },
    [BM6_MAC]: { voltage: 13.87, state_of_charge: 64, temperature: -7.4, rssi: -72, state: 1 },
  };
  const bm2 = new EmulatedBatteryMonitor({ model: "BM2", address: BM2_MAC, timer: clock.timer, physics: () => physics[BM2_MAC] });
  const bm6 = new EmulatedBatteryMonitor({ model: "BM6", address: BM6_MAC.toLowerCase(), timer: clock.timer, physics: () => physics[BM6_MAC] });
  radio.add(bm2);
  radio.add(bm6);
  radio.add({ address: "5C:00:00:00:00:09", services: [], connectable: () => true, advertising: () => ({ rssi: -50, data: { name: "Pixel 7" } }) });
  const driver = new BatteryMonitors({ ble: radio.provider, timer: clock.timer, scan_ms: 300, connect_ms: 500, report_ms: 1500 });
  /** Runs an operation to its end on the clock. */
  const done = async <T>(p: Promise<T>): Promise<T> => {
    let settled = false;
    const watched = p.finally(() => { settled = true; });
    for (let i = 0; i < 400 && !settled; i++) await clock.advance(10);
    return watched;
  };
  /** The error kind an operation ends with, or "ok". */
  const kind = async (p: Promise<unknown>): Promise<string> => {
    try {
      await done(p);
      return "ok";
    } catch (e) {
      return e instanceof MonitorError ? e.kind : `untyped ${String(e)}`;
    }
  };
  return { clock, radio, physics, bm2, bm6, driver, done, kind };
}

export const suites: DriverSuite[] = [{
  name: "AES-128 (portable, FIPS-197 / SP 800-38A)",
  cases: [
    { name: "FIPS-197 appendix C.1: AES-128 encrypts and decrypts the example block", run() {
      const aes = new Aes128(bytes("000102030405060708090a0b0c0d0e0f"));
      const block = bytes("00112233445566778899aabbccddeeff");
      aes.encryptBlock(block);
      check.equal(hex(block), "69c4e0d86a7b0430d8cdb78070b4c55a");
      aes.decryptBlock(block);
      check.equal(hex(block), "00112233445566778899aabbccddeeff");
    } },
    { name: "SP 800-38A F.2.1 / F.2.2: CBC-AES128 encrypts and decrypts the four blocks", run() {
      const aes = new Aes128(bytes("2b7e151628aed2a6abf7158809cf4f3c"));
      const iv = bytes("000102030405060708090a0b0c0d0e0f");
      const plain = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
      const cipher = "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b273bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7";
      check.equal(hex(cbcEncrypt(aes, iv, bytes(plain))), cipher);
      check.equal(hex(cbcDecrypt(aes, iv, bytes(cipher))), plain);
    } },
    { name: "refuses a key, IV or data of the wrong size", run() {
      check.throws(() => new Aes128(new Uint8Array(15)), /16 bytes/);
      const aes = new Aes128(new Uint8Array(16));
      check.throws(() => cbcDecrypt(aes, new Uint8Array(16), new Uint8Array(15)), /whole 16-byte blocks/);
      check.throws(() => cbcEncrypt(aes, new Uint8Array(8), new Uint8Array(16)), /IV must be 16/);
    } },
  ],
}, {
  name: "BM2/BM6 battery monitor codec",
  cases: [
    { name: "decodes published BM2 captures: 12.88 V and 12.87 V, state 1, 100 %", run() {
      check.deepEqual(decodeReport("BM2", bytes("3627d57495cb945e11d392c800a28bfa")), { model: "BM2", voltage: 12.88, state_of_charge: 100, state: 1 });
      check.deepEqual(decodeReport("BM2", bytes("7afd45c0257438c3dd5e7903a9e82366")), { model: "BM2", voltage: 12.87, state_of_charge: 100, state: 1 });
    } },
    { name: "decodes BM6 readings (sign byte, whole degrees, big-endian voltage) and skips the request's echo", run() {
      check.deepEqual(decodeReport("BM6", bytes("9f9c5718fe715ed715ebab10dc0628c6")), { model: "BM6", voltage: 12.73, state_of_charge: 80, state: 0, temperature: 21 });
      check.deepEqual(decodeReport("BM6", bytes("d2c45d56a8b3540a0e74322a38292485")), { model: "BM6", voltage: 12.3, state_of_charge: 100, state: 1, temperature: -7 });
      check.equal(decodeReport("BM6", bytes("8ae0358523fe154976de18fc102eb1d4")), undefined);
      check.equal(hex(bm6Request()), "697ea0b5d54cf024e794772355554114", "D1 55 07 under the BM6 key");
    } },
    { name: "a report under the other model's key, garbled or cut short is corrupt", run() {
      check.throws(() => decodeReport("BM2", bytes("9f9c5718fe715ed715ebab10dc0628c6")), /does not decrypt to a reading/);
      check.throws(() => decodeReport("BM6", bytes("3627d57495cb945e11d392c800a28bfa")), /does not decrypt to a reading/);
      check.throws(() => decodeReport("BM2", bytes("3627d57495cb945e11d392c800a28b")), /15 bytes/);
      const garbled = bytes("3627d57495cb945e11d392c800a28bfa");
      garbled[0] ^= 0x5a;
      check.throws(() => decodeReport("BM2", garbled), /does not decrypt/);
    } },
    { name: "tells the models apart by their advertised names; UUIDs match in 16- and 128-bit form", run() {
      check.equal(modelOf("Battery Monitor"), "BM2");
      check.equal(modelOf("BM6"), "BM6");
      check.equal(modelOf("Pixel 7"), undefined);
      check.equal(uuid16Of(Uint8Array.of(0xf0, 0xff).buffer), 0xfff0);
      check.equal(uuid16Of(Uint8Array.of(0xfb, 0x34, 0x9b, 0x5f, 0x80, 0, 0, 0x80, 0, 0x10, 0, 0, 0xf4, 0xff, 0, 0).buffer), 0xfff4);
      check.equal(addressText(Uint8Array.of(1, 0, 0, 0x38, 0xc1, 0xa4).buffer), BM2_MAC);
    } },
  ],
}, {
  name: "BM2/BM6 central (emulated BLE air)",
  cases: [
    { name: "a scan lists both monitors with model, name and RSSI, and passes over other devices", async run() {
      const r = rig();
      const seen = await r.done(r.driver.scan());
      check.deepEqual(seen, [
        { mac: BM2_MAC, model: "BM2", name: "Battery Monitor", rssi: -61 },
        { mac: BM6_MAC, model: "BM6", name: "BM6", rssi: -72 },
      ]);
    } },
    { name: "reads a BM2 and a BM6 through their encrypted reports, and disconnects after each", async run() {
      const r = rig();
      check.deepEqual(await r.done(r.driver.read(BM2_MAC)), { model: "BM2", voltage: 12.64, state_of_charge: 81, state: 0, rssi: -61 });
      check.deepEqual(await r.done(r.driver.read(BM6_MAC.toLowerCase())), { model: "BM6", voltage: 13.87, state_of_charge: 64, state: 1, temperature: -7, rssi: -72 });
      await r.clock.advance(5000);
      check.equal(r.bm2.reports, 1, "no reports after the read: the connection is closed");
      check.equal(r.bm6.reports, 1);
    } },
    { name: "a monitor that disappears is absent, and read again once it returns", async run() {
      const r = rig();
      const saved = r.physics[BM2_MAC];
      r.physics[BM2_MAC] = undefined;
      check.equal(await r.kind(r.driver.read(BM2_MAC)), "absent");
      r.physics[BM2_MAC] = saved;
      check.equal(await r.kind(r.driver.read(BM2_MAC)), "ok");
      r.bm6.faults.gone = true;
      check.deepEqual((await r.done(r.driver.scan())).map((s) => s.mac), [BM2_MAC]);
      check.equal(await r.kind(r.driver.read(BM6_MAC)), "absent");
      r.bm6.faults.gone = false;
      check.equal(await r.kind(r.driver.read(BM6_MAC)), "ok");
    } },
    { name: "a garbled or cut report is corrupt, and the next read works", async run() {
      const r = rig();
      r.bm2.faults.garbled = 1;
      check.equal(await r.kind(r.driver.read(BM2_MAC)), "corrupt");
      r.bm6.faults.truncated = 1;
      check.equal(await r.kind(r.driver.read(BM6_MAC)), "corrupt");
      check.equal(await r.kind(r.driver.read(BM2_MAC)), "ok");
      check.equal(await r.kind(r.driver.read(BM6_MAC)), "ok");
    } },
    { name: "a connection that drops mid-read is disconnected, and the next read works", async run() {
      const r = rig();
      r.bm6.faults.dropMidRead = 1;
      check.equal(await r.kind(r.driver.read(BM6_MAC)), "disconnected");
      check.equal(await r.kind(r.driver.read(BM6_MAC)), "ok");
    } },
    { name: "no report within report_ms, or no connection within connect_ms, is a timeout; the radio recovers", async run() {
      const r = rig();
      r.bm2.faults.silent = true;
      const start = r.clock.now;
      check.equal(await r.kind(r.driver.read(BM2_MAC)), "timeout");
      check.ok(r.clock.now - start >= 1500 && r.clock.now - start < 2000, `gave up after ${r.clock.now - start} ms`);
      r.bm2.faults.silent = false;
      // Heard advertising but refusing connections: the pending connect is cancelled by reopening the client.
      const connectable = r.bm6.connectable;
      r.bm6.connectable = () => false;
      check.equal(await r.kind(r.driver.read(BM6_MAC)), "timeout");
      r.bm6.connectable = connectable;
      check.equal(await r.kind(r.driver.read(BM6_MAC)), "ok");
      check.equal(await r.kind(r.driver.read(BM2_MAC)), "ok");
    } },
    { name: "one operation at a time; after close() every operation is refused", async run() {
      const r = rig();
      const first = r.driver.read(BM2_MAC);
      check.equal(await r.kind(r.driver.scan()), "radio");
      check.equal(await r.kind(first), "ok");
      r.driver.close();
      check.equal(await r.kind(r.driver.read(BM2_MAC)), "radio");
      check.throws(() => r.driver.configure({ scan_ms: 0 }), /scan_ms/);
    } },
  ],
}];
