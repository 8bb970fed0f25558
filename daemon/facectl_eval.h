/* facectl eval: accuracy on annotated data (detection AP, verification,
 * identification). See daemon/facectl_eval.c for the commands. */
#ifndef FW_FACECTL_EVAL_H
#define FW_FACECTL_EVAL_H

/* argv as main() got it: argv[1] is "eval". Returns the exit status:
 * 0 done, 1 a file or the pipeline failed, 2 the command line is wrong. */
int fw_cmd_eval(int argc, char **argv);

#endif
