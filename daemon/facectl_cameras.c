/* facectl cameras: the V4L2 cameras on this machine, one JSON object per
 * line, with the names that stay stable across reboots and replugs
 * (/dev/v4l/by-id, by-path) so the user can put one in the configuration
 * instead of /dev/videoN, which may change (Howdy #63).
 *
 *   facectl cameras [--dev-dir DIR]
 *
 * {"index":0,"path":"/dev/video0","by_id":["usb-..."],"by_path":["pci-..."],
 *  "driver":"uvcvideo","card":"...","bus":"usb-0000:00:14.0-6","ir":false,
 *  "formats":[{"fourcc":"MJPG","description":"Motion-JPEG","compressed":true,
 *              "sizes":[{"width":640,"height":480,"fps":[30,15]}, ...]}, ...]}
 *
 * A node that cannot be opened is listed with "error" (and "holder" when it
 * is busy and the process holding it is found). Exit status: 0 when at
 * least one camera is listed, 1 when none is found, 2 on a bad command line.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "capture/v4l2.h"
#include "core/fw.h"

/* facectl's main calls this for "facectl cameras ..." with its own argc/argv. */
int fw_cmd_cameras(int argc, char **argv);

static json_t *names_json(const char names[][256], int n)
{
	json_t *a = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_string(names[i]));
	return a;
}

/* Frames per second from seconds per frame: an integer when it is one. */
static json_t *fps_json(uint32_t num, uint32_t den)
{
	if (num == 0)
		return json_null();
	if (den % num == 0)
		return json_integer(den / num);
	return json_real((double)den / num);
}

static json_t *size_json(const struct fw_v4l2_size *z)
{
	json_t *o = json_object(), *fps = json_array();

	if (z->stepwise) {
		json_object_set_new(o, "min_width", json_integer(z->width));
		json_object_set_new(o, "max_width", json_integer(z->max_width));
		json_object_set_new(o, "step_width", json_integer(z->step_width));
		json_object_set_new(o, "min_height", json_integer(z->height));
		json_object_set_new(o, "max_height", json_integer(z->max_height));
		json_object_set_new(o, "step_height", json_integer(z->step_height));
	} else {
		json_object_set_new(o, "width", json_integer(z->width));
		json_object_set_new(o, "height", json_integer(z->height));
	}
	if (z->rate_stepwise) {
		/* interval[0] is the shortest interval: the highest rate */
		json_object_set_new(o, "max_fps", fps_json(z->interval[0].num, z->interval[0].den));
		json_object_set_new(o, "min_fps", fps_json(z->interval[1].num, z->interval[1].den));
		json_decref(fps);
	} else {
		for (int k = 0; k < z->nrates; k++)
			json_array_append_new(fps, fps_json(z->interval[k].num, z->interval[k].den));
		json_object_set_new(o, "fps", fps);
	}
	return o;
}

static json_t *device_json(const struct fw_v4l2_device *d)
{
	json_t *o = json_object();

	if (d->index >= 0)
		json_object_set_new(o, "index", json_integer(d->index));
	json_object_set_new(o, "path", json_string(d->path));
	json_object_set_new(o, "by_id", names_json(d->by_id, d->nby_id));
	json_object_set_new(o, "by_path", names_json(d->by_path, d->nby_path));
	if (d->error) {
		json_object_set_new(o, "error", json_string(fw_strerror(d->error)));
		if (d->holder[0])
			json_object_set_new(o, "holder", json_string(d->holder));
		return o;
	}
	json_object_set_new(o, "driver", json_string(d->driver));
	json_object_set_new(o, "card", json_string(d->card));
	json_object_set_new(o, "bus", json_string(d->bus));
	json_object_set_new(o, "ir", json_boolean(d->ir));
	{
		json_t *fmts = json_array();

		for (int i = 0; i < d->nformats; i++) {
			const struct fw_v4l2_format *f = &d->formats[i];
			json_t *fo = json_object(), *sizes = json_array();
			char fcc[5];

			json_object_set_new(fo, "fourcc", json_string(fw_v4l2_fourcc_str(f->fourcc, fcc)));
			json_object_set_new(fo, "description", json_string(f->description));
			json_object_set_new(fo, "compressed", json_boolean(f->compressed));
			for (int k = 0; k < f->nsizes; k++)
				json_array_append_new(sizes, size_json(&f->sizes[k]));
			json_object_set_new(fo, "sizes", sizes);
			json_array_append_new(fmts, fo);
		}
		json_object_set_new(o, "formats", fmts);
	}
	return o;
}

static void usage(FILE *f)
{
	fputs("usage: facectl cameras [--dev-dir DIR]\n"
	      "  one JSON object per V4L2 capture device: path, stable by-id/by-path names,\n"
	      "  driver, card, bus, formats with sizes and frame rates, and whether it is an\n"
	      "  infrared camera. --dev-dir: where the device nodes are (default /dev).\n",
	      f);
}

int fw_cmd_cameras(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dev-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dev_dir = NULL;
	struct fw_v4l2_device *devs;
	int n = 0, c, err;

	/* called from facectl's main with its argv: "facectl" "cameras" OPTIONS */
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dev_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "facectl cameras: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	err = fw_v4l2_list(dev_dir, &devs, &n);
	if (err) {
		fprintf(stderr, "facectl cameras: %s\n", fw_strerror(err));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		json_t *j = device_json(&devs[i]);
		char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));

		if (s)
			puts(s);
		free(s);
		json_decref(j);
	}
	fflush(stdout);
	free(devs);
	if (n == 0) {
		fprintf(stderr, "facectl cameras: no video capture device in %s\n",
			dev_dir ? dev_dir : "/dev");
		return 1;
	}
	return 0;
}
