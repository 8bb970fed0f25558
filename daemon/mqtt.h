/* The MQTT sink: facewatchd's presence and identity events on an MQTT broker,
 * with Home Assistant discovery (docs/mqtt.md has every topic and payload).
 *
 *   fw_mqtt_start(&m, &cfg, camera)      at start-up, when mqtt_host is set
 *   fw_mqtt_set_people(m, store)         at start and when the gallery changes
 *   fw_mqtt_event(m, line, len)          every event line the socket clients get
 *   epoll on fw_mqtt_fd(m) -> fw_mqtt_dispatch(m)
 *   fw_mqtt_stop(m)                      availability "offline", disconnect
 *
 * Threads: one network thread of our own (fw-mqtt) resolves the host name,
 * connects, runs the connection (mosquitto_loop: keepalive, acks) and
 * reconnects with backoff; the main thread only queues messages
 * (mosquitto_publish in threaded mode never touches the socket), so a slow,
 * absent or restarting broker never delays the camera or the socket
 * clients. Not the epoll main loop with libmosquitto's fd API: its connect
 * resolves and connects synchronously. Not mosquitto_loop_start: that loop
 * gives up for good when the first connection fails (a broker that starts
 * after the daemon) and sleeps out its reconnect delays uninterruptibly,
 * which would hold up a stop. After every (re)connection the network thread
 * wakes the main thread through fw_mqtt_fd(), and the main thread, which
 * owns the state, publishes availability, discovery and every retained
 * state again: a broker that restarted without persistence is whole again
 * within one main-loop turn.
 *
 * Built only when libmosquitto is found (CMake option FW_WITH_MQTT); without
 * it fw_mqtt_start() says so and returns FW_EUNSUPPORTED. Every other
 * function accepts NULL and does nothing, so the daemon calls them
 * unconditionally.
 */
#ifndef FW_DAEMON_MQTT_H
#define FW_DAEMON_MQTT_H

#include <stddef.h>

#include "daemon/config.h"

struct fw_mqtt;
struct fw_store;

/* Sets up the client (will: availability "offline", retained) and starts
 * connecting in the background: a broker that is not there yet is retried.
 * camera names the daemon's camera for the default node id. 0; FW_EINVAL
 * for settings that cannot work (logged); FW_EUNSUPPORTED without
 * libmosquitto; FW_ENOMEM. */
int fw_mqtt_start(struct fw_mqtt **out, const struct fw_config *c, const char *camera);

/* The node id in use (the default is derived from the host name and the
 * camera), for logging. */
const char *fw_mqtt_node_id(const struct fw_mqtt *m);

/* The enrolled people from the gallery: a discovery config and a retained
 * state for each newcomer, an empty retained config (which removes the
 * entity in Home Assistant) for each one forgotten. Main thread. */
void fw_mqtt_set_people(struct fw_mqtt *m, struct fw_store *store);

/* One event line, as the socket clients received it (with seq and ts).
 * presence updates the person's or "anyone"'s retained state,
 * face_identified with a name the "last seen" sensor; every event goes to
 * <prefix>/<node>/event. Main thread; never blocks. */
void fw_mqtt_event(struct fw_mqtt *m, const char *line, size_t len);

/* Readable after the client (re)connected; -1 for NULL. */
int fw_mqtt_fd(const struct fw_mqtt *m);
/* Call when fw_mqtt_fd() is readable: publishes everything again. */
void fw_mqtt_dispatch(struct fw_mqtt *m);

/* Publishes availability "offline" (retained), waits up to one second for
 * the broker to take it, disconnects and frees. NULL is a no-op. */
void fw_mqtt_stop(struct fw_mqtt *m);

#endif
