/* A configuration reload (SIGHUP): which keys changed, which of them the
 * running daemon takes, and that the presence and tracker states take new
 * times without forgetting who is there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/fw.h"
#include "core/presence.h"
#include "core/tracker.h"
#include "daemon/config.h"

static void set(struct fw_config *c, const char *key, const char *v)
{
	const char *why = NULL;

	assert_int_equal(fw_config_set(c, key, v, &why), 0);
}

static void test_nothing_changed(void **state)
{
	struct fw_config a, b;

	(void)state;
	fw_config_defaults(&a);
	fw_config_defaults(&b);
	/* same value, different history: bytes after the NUL differ */
	set(&a, "camera", "/dev/video-long-name");
	set(&a, "camera", "/dev/video0");
	set(&b, "camera", "/dev/video0");
	assert_int_equal(fw_config_compare(&a, &b), 0);
}

static void test_live_keys_apply(void **state)
{
	struct fw_config run, next;

	(void)state;
	fw_config_defaults(&run);
	next = run;
	set(&next, "threshold", "0.62");
	set(&next, "max_fps", "3");
	set(&next, "leave_ms", "2500");
	set(&next, "face_lost_ms", "700");
	set(&next, "status_interval", "2");
	set(&next, "scan_full_ms", "2000");
	set(&next, "scan_still_diff", "12");
	set(&next, "scan_still_fps", "2");
	assert_int_equal(fw_config_compare(&run, &next), FW_CONFIG_LIVE);
	fw_config_apply_live(&run, &next);
	assert_true(run.threshold > 0.619f && run.threshold < 0.621f);
	/* the tracker's votes use it too, or it would decide nothing */
	assert_true(run.tracker.same_threshold > 0.619f && run.tracker.same_threshold < 0.621f);
	assert_int_equal(run.max_fps, 3);
	assert_int_equal(run.presence.leave_ms, 2500);
	assert_int_equal(run.tracker.lost_ms, 700);
	assert_int_equal(run.status_interval_s, 2);
	assert_int_equal(run.scan.full_ms, 2000);
	assert_true(run.scan.still_diff > 11.9f && run.scan.still_diff < 12.1f);
	assert_int_equal(run.scan.still_fps, 2);
	assert_int_equal(fw_config_compare(&run, &next), 0);
}

static void test_restart_keys_stay(void **state)
{
	struct fw_config run, next;

	(void)state;
	fw_config_defaults(&run);
	set(&run, "camera", "/dev/video0");
	next = run;
	set(&next, "camera", "/dev/video2");
	set(&next, "detector", "full");
	set(&next, "socket", "/run/elsewhere.sock");
	set(&next, "leave_ms", "4000");
	assert_int_equal(fw_config_compare(&run, &next), FW_CONFIG_LIVE | FW_CONFIG_RESTART);
	fw_config_apply_live(&run, &next);
	assert_string_equal(run.camera, "/dev/video0");
	assert_int_equal(run.detector, FW_DETECTOR_AUTO);
	assert_int_equal(run.presence.leave_ms, 4000);
	/* a setting the key table does not know still counts as a change */
	next = run;
	next.tracker.iou_min = 0.5f;
	assert_int_equal(fw_config_compare(&run, &next), FW_CONFIG_RESTART);
}

static void test_empty_socket_is_the_default(void **state)
{
	struct fw_config c, d;

	(void)state;
	fw_config_defaults(&d);
	fw_config_defaults(&c);
	set(&c, "socket", "/tmp/x.sock");
	set(&c, "socket", ""); /* `socket =` in the shipped file */
	assert_string_equal(c.socket_path, d.socket_path);
	assert_true(c.socket_path[0] == '/');
}

/* alice is present; the leave grace drops from 10 s to 1 s while she is
 * there: she is away 1 s after she was last seen, not 10 s. */
static void test_presence_takes_new_times(void **state)
{
	struct fw_presence_config pc;
	struct fw_presence *p;
	struct fw_presence_event ev[256];
	struct fw_track t;
	int64_t now = 0, away_at = -1;

	(void)state;
	fw_presence_config_default(&pc);
	assert_int_equal(fw_presence_create(&p, &pc, 4), 0);
	assert_true(fw_presence_max_events(p) <= 256);
	memset(&t, 0, sizeof t);
	t.id = 1;
	t.state = FW_TRACK_ACTIVE;
	t.identity = 0;
	for (; now <= 3000; now += 100) {
		t.last_seen_ms = now;
		fw_presence_update(p, now, &t, 1, ev, 256);
	}
	assert_int_equal(fw_presence_get(p, 0, &ev[0]), 0);
	assert_int_equal(ev[0].state, FW_PRESENCE_PRESENT);
	pc.leave_ms = 1000;
	pc.anyone_leave_ms = 1000;
	assert_int_equal(fw_presence_set_config(p, &pc), 0);
	/* still present: the reload forgot nobody */
	assert_int_equal(fw_presence_get(p, 0, &ev[0]), 0);
	assert_int_equal(ev[0].state, FW_PRESENCE_PRESENT);
	for (; now <= 15000 && away_at < 0; now += 100) {
		int n = fw_presence_tick(p, now, ev, 256);
		for (int i = 0; i < n; i++)
			if (ev[i].identity == 0 && ev[i].state == FW_PRESENCE_AWAY)
				away_at = now;
	}
	assert_true(away_at > 3000 && away_at <= 4100);
	pc.leave_ms = -1;
	assert_int_equal(fw_presence_set_config(p, &pc), FW_EINVAL);
	fw_presence_destroy(p);
}

static void test_tracker_refuses_bad_times(void **state)
{
	struct fw_tracker_config tc;
	struct fw_tracker *t;

	(void)state;
	fw_tracker_config_default(&tc);
	assert_int_equal(fw_tracker_create(&t, &tc), 0);
	tc.lost_ms = 500;
	assert_int_equal(fw_tracker_set_config(t, &tc), 0);
	tc.vote_min = tc.vote_window + 1;
	assert_int_equal(fw_tracker_set_config(t, &tc), FW_EINVAL);
	fw_tracker_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_changed),
		cmocka_unit_test(test_live_keys_apply),
		cmocka_unit_test(test_restart_keys_stay),
		cmocka_unit_test(test_empty_socket_is_the_default),
		cmocka_unit_test(test_presence_takes_new_times),
		cmocka_unit_test(test_tracker_refuses_bad_times),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
