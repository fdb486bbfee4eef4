// Timer-wakeup deep sleep and RTC slow memory on the ESP32 (deepsleep.c): the chip restarts
// from reset when the timer fires; the retained words survive that, not a power loss.
export default function deepSleep(ms) @ "xs_esp32_deep_sleep";
export function retainedWords() @ "xs_esp32_retained_words";
export function getRetained(index) @ "xs_esp32_retained_get";
export function setRetained(index, value) @ "xs_esp32_retained_set";
