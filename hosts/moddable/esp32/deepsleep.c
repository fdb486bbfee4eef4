// Deep sleep with timer wakeup for ESP32 (ESP-IDF). The Moddable SDK's ECMA-419 System
// module has no ESP32 deep sleep, so this one function is native.

#include "xsmc.h"
#include "esp_sleep.h"

void xs_esp32_deep_sleep(xsMachine *the)
{
	int32_t ms = xsmcToInteger(xsArg(0));
	if (ms < 0)
		xsRangeError("negative sleep");
	esp_sleep_enable_timer_wakeup((uint64_t)ms * 1000);
	esp_deep_sleep_start();
}
