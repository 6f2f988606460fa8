/* bench.h: the `sio bench` subcommand (tools/bench/bench.c). */
#ifndef SIO_TOOLS_BENCH_H
#define SIO_TOOLS_BENCH_H

/* argv[0] is "bench". Returns the process exit status. */
int sio_cmd_bench(int argc, char **argv);

#endif
