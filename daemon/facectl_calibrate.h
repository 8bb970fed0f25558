/* facectl calibrate: int8 calibration of the four models on the user's
 * photos. See daemon/facectl_calibrate.c. */
#ifndef FW_FACECTL_CALIBRATE_H
#define FW_FACECTL_CALIBRATE_H

/* argv as main() got it: argv[1] is "calibrate". Returns the exit status:
 * 0 done, 1 a photo, a model or a file failed, 2 the command line is wrong. */
int fw_cmd_calibrate(int argc, char **argv);

#endif
