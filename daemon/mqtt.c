#include "daemon/mqtt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fw.h"

#ifdef FW_HAVE_MOSQUITTO

#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>

#include <jansson.h>
#include <mosquitto.h>

#include "core/gallery.h"
#include "daemon/store.h"

#define SLUG_MAX 80
#define TOPIC_MAX 512
#define QOS_STATE 1     /* retained states and discovery: the broker confirms */
#define QOS_EVENT 0     /* the event stream: a lost one is not worth a retry */
#define STOP_WAIT_MS 1000

struct person {
	char name[FW_GALLERY_NAME_MAX + 1];
	char slug[SLUG_MAX];
	int enrolled;   /* in the gallery: has a discovery config */
	int present;
};

struct fw_mqtt {
	struct mosquitto *mosq;
	char node[64];
	char base[256];              /* <topic prefix>/<node> */
	char disc[128];              /* discovery prefix, "" = none */
	char avail[TOPIC_MAX];       /* <base>/availability */
	char host[256];
	int port;
	int efd;                     /* eventfd: the network thread (re)connected */
	atomic_int connected;

	/* main thread only */
	struct person *people;
	int n_people, cap_people;
	int anyone;
	char *last_seen;             /* the retained "last seen" payload, NULL until one */

	/* shared with the network thread's callbacks */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int offline_mid;             /* the stop's "offline" message */
	int offline_done;
	atomic_int was_connected;    /* on_connect accepted: the backoff starts over */
	int refused_said;            /* the last refusal's code, so it is said once */
	int lost_said;
	int keepalive_s, backoff_max_s;
	atomic_int stop;
	pthread_t thread;
	int thread_started;
	atomic_int thread_done;
};

/* ---- names ---------------------------------------------------------------- */

/* [A-Za-z0-9_-] only, others become '_'; at most cap-1 bytes. */
static void sanitize(char *dst, size_t cap, const char *src)
{
	size_t i;

	for (i = 0; src[i] && i + 1 < cap; i++)
		dst[i] = isalnum((unsigned char)src[i]) || src[i] == '-' || src[i] == '_' ? src[i] : '_';
	dst[i] = 0;
}

/* A topic level and entity id for a person: the name itself when it is
 * made of [a-z0-9_-], else its sanitized lower-case form followed by the
 * name's CRC-32, so "Zoë" and "Zoé" never share a topic. */
static void person_slug(char *dst, size_t cap, const char *name)
{
	char s[SLUG_MAX - 10];
	size_t i;
	int plain = 1;

	sanitize(s, sizeof s, name);
	for (i = 0; s[i]; i++) {
		s[i] = (char)tolower((unsigned char)s[i]);
		if (s[i] != name[i])
			plain = 0;
	}
	if (plain && !name[i])
		snprintf(dst, cap, "%s", s);
	else
		snprintf(dst, cap, "%s_%08x", s, fw_crc32(0, name, strlen(name)));
}

/* Default node id: the host name, and the camera's last path part when one
 * is named, so two daemons on one host (two cameras) differ. */
static void default_node(char *dst, size_t cap, const char *camera)
{
	char host[128] = "facewatch", cam[64] = "";
	const char *c = camera ? camera : "";
	const char *slash;

	if (gethostname(host, sizeof host - 1) != 0 || !host[0])
		snprintf(host, sizeof host, "facewatch");
	host[sizeof host - 1] = 0;
	if (!strncmp(c, "replay:", 7))
		c += 7;
	slash = strrchr(c, '/');
	if (slash)
		c = slash + 1;
	sanitize(cam, sizeof cam, c);
	sanitize(dst, cap, host);
	if (cam[0] && strlen(dst) + 1 + strlen(cam) < cap) {
		strcat(dst, "_");
		strcat(dst, cam);
	}
}

/* ---- publishing (main thread) --------------------------------------------- */

/* Queue one message; nothing while there is no connection (everything is
 * published again on the next one). Never blocks: in threaded mode
 * libmosquitto only queues and wakes its network thread. */
static void pub(struct fw_mqtt *m, const char *topic, const char *payload, int qos, int retain)
{
	int rc;

	if (!atomic_load(&m->connected))
		return;
	rc = mosquitto_publish(m->mosq, NULL, topic, (int)strlen(payload), payload, qos, retain);
	if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN)
		fw_log(FW_LOG_WARN, "mqtt: cannot publish to %s: %s", topic, mosquitto_strerror(rc));
}

static void pub_json(struct fw_mqtt *m, const char *topic, json_t *j, int retain)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	if (s)
		pub(m, topic, s, QOS_STATE, retain);
	free(s);
	json_decref(j);
}

static json_t *device_json(const struct fw_mqtt *m)
{
	char id[96], name[96];

	snprintf(id, sizeof id, "facewatch_%s", m->node);
	snprintf(name, sizeof name, "facewatch %s", m->node);
	return json_pack("{s[s] ss ss ss}", "identifiers", id, "name", name, "manufacturer",
			 "facewatch", "model", "facewatchd");
}

/* A discovery config: what every entity has in common, plus the extras. */
static void discover(struct fw_mqtt *m, const char *component, const char *object,
		     const char *name, json_t *extra)
{
	char topic[TOPIC_MAX + 128], uid[192];
	json_t *j;

	if (!m->disc[0]) {
		json_decref(extra);
		return;
	}
	snprintf(topic, sizeof topic, "%s/%s/%s/%s/config", m->disc, component, m->node, object);
	snprintf(uid, sizeof uid, "facewatch_%s_%s", m->node, object);
	j = json_pack("{ss ss ss ss ss ss so}", "name", name, "unique_id", uid, "object_id", uid,
		      "availability_topic", m->avail, "payload_available", "online",
		      "payload_not_available", "offline", "device", device_json(m));
	if (j && extra)
		json_object_update(j, extra);
	json_decref(extra);
	pub_json(m, topic, j, 1);
}

static void person_state_topic(const struct fw_mqtt *m, const struct person *p, char *buf,
			       size_t cap)
{
	snprintf(buf, cap, "%s/person/%s/state", m->base, p->slug);
}

static void discover_person(struct fw_mqtt *m, const struct person *p)
{
	char state[TOPIC_MAX + 128], object[SLUG_MAX + 8], name[FW_GALLERY_NAME_MAX + 16];

	person_state_topic(m, p, state, sizeof state);
	snprintf(object, sizeof object, "person_%s", p->slug);
	snprintf(name, sizeof name, "%s at desk", p->name);
	discover(m, "binary_sensor", object, name,
		 json_pack("{ss ss ss ss ss}", "state_topic", state, "payload_on", "ON",
			   "payload_off", "OFF", "device_class", "occupancy", "icon", "mdi:account"));
}

static void undiscover_person(struct fw_mqtt *m, const struct person *p)
{
	char topic[TOPIC_MAX + 160];

	/* an empty retained config removes the entity; an empty retained
	 * message clears the state topic */
	if (m->disc[0]) {
		snprintf(topic, sizeof topic, "%s/binary_sensor/%s/person_%s/config", m->disc,
			 m->node, p->slug);
		pub(m, topic, "", QOS_STATE, 1);
	}
	person_state_topic(m, p, topic, sizeof topic);
	pub(m, topic, "", QOS_STATE, 1);
}

static void publish_person(struct fw_mqtt *m, const struct person *p)
{
	char topic[TOPIC_MAX + 128];

	person_state_topic(m, p, topic, sizeof topic);
	pub(m, topic, p->present ? "ON" : "OFF", QOS_STATE, 1);
}

static void publish_anyone(struct fw_mqtt *m)
{
	char topic[TOPIC_MAX + 32];

	snprintf(topic, sizeof topic, "%s/anyone/state", m->base);
	pub(m, topic, m->anyone ? "ON" : "OFF", QOS_STATE, 1);
}

static void publish_last_seen(struct fw_mqtt *m)
{
	char topic[TOPIC_MAX + 32];

	snprintf(topic, sizeof topic, "%s/last_seen", m->base);
	if (m->last_seen)
		pub(m, topic, m->last_seen, QOS_STATE, 1);
}

/* After a (re)connection: the broker may have restarted without its
 * retained messages, so everything goes out again. */
static void publish_all(struct fw_mqtt *m)
{
	char topic[TOPIC_MAX + 32];

	pub(m, m->avail, "online", QOS_STATE, 1);
	snprintf(topic, sizeof topic, "%s/anyone/state", m->base);
	discover(m, "binary_sensor", "anyone", "Anyone at desk",
		 json_pack("{ss ss ss ss}", "state_topic", topic, "payload_on", "ON", "payload_off",
			   "OFF", "device_class", "occupancy"));
	snprintf(topic, sizeof topic, "%s/last_seen", m->base);
	discover(m, "sensor", "last_seen", "Last seen",
		 json_pack("{ss ss ss ss}", "state_topic", topic, "value_template",
			   "{{ value_json.identity }}", "json_attributes_topic", topic, "icon",
			   "mdi:account-eye"));
	for (int i = 0; i < m->n_people; i++)
		if (m->people[i].enrolled)
			discover_person(m, &m->people[i]);
	publish_anyone(m);
	for (int i = 0; i < m->n_people; i++)
		publish_person(m, &m->people[i]);
	publish_last_seen(m);
}

static struct person *find_person(struct fw_mqtt *m, const char *name, int add)
{
	for (int i = 0; i < m->n_people; i++)
		if (!strcmp(m->people[i].name, name))
			return &m->people[i];
	if (!add)
		return NULL;
	if (m->n_people == m->cap_people) {
		int cap = m->cap_people ? m->cap_people * 2 : 16;
		struct person *p = realloc(m->people, sizeof *p * (size_t)cap);
		if (!p)
			return NULL;
		m->people = p;
		m->cap_people = cap;
	}
	struct person *p = &m->people[m->n_people++];
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name);
	person_slug(p->slug, sizeof p->slug, name);
	return p;
}

void fw_mqtt_set_people(struct fw_mqtt *m, struct fw_store *store)
{
	struct fw_store_identity *list = NULL;
	int n = 0;

	if (!m || !store || fw_store_list(store, NULL, &list, &n))
		return;
	/* forgotten: out of discovery (still tracked if present) */
	for (int i = 0; i < m->n_people; i++) {
		int found = 0;
		for (int k = 0; k < n && !found; k++)
			found = !strcmp(list[k].name, m->people[i].name);
		if (m->people[i].enrolled && !found) {
			m->people[i].enrolled = 0;
			undiscover_person(m, &m->people[i]);
		}
	}
	for (int k = 0; k < n; k++) {
		struct person *p = find_person(m, list[k].name, 1);
		if (p && !p->enrolled) {
			p->enrolled = 1;
			discover_person(m, p);
			publish_person(m, p);
		}
	}
	fw_store_list_free(list);
}

void fw_mqtt_event(struct fw_mqtt *m, const char *line, size_t len)
{
	char topic[TOPIC_MAX + 16];
	const char *ev, *who, *state;
	json_t *j;

	if (!m)
		return;
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	j = json_loadb(line, len, 0, NULL);
	ev = json_string_value(json_object_get(j, "event"));
	if (!ev) {
		json_decref(j);
		return;
	}
	who = json_string_value(json_object_get(j, "identity"));
	state = json_string_value(json_object_get(j, "state"));
	if (!strcmp(ev, "presence") && who && state) {
		int present = !strcmp(state, "present");
		if (!strcmp(who, "anyone")) {
			m->anyone = present;
			publish_anyone(m);
		} else {
			struct person *p = find_person(m, who, 1);
			if (p) {
				p->present = present;
				publish_person(m, p);
			}
		}
	} else if (!strcmp(ev, "face_identified") && who) {
		json_t *ls = json_pack("{ss sO sO}", "identity", who, "ts", json_object_get(j, "ts"),
				       "similarity", json_object_get(j, "similarity"));
		char *s = ls ? json_dumps(ls, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
		json_decref(ls);
		if (s) {
			free(m->last_seen);
			m->last_seen = s;
			publish_last_seen(m);
		}
	}
	/* the event stream, as the socket clients get it (not retained) */
	if (atomic_load(&m->connected)) {
		snprintf(topic, sizeof topic, "%s/event", m->base);
		mosquitto_publish(m->mosq, NULL, topic, (int)len, line, QOS_EVENT, false);
	}
	json_decref(j);
}

int fw_mqtt_fd(const struct fw_mqtt *m)
{
	return m ? m->efd : -1;
}

void fw_mqtt_dispatch(struct fw_mqtt *m)
{
	uint64_t n;

	if (!m)
		return;
	if (read(m->efd, &n, sizeof n) == (ssize_t)sizeof n && atomic_load(&m->connected))
		publish_all(m);
}

const char *fw_mqtt_node_id(const struct fw_mqtt *m)
{
	return m ? m->node : "";
}

/* ---- the network thread's callbacks ---------------------------------------- */

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	struct fw_mqtt *m = obj;
	uint64_t one = 1;

	(void)mosq;
	if (rc) {
		/* refused (bad credentials, client id taken...): the network
		 * thread tries again with backoff; said once per kind of refusal */
		pthread_mutex_lock(&m->lock);
		if (m->refused_said != rc)
			fw_log(FW_LOG_ERROR, "mqtt: %s:%d refused the connection: %s", m->host, m->port,
			       mosquitto_connack_string(rc));
		m->refused_said = rc;
		pthread_mutex_unlock(&m->lock);
		return;
	}
	pthread_mutex_lock(&m->lock);
	m->refused_said = 0;
	m->lost_said = 0;
	pthread_mutex_unlock(&m->lock);
	fw_log(FW_LOG_INFO, "mqtt: connected to %s:%d as node %s", m->host, m->port, m->node);
	atomic_store(&m->connected, 1);
	atomic_store(&m->was_connected, 1);
	if (write(m->efd, &one, sizeof one) < 0) {
		/* the counter cannot overflow in practice; nothing to do */
	}
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
	struct fw_mqtt *m = obj;
	int was;

	(void)mosq;
	was = atomic_exchange(&m->connected, 0);
	pthread_mutex_lock(&m->lock);
	if (rc && was && !m->lost_said)
		fw_log(FW_LOG_WARN, "mqtt: lost the broker %s:%d (%s); reconnecting with backoff",
		       m->host, m->port, mosquitto_strerror(rc));
	m->lost_said = rc != 0;
	pthread_mutex_unlock(&m->lock);
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
	struct fw_mqtt *m = obj;

	(void)mosq;
	pthread_mutex_lock(&m->lock);
	if (mid == m->offline_mid) {
		m->offline_done = 1;
		pthread_cond_broadcast(&m->cond);
	}
	pthread_mutex_unlock(&m->lock);
}

/* ---- the network thread ------------------------------------------------------ */

/* Sleeps s seconds or until the stop: 1 when stopping. */
static int pause_or_stop(struct fw_mqtt *m, int s)
{
	struct timespec until = fw_deadline(CLOCK_REALTIME, s * 1000);

	pthread_mutex_lock(&m->lock);
	while (!atomic_load(&m->stop) &&
	       pthread_cond_timedwait(&m->cond, &m->lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&m->lock);
	return atomic_load(&m->stop);
}

/* Connect (resolving the name here, never in the main thread), run the
 * connection until it breaks, wait (1 s doubling up to mqtt_reconnect_max,
 * back to 1 s after a connection), connect again; until the stop. Not
 * libmosquitto's loop_start thread: its loop gives up for good when the
 * very first connection fails (a broker that starts after the daemon) and
 * sleeps out its reconnect delays uninterruptibly. */
static void *net_main(void *arg)
{
	struct fw_mqtt *m = arg;
	int delay = 1, said = 0, rc;

	pthread_setname_np(pthread_self(), "fw-mqtt");
	rc = mosquitto_connect(m->mosq, m->host, m->port, m->keepalive_s);
	for (;;) {
		if (rc == MOSQ_ERR_SUCCESS) {
			/* until the connection ends (the stop's DISCONNECT included);
			 * the timeout bounds the time to notice a dead keepalive */
			while ((rc = mosquitto_loop(m->mosq, 1000, 1)) == MOSQ_ERR_SUCCESS)
				;
			if (atomic_exchange(&m->was_connected, 0))
				delay = 1, said = 0;
		}
		if (atomic_load(&m->stop))
			break;
		/* a lost connection and a refusal were said by the callbacks */
		if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN && rc != MOSQ_ERR_CONN_LOST &&
		    rc != MOSQ_ERR_CONN_REFUSED && !said) {
			fw_log(FW_LOG_WARN, "mqtt: %s:%d: %s; retrying (backoff up to %d s)", m->host,
			       m->port, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc),
			       m->backoff_max_s);
			said = 1;
		}
		if (pause_or_stop(m, delay))
			break;
		delay = delay * 2 > m->backoff_max_s ? m->backoff_max_s : delay * 2;
		rc = mosquitto_reconnect(m->mosq);
	}
	atomic_store(&m->thread_done, 1);
	pthread_mutex_lock(&m->lock);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* ---- start and stop --------------------------------------------------------- */

static int read_password(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f) {
		fw_log(FW_LOG_ERROR, "mqtt_password_file %s: cannot read it: %s", path, strerror(errno));
		return FW_EINVAL;
	}
	if (!fgets(buf, (int)cap, f))
		buf[0] = 0;
	fclose(f);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = 0;
	return 0;
}

static int setup_error(const struct fw_mqtt *m, int rc)
{
	fw_log(FW_LOG_ERROR, "mqtt: cannot set up the client for %s:%d: %s", m->host, m->port,
	       rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
	return FW_EINVAL;
}

int fw_mqtt_start(struct fw_mqtt **out, const struct fw_config *c, const char *camera)
{
	struct fw_mqtt *m;
	char client_id[160], password[512];
	int rc, err;

	*out = NULL;
	m = calloc(1, sizeof *m);
	if (!m)
		return FW_ENOMEM;
	mosquitto_lib_init();
	m->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	m->offline_mid = -1;
	if (m->efd < 0) {
		err = -errno;
		goto fail;
	}
	if (c->mqtt_node_id[0])
		snprintf(m->node, sizeof m->node, "%s", c->mqtt_node_id);
	else
		default_node(m->node, sizeof m->node, camera);
	snprintf(m->base, sizeof m->base, "%s/%s", c->mqtt_topic_prefix, m->node);
	snprintf(m->avail, sizeof m->avail, "%s/availability", m->base);
	snprintf(m->disc, sizeof m->disc, "%s", c->mqtt_discovery_prefix);
	snprintf(m->host, sizeof m->host, "%s", c->mqtt_host);
	m->port = c->mqtt_port;
	if (c->mqtt_client_id[0])
		snprintf(client_id, sizeof client_id, "%s", c->mqtt_client_id);
	else
		snprintf(client_id, sizeof client_id, "facewatch-%s", m->node);

	m->mosq = mosquitto_new(client_id, true, m);
	if (!m->mosq) {
		err = errno == ENOMEM ? FW_ENOMEM : FW_EINVAL;
		fw_log(FW_LOG_ERROR, "mqtt: cannot create the client '%s'", client_id);
		goto fail;
	}
	if (c->mqtt_username[0]) {
		password[0] = 0;
		if (c->mqtt_password_file[0] &&
		    (err = read_password(c->mqtt_password_file, password, sizeof password)))
			goto fail;
		rc = mosquitto_username_pw_set(m->mosq, c->mqtt_username,
					       c->mqtt_password_file[0] ? password : NULL);
		memset(password, 0, sizeof password);
		if (rc) {
			err = setup_error(m, rc);
			goto fail;
		}
	}
	/* the broker says "offline" for us if we vanish (crash, kill -9,
	 * network gone for longer than the keepalive) */
	rc = mosquitto_will_set(m->mosq, m->avail, 7, "offline", QOS_STATE, true);
	if (rc) {
		err = setup_error(m, rc);
		goto fail;
	}
	mosquitto_connect_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
	mosquitto_publish_callback_set(m->mosq, on_publish);
	/* the main thread publishes while the network thread runs the
	 * connection: libmosquitto then only queues and wakes the loop */
	mosquitto_threaded_set(m->mosq, true);
	m->keepalive_s = c->mqtt_keepalive_s;
	m->backoff_max_s = c->mqtt_reconnect_max_s;
	if ((err = -pthread_create(&m->thread, NULL, net_main, m)))
		goto fail;
	m->thread_started = 1;
	fw_log(FW_LOG_INFO, "mqtt: publishing to %s:%d under %s/ (discovery: %s)", m->host, m->port,
	       m->base, m->disc[0] ? m->disc : "off");
	*out = m;
	return 0;
fail:
	fw_mqtt_stop(m);
	return err;
}

void fw_mqtt_stop(struct fw_mqtt *m)
{
	if (!m)
		return;
	if (m->thread_started) {
		struct timespec until = fw_deadline(CLOCK_REALTIME, STOP_WAIT_MS);
		int mid = 0;

		/* the lock is held across the publish so that its on_publish
		 * (network thread) cannot run before offline_mid is set */
		pthread_mutex_lock(&m->lock);
		if (atomic_load(&m->connected) &&
		    mosquitto_publish(m->mosq, &mid, m->avail, 7, "offline", QOS_STATE, true) ==
			    MOSQ_ERR_SUCCESS) {
			m->offline_mid = mid;
			while (!m->offline_done &&
			       pthread_cond_timedwait(&m->cond, &m->lock, &until) != ETIMEDOUT)
				;
		}
		atomic_store(&m->stop, 1);
		pthread_cond_broadcast(&m->cond);
		pthread_mutex_unlock(&m->lock);
		/* connected: the thread sends DISCONNECT, the loop ends, the
		 * thread sees the stop; waiting between attempts: it wakes now */
		mosquitto_disconnect(m->mosq);
		pthread_mutex_lock(&m->lock);
		until = fw_deadline(CLOCK_REALTIME, 2 * STOP_WAIT_MS);
		while (!atomic_load(&m->thread_done) &&
		       pthread_cond_timedwait(&m->cond, &m->lock, &until) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&m->lock);
		/* still in a connect to a host that does not answer (DNS, TCP
		 * SYN): those are cancellation points */
		if (!atomic_load(&m->thread_done))
			pthread_cancel(m->thread);
		pthread_join(m->thread, NULL);
	}
	if (m->mosq)
		mosquitto_destroy(m->mosq);
	if (m->efd >= 0)
		close(m->efd);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cond);
	free(m->people);
	free(m->last_seen);
	free(m);
	mosquitto_lib_cleanup();
}

#else /* no libmosquitto */

struct fw_mqtt {
	int unused;
};

int fw_mqtt_start(struct fw_mqtt **out, const struct fw_config *c, const char *camera)
{
	(void)camera;
	*out = NULL;
	fw_log(FW_LOG_ERROR, "mqtt_host is %s, but this facewatchd was built without MQTT "
	       "(install libmosquitto-dev and rebuild with -DFW_WITH_MQTT=ON)", c->mqtt_host);
	return FW_EUNSUPPORTED;
}

const char *fw_mqtt_node_id(const struct fw_mqtt *m)
{
	(void)m;
	return "";
}

void fw_mqtt_set_people(struct fw_mqtt *m, struct fw_store *store)
{
	(void)m, (void)store;
}

void fw_mqtt_event(struct fw_mqtt *m, const char *line, size_t len)
{
	(void)m, (void)line, (void)len;
}

int fw_mqtt_fd(const struct fw_mqtt *m)
{
	(void)m;
	return -1;
}

void fw_mqtt_dispatch(struct fw_mqtt *m)
{
	(void)m;
}

void fw_mqtt_stop(struct fw_mqtt *m)
{
	(void)m;
}

#endif
