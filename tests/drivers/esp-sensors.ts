// The esp-sensors drivers against their emulators: the SHT3x on the emulated I2C bus (CRC-8,
// conversion, the measurement wait, and each bus fault as a typed error after which the next
// sample works), the I2C bus itself, and deep sleep with its retained memory.

import { crc8, Sht3x, Sht3xError } from "../../modules/drivers/sht3x.js";
import type { I2C419 } from "../../modules/drivers/io.js";
import { DeepSleep } from "../../modules/drivers/sleep.js";
import { EmulatedI2C } from "../../modules/emulators/i2c.js";
import { encode, Sht3xModel } from "../../modules/emulators/sht3x.js";
import type { Climate } from "../../modules/emulators/sht3x.js";
import { EmulatedDeepSleep } from "../../modules/emulators/sleep.js";
import { ManualClock, check } from "./suite.js";
import type { DriverSuite } from "./suite.js";

function sht3xRig() {
  const clock = new ManualClock();
  const air: Climate = { celsius: 23.4, humidity: 41.7 };
  const sht = new Sht3xModel({ timer: clock.timer, climate: () => ({ ...air }) });
  const bus = new EmulatedI2C().attach(0x44, sht);
  const driver = new Sht3x({ sensor: { io: bus.io, data: 21, clock: 22, hz: 100_000, address: 0x44 }, timer: clock.timer });
  /** Runs a sample to its end on the clock; returns the ms it took. */
  const run = async <T>(p: Promise<T>): Promise<{ value: T; ms: number }> => {
    const start = clock.now;
    let settled = false;
    const watched = p.finally(() => { settled = true; });
    for (let i = 0; i < 100 && !settled; i++) await clock.advance(1);
    return { value: await watched, ms: clock.now - start };
  };
  return { clock, air, sht, bus, driver, run };
}

async function kind(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return e instanceof Sht3xError ? e.kind : `untyped ${String(e)}`;
  }
}

export const suites: DriverSuite[] = [{
  name: "SHT3x (I2C, emulated bus)",
  cases: [
    { name: "CRC-8 (0x31, init 0xFF) matches the datasheet's example and conversions follow its formulas", run() {
      check.equal(crc8(new Uint8Array([0xbe, 0xef])), 0x92);
      check.deepEqual(encode({ celsius: -45, humidity: 0 }), [0, 0]);
      check.deepEqual(encode({ celsius: 130, humidity: 100 }), [0xffff, 0xffff]);
      check.deepEqual(encode({ celsius: 200, humidity: -5 }), [0xffff, 0], "clamped to 16 bits");
    } },
    { name: "a sample is a single-shot measurement without clock stretching: command 0x2400, then the read after 15 ms", async run() {
      const r = sht3xRig();
      const { value, ms } = await r.run(r.driver.sample());
      check.near(value.thermometer.temperature, 23.4, 0.003);
      check.near(value.hygrometer.humidity, 41.7, 0.002);
      check.equal(ms, 16, "waited the datasheet's maximum (15 ms) and no longer");
      check.equal(r.sht.measurements, 1);
      // Reading while the part measures is not acknowledged, as on the wire.
      const i2c = new r.bus.io({ address: 0x44 }) as I2C419;
      i2c.write(new Uint8Array([0x24, 0x00]));
      check.throws(() => i2c.read(6), /not acknowledged by 0x44/);
      check.throws(() => i2c.write(new Uint8Array([0x24, 0x00])), /not acknowledged/, "nor a command");
      await r.clock.advance(15);
      check.equal(new Uint8Array(i2c.read(6)).length, 6);
    } },
    { name: "configure() picks the repeatability (its command and wait) and refuses others", async run() {
      const r = sht3xRig();
      r.driver.configure({ repeatability: "low" });
      check.equal((await r.run(r.driver.sample())).ms, 5);
      r.driver.configure({ repeatability: "medium" });
      check.equal((await r.run(r.driver.sample())).ms, 7);
      check.throws(() => r.driver.configure({ repeatability: "ultra" as "high" }), /repeatability must be high, medium or low/);
    } },
    { name: "a CRC mismatch on either word is a typed error; the next sample starts with a soft reset and reads", async run() {
      const r = sht3xRig();
      r.sht.faults.corrupt = { count: 1, byte: 1 };
      const t = r.driver.sample();
      check.equal(await r.run(kind(t)).then((x) => x.value), "crc");
      await check.rejects(t, /temperature CRC mismatch/);
      r.sht.faults.corrupt = { count: 1, byte: 4 };
      await check.rejects(r.run(r.driver.sample()).then((x) => x.value), /humidity CRC mismatch/);
      const { value, ms } = await r.run(r.driver.sample());
      check.near(value.thermometer.temperature, 23.4, 0.003);
      check.equal(ms, 2 + 16, "soft reset (1.5 ms) before the measurement");
    } },
    { name: "a part that does not answer (absent, unplugged) is a typed nack error, and it reads again when it is back", async run() {
      const r = sht3xRig();
      r.sht.faults.absent = true;
      check.equal((await r.run(kind(r.driver.sample()))).value, "nack");
      r.sht.faults.absent = false;
      r.bus.detach(0x44);
      await check.rejects(r.run(r.driver.sample()).then((x) => x.value), /did not acknowledge the soft reset command: I2C address not acknowledged by 0x44/);
      r.bus.attach(0x44, r.sht);
      r.air.celsius = 5;
      check.near((await r.run(r.driver.sample())).value.thermometer.temperature, 5, 0.003);
    } },
    { name: "raw words stuck at 0xFFFF read as what they encode (130 C, 100 %): judging range is the caller's", async run() {
      const r = sht3xRig();
      r.sht.faults.stuck = [0xffff, 0xffff];
      const { value } = await r.run(r.driver.sample());
      check.deepEqual(value, { thermometer: { temperature: 130 }, hygrometer: { humidity: 100 } });
    } },
    { name: "one sample at a time; close() fails the pending sample and later ones", async run() {
      const r = sht3xRig();
      const first = r.driver.sample();
      check.equal(await kind(r.driver.sample()), "busy");
      r.driver.close();
      check.equal((await r.run(kind(first))).value, "closed");
      check.equal(await kind(r.driver.sample()), "closed");
    } },
  ],
}, {
  name: "I2C bus (emulated)",
  cases: [
    { name: "nobody at an address NACKs; sizes and addresses are bounded", run() {
      const bus = new EmulatedI2C();
      const i2c = new bus.io({ address: 0x45, hz: 100_000 }) as I2C419;
      check.throws(() => i2c.write(new Uint8Array([1, 2])), /I2C address not acknowledged by 0x45/);
      check.throws(() => i2c.read(2), /not acknowledged/);
      check.throws(() => i2c.read(33), /1 to 32/);
      check.throws(() => i2c.write(new Uint8Array(33)), /at most 32/);
      check.throws(() => new bus.io({ address: 0x80 }), /invalid I2C address/);
      check.throws(() => bus.attach(0x03, { write: () => true, read: () => undefined }), /reserved/);
      i2c.close();
      check.throws(() => i2c.read(1), /closed/);
    } },
  ],
}, {
  name: "Deep sleep with retained memory (emulated)",
  cases: [
    { name: "sleep ends the wake and the timer starts the next one; close() cancels it", async run() {
      const clock = new ManualClock();
      const model = new EmulatedDeepSleep({ timer: clock.timer });
      const sleep = new DeepSleep({ sleep: { io: model.io } });
      let wakes = 0;
      sleep.sleep(60_000, () => wakes++);
      await clock.advance(59_999);
      check.equal(wakes, 0);
      await clock.advance(1);
      check.equal(wakes, 1);
      sleep.sleep(60_000, () => wakes++);
      sleep.close();
      await clock.advance(120_000);
      check.equal(wakes, 1);
      check.deepEqual(model.sleeps, [60_000, 60_000]);
      check.throws(() => sleep.sleep(1, () => {}), /closed/);
    } },
    { name: "a retained record survives a restart, reads as none after a power loss or damage, and is bounded", run() {
      const model = new EmulatedDeepSleep();
      const boot = () => new DeepSleep({ sleep: { io: model.io } });
      check.equal(boot().load(0, 2), undefined, "zeros at power-on are no record");
      boot().save(0, [3, 1_712_995_200]);
      check.deepEqual(boot().load(0, 2), [3, 1_712_995_200], "the next program reads it");
      check.equal(boot().load(0, 1), undefined, "read with another length");
      model.retained[2] ^= 1;
      check.equal(boot().load(0, 2), undefined, "a damaged word");
      boot().save(0, [0, 5]);
      model.powerLoss();
      check.equal(boot().load(0, 2), undefined);
      check.throws(() => boot().save(0, [-1]), /32-bit unsigned/);
      check.throws(() => boot().save(30, [1, 2]), /does not fit 32 retained words/);
      check.throws(() => boot().sleep(Number.NaN, () => {}), /cannot sleep/);
    } },
  ],
}];
