/* facectl's gallery commands: enroll, not, identify, list, forget, rename,
 * export, import, doctor. See daemon/facectl_gallery.c. */
#ifndef FW_FACECTL_GALLERY_H
#define FW_FACECTL_GALLERY_H

/* 1 when `cmd` is one of the gallery commands. */
int fw_gallery_command(const char *cmd);

/* argv as main() got it: argv[1] is the command. Returns the exit status:
 * 0 done, 1 an input or the gallery failed, 2 the command line is wrong. */
int fw_cmd_gallery(int argc, char **argv);

#endif
