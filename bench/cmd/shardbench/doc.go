// Command shardbench is the in-process benchmark of the processing path
// (see package bench/harness): it prints the table `make bench` shows. It
// owns a private redis-server for the Redis scenarios and stops it on exit.
//
// It never uses the machine's shared Redis: its Redis scenarios talk to the
// private server it started, over a unix socket.
package main
