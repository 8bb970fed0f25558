/* facectl status and facectl watch: clients of facewatchd's event socket
 * (protocol v1, docs/protocol.md). See daemon/facectl_watch.c. */
#ifndef FW_FACECTL_WATCH_H
#define FW_FACECTL_WATCH_H

/* argv as main() got it: argv[1] is "status". Returns the exit status:
 * 0 answered, 1 no daemon (or it failed to answer), 2 the command line is wrong. */
int fw_cmd_status(int argc, char **argv);

/* argv as main() got it: argv[1] is "watch". Runs until SIGINT/SIGTERM
 * (exit status 0) or until the daemon goes away without --reconnect (1);
 * 2 when the command line or the subscription is wrong. */
int fw_cmd_watch(int argc, char **argv);

#endif
