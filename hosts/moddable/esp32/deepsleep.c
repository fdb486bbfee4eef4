// Deep sleep with timer wakeup, and words of RTC slow memory kept across it, for the ESP32
// (ESP-IDF). The Moddable SDK's ECMA-419 System module has no ESP32 deep sleep and no
// retained memory, so these are native. RTC_DATA_ATTR data is loaded with its initial value
// (zeros) at power-on and kept while the chip deep-sleeps.

#include "xsmc.h"
#include "esp_attr.h"
#include "esp_sleep.h"

#define kRetainedWords 32

static RTC_DATA_ATTR uint32_t gRetained[kRetainedWords];

void xs_esp32_deep_sleep(xsMachine *the)
{
	int32_t ms = xsmcToInteger(xsArg(0));
	if (ms < 0)
		xsRangeError("negative sleep");
	esp_sleep_enable_timer_wakeup((uint64_t)ms * 1000);
	esp_deep_sleep_start();
}

static int retainedIndex(xsMachine *the)
{
	int32_t index = xsmcToInteger(xsArg(0));
	if ((index < 0) || (index >= kRetainedWords))
		xsRangeError("retained word %d out of 0..%d", (int)index, kRetainedWords - 1);
	return index;
}

void xs_esp32_retained_words(xsMachine *the)
{
	xsmcSetInteger(xsResult, kRetainedWords);
}

void xs_esp32_retained_get(xsMachine *the)
{
	xsmcSetNumber(xsResult, (double)gRetained[retainedIndex(the)]);
}

void xs_esp32_retained_set(xsMachine *the)
{
	int index = retainedIndex(the);
	double value = xsmcToNumber(xsArg(1));
	if (!((value >= 0) && (value <= 4294967295.0)) || (value != (double)(uint32_t)value))
		xsRangeError("retained words are 32-bit unsigned integers");
	gRetained[index] = (uint32_t)value;
}
