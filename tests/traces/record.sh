#!/bin/sh
# How the recorded traces here were made (valgrind 3.19, Debian 12, x86_64).
# Each is a real program's allocation log: `valgrind --trace-malloc=yes`.
# Rerunning gives similar, not identical, logs (addresses, pids, inputs).
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# perl: an array of 8,000 strings of 1 to 900 bytes, built by push and
# thinned by splice: small and medium blocks, many reallocs.
valgrind --trace-malloc=yes perl -e 'my @a; for my $i (1..12000) {
  push @a, "x" x (($i * 7919) % 900 + 1); splice(@a, ($i*31) % @a, 1) if $i % 3 == 0 }
  print scalar(@a), "\n"' 2> perl-strings.vglog

# git: the history of this repository, with diffstats.
valgrind --trace-malloc=yes git -C .. log --stat -n 200 > /dev/null 2> git-log.vglog

# gcc's compiler proper, -O2, on a hello world that includes three headers.
cat > "$tmp/hello.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void){ return printf("%d\n", 42) ; }
C
valgrind --trace-malloc=yes "$(gcc -print-prog-name=cc1)" -quiet -imultiarch x86_64-linux-gnu -O2 "$tmp/hello.c" -o /dev/null 2> cc1.vglog

# sort on 3.4 MB of C headers: one large buffer, from mmap.
cat /usr/include/*.h > "$tmp/headers.txt"
valgrind --trace-malloc=yes sort "$tmp/headers.txt" > /dev/null 2> sort.vglog

# cases/calls.vglog: every call shape, with a fork, from cases/calls.c.
gcc -O0 -o "$tmp/calls" cases/calls.c
(cd "$tmp" && valgrind --trace-malloc=yes ./calls 2> calls.vglog)
cp "$tmp/calls.vglog" cases/calls.vglog
