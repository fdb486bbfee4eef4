// Timer-wakeup deep sleep; the chip restarts from reset when the timer fires.
export default function deepSleep(ms) @ "xs_esp32_deep_sleep";
