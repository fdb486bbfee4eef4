/*
 * The libmosquitto publisher of `npm run bench` (benchmarks/throughput.ts compiles it into a
 * temporary directory with `cc -O2 ... -lmosquitto`). It runs the same loop as the Node
 * publishers: W publishes outstanding, each completion (written for QoS 0, PUBACK for QoS 1,
 * PUBCOMP for QoS 2) starts the next; a warm-up pass on its own topic, then the measured pass.
 * QoS 0 ends with one QoS 1 publish whose PUBACK proves the broker has read everything.
 *
 *   libmosquitto-pub <port> <qos> <n> <window> <warmup> <topic> <client id>
 *
 * Prints one JSON line: {"cpuUs": user+system CPU of this process, "ms": wall time, "n": n}.
 */
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static struct mosquitto *mosq;
static int qos, window;
static long started, completed, target;
static const char *topic;
static char payload[64];
static int connected;

static void die(const char *what, int rc) {
	fprintf(stderr, "libmosquitto-pub: %s: %s\n", what, mosquitto_strerror(rc));
	exit(1);
}

static void publish_one(void) {
	started++;
	int rc = mosquitto_publish(mosq, NULL, topic, sizeof payload, payload, qos, false);
	if (rc != MOSQ_ERR_SUCCESS) die("publish", rc);
}

static void on_connect(struct mosquitto *m, void *obj, int rc) {
	(void)m; (void)obj;
	if (rc != 0) die("connect refused", rc);
	connected = 1;
}

static void on_publish(struct mosquitto *m, void *obj, int mid) {
	(void)m; (void)obj; (void)mid;
	completed++;
	if (started < target) publish_one();
}

static void loop_until(long n) {
	while (completed < n) {
		int rc = mosquitto_loop(mosq, 1000, 1);
		if (rc != MOSQ_ERR_SUCCESS) die("loop", rc);
	}
}

/* n messages with at most `window` outstanding. */
static void run(long n) {
	started = completed = 0;
	target = n;
	for (long i = 0; i < n && i < window; i++) publish_one();
	loop_until(n);
}

static double now_ms(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double cpu_us(void) {
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

int main(int argc, char **argv) {
	if (argc != 8) {
		fprintf(stderr, "usage: %s port qos n window warmup topic clientid\n", argv[0]);
		return 2;
	}
	int port = atoi(argv[1]);
	qos = atoi(argv[2]);
	long n = atol(argv[3]);
	window = atoi(argv[4]);
	long warmup = atol(argv[5]);
	memset(payload, 'a', sizeof payload);

	mosquitto_lib_init();
	mosq = mosquitto_new(argv[7], true, NULL);
	if (!mosq) die("new", MOSQ_ERR_NOMEM);
	/* libmosquitto's own limit (default 20) must not be narrower than the window. */
	mosquitto_max_inflight_messages_set(mosq, (unsigned)window);
	mosquitto_connect_callback_set(mosq, on_connect);
	mosquitto_publish_callback_set(mosq, on_publish);
	int rc = mosquitto_connect(mosq, "127.0.0.1", port, 60);
	if (rc != MOSQ_ERR_SUCCESS) die("connect", rc);
	while (!connected) {
		rc = mosquitto_loop(mosq, 1000, 1);
		if (rc != MOSQ_ERR_SUCCESS) die("loop", rc);
	}

	char warm_topic[256];
	snprintf(warm_topic, sizeof warm_topic, "%s/warm", argv[6]);
	topic = warm_topic;
	run(warmup);

	topic = argv[6];
	double c0 = cpu_us(), t0 = now_ms();
	run(n);
	if (qos == 0) {
		qos = 1;
		run(1);
	}
	double ms = now_ms() - t0, cpu = cpu_us() - c0;
	printf("{\"cpuUs\":%.0f,\"ms\":%.3f,\"n\":%ld}\n", cpu, ms, n);
	fflush(stdout);

	mosquitto_disconnect(mosq);
	mosquitto_loop(mosq, 100, 1);
	mosquitto_destroy(mosq);
	mosquitto_lib_cleanup();
	return 0;
}
